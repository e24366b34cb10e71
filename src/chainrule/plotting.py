"""Figures with matplotlib (optional dependency, imported only when a plot is asked for).

The object-oriented API is used throughout and no backend is chosen here, so the functions
work headless (matplotlib falls back to Agg without a display) and inside notebooks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_history", "plot_tutorial"]


def _figure(n_axes: int):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'chainrule[plot]'") from None
    figure = Figure(figsize=(6 * n_axes, 4), layout="constrained")
    return figure, figure.subplots(1, n_axes, squeeze=False)[0]


_LOSS_NAMES = {"squared_error": "squared error", "mse": "mean squared error",
               "binary_cross_entropy": "binary cross-entropy",
               "categorical_cross_entropy": "categorical cross-entropy"}


def _log_if_wide(ax: Any, *series: Any) -> None:
    """A log axis when the values span more than two decades (and are all positive)."""
    values = np.concatenate([np.ravel(s) for s in series] + [np.empty(0)])  # none: a run
    # interrupted in its first epoch has no epoch to draw
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() > 100:
        ax.set_yscale("log")


def plot_history(history: Any, path: str | None = None, ax: Any = None, loss: str | None = None):
    """The training curves of a run: the loss of every epoch, training and validation (named
    after the loss, on a log axis when it spans decades); beside it the accuracy, when
    recorded, or, for one sample and one output, the prediction against the epoch. The title
    carries the run's settings (``history.params``).

    Draws the loss on ``ax`` when given, otherwise on a new figure, saved to ``path`` if given
    (written atomically). Returns the figure (or the axes given).
    """
    predicted = [np.ravel(p) for p in history.predicted]
    single = bool(predicted) and all(p.size == 1 for p in predicted)
    accuracy = "accuracy" in history or "val_accuracy" in history
    second = single or accuracy
    if ax is None:
        figure, axes = _figure(2 if second else 1)
    else:
        figure, axes = None, [ax]
    epochs = np.arange(1, history.epochs + 1)
    params = history.params
    name = _LOSS_NAMES.get(loss or params.get("loss", ""), "loss")
    loss_ax = axes[0]
    loss_ax.plot(epochs, history["loss"], label=f"training {name}")
    curves = [history["loss"]]
    if "val_loss" in history:
        loss_ax.plot(epochs, history["val_loss"], label=f"validation {name}")
        curves.append(history["val_loss"])
    _log_if_wide(loss_ax, *curves)
    loss_ax.set_xlabel("epoch (iteration for full-batch gradient descent)")
    loss_ax.set_ylabel(name)
    loss_ax.set_title(f"{name[0].upper()}{name[1:]} against epoch")
    loss_ax.legend()
    if figure is not None and second:
        other = axes[1]
        if accuracy:
            for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
                if key in history:
                    other.plot(epochs, history[key], label=f"{label} accuracy")
            other.set_ylabel("accuracy (share classified right)")
            other.set_title("Accuracy against epoch")
            other.legend()
        else:
            other.plot(epochs[: len(predicted)], [p[0] for p in predicted], color="tab:green")
            other.set_ylabel("predicted output")
            other.set_title("Prediction against epoch")
        other.set_xlabel("epoch")
    if figure is None:
        return ax
    settings = ", ".join(f"{key} {params[key]}" for key in
                         ("optimizer", "learning_rate", "batch_size", "schedule", "l2")
                         if key in params and params[key] not in (None, 0.0, "constant"))
    figure.suptitle(f"{history.epochs} epochs, {settings}; stopped: "
                    f"{history.stopped_reason[:70]}", fontsize="medium")
    if path is not None:
        save_figure(figure, path)
    return figure


def plot_tutorial(runs: dict[str, Any], target: float, path: str | None = None,
                  settings: dict[str, Any] | None = None):
    """The tutorial's two figures for one or more runs: predicted and error against iteration,
    with the tolerance band around the target and the iteration that first enters it; the
    title carries the run's settings (``settings``: inputs, target, learning rate, initial
    weights, tolerance, as ``chainrule tutorial`` reports them)."""
    figure, (predicted_ax, error_ax) = _figure(2)
    tolerance = (settings or {}).get("tolerance")
    for label, run in runs.items():
        iterations = np.arange(1, len(run.predicted) + 1)
        line, = predicted_ax.plot(iterations, run.predicted, label=label)
        error_ax.plot(iterations, run.error, label=label, color=line.get_color())
        if tolerance is not None:
            first = run.first_within(target, tolerance)
            if first is not None:
                predicted_ax.axvline(first, color=line.get_color(), linestyle=":",
                                     label=f"{label}: within tolerance at {first}")
    predicted_ax.axhline(target, color="gray", linestyle="--", label="target")
    if tolerance is not None:
        predicted_ax.axhspan(target - tolerance, target + tolerance, color="gray", alpha=0.2,
                             label=f"target ± {tolerance:g}")
        error_ax.axhline(tolerance ** 2, color="gray", linestyle=":",
                         label=f"squared error {tolerance ** 2:g}")
    predicted_ax.set_xlabel("iteration")
    predicted_ax.set_ylabel("predicted output")
    predicted_ax.set_title("Prediction against iteration")
    predicted_ax.legend(fontsize="small")
    error_ax.set_xlabel("iteration")
    error_ax.set_ylabel("squared error (predicted - target)²")
    error_ax.set_title("Error against iteration")
    error_ax.set_yscale("log")
    error_ax.legend(fontsize="small")
    if settings:
        weights = ", ".join(f"{w:.4g}" for w in settings.get("initial_weights", []))
        figure.suptitle(
            f"x = {settings.get('inputs')}, target {target:g}, {settings.get('activation', '')} "
            f"neuron, learning rate {settings.get('learning_rate'):g}, initial weights "
            f"[{weights}]", fontsize="medium")
    if path is not None:
        save_figure(figure, path)
    return figure


def save_figure(figure: Any, path: str) -> None:
    """Save as PNG through a temporary file in the same folder, then rename (atomic)."""
    from ._files import atomic_write

    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
