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


def plot_history(history: Any, path: str | None = None, ax: Any = None):
    """Error against epoch (plus validation error); with a single recorded prediction per
    epoch (one sample, one output), a second panel shows the prediction against the epoch.

    Draws on ``ax`` when given, otherwise on a new figure, which is saved to ``path`` if given
    (written atomically). Returns the figure (or the axes given).
    """
    predicted = [np.ravel(p) for p in history.predicted]
    single = bool(predicted) and all(p.size == 1 for p in predicted)
    if ax is None:
        figure, axes = _figure(2 if single else 1)
    else:
        figure, axes = None, [ax]
    epochs = np.arange(1, history.epochs + 1)
    loss_ax = axes[0]
    loss_ax.plot(epochs, history["loss"], label="training error")
    if "val_loss" in history:
        loss_ax.plot(epochs, history["val_loss"], label="validation error")
    loss_ax.set_xlabel("epoch (iteration for full-batch gradient descent)")
    loss_ax.set_ylabel("error")
    loss_ax.set_title("Error against epoch")
    loss_ax.legend()
    if single and figure is not None:
        axes[1].plot(epochs[: len(predicted)], [p[0] for p in predicted], color="tab:green")
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("predicted output")
        axes[1].set_title("Prediction against iteration")
    if figure is None:
        return ax
    if path is not None:
        save_figure(figure, path)
    return figure


def plot_tutorial(runs: dict[str, Any], target: float, path: str | None = None):
    """The tutorial's two figures for one or more runs: predicted and error against iteration."""
    figure, (predicted_ax, error_ax) = _figure(2)
    for label, run in runs.items():
        iterations = np.arange(1, len(run.predicted) + 1)
        predicted_ax.plot(iterations, run.predicted, label=label)
        error_ax.plot(iterations, run.error, label=label)
    predicted_ax.axhline(target, color="gray", linestyle="--", label="target")
    predicted_ax.set_xlabel("iteration")
    predicted_ax.set_ylabel("predicted output")
    predicted_ax.legend()
    error_ax.set_xlabel("iteration")
    error_ax.set_ylabel("error")
    error_ax.set_yscale("log")
    error_ax.legend()
    if path is not None:
        save_figure(figure, path)
    return figure


def save_figure(figure: Any, path: str) -> None:
    """Save as PNG through a temporary file in the same folder, then rename (atomic)."""
    from ._files import atomic_write

    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
