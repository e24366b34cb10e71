"""``chainrule train``'s run, once its data is ready: build the network, train it (here or on a
Dask cluster, :mod:`chainrule.distributed_run`), check it, and write the model and its loss
curve together.

From the first step to the last output written, a stop request (Ctrl-C, SIGTERM, SIGHUP) ends
the training after its current step and is then only remembered: the held-out metrics are
computed and the outputs written as after any other run, and the exit code says which signal
came (130, 143, 129) in a line on stderr. The outputs are written each to its temporary file
first and renamed only once all are written (:func:`chainrule._files.together`): a run that
cannot write its loss curve replaces no model.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _signals
from ..callbacks import Callback
from .arguments import UsageError, training_options
from .sample_weights import row_weights

if TYPE_CHECKING:  # pragma: no cover
    from ..network import Network
    from ..preparation import TrainingData

__all__ = ["class_report", "train"]

EXIT_INTERRUPTED = 130  # the shell's code for a program stopped by Ctrl-C (128 + SIGINT)


def class_report(metrics: dict[str, Any]) -> str:
    """The per-class view (precision, recall, F1, support) and the confusion matrix, as text."""
    per_class = metrics["per_class"]
    width = max(8, *(len(label) for label in per_class))
    lines = [f"{'class':>{width}}  precision  recall     f1  support"]
    for label, row in per_class.items():
        lines.append(f"{label:>{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
                     f"{row['f1']:5.3f}  {row['support']:7d}")
    if len(per_class) <= 20:
        lines.append("confusion matrix (rows: true class, columns: predicted class):")
        labels = list(per_class)
        cell = max(4, *(len(label) for label in labels),
                   len(str(max(max(r) for r in metrics["confusion_matrix"]))))
        lines.append(" " * (width + 2) + " ".join(f"{label:>{cell}}" for label in labels))
        for label, row in zip(labels, metrics["confusion_matrix"]):
            lines.append(f"{label:>{width}}  " + " ".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def _held_out_metrics(net: Network, data: TrainingData, client) -> dict[str, Any]:
    if not isinstance(data.held_out, tuple):  # on the cluster: summed where the blocks are
        from ..distributed_run import held_out_metrics

        return held_out_metrics(net, data, client)
    from ..metrics import score

    X, Y = data.held_out
    return score(net, X, Y)


def _outputs(args, data: TrainingData) -> tuple[str, str, str | None]:
    """The model's, the loss curve's and the checkpoint's paths, checked before any work."""
    from .._files import check_output

    run_dir = args.out_dir or os.path.join("runs", data.name)
    model_path = check_output(args.out if args.out is not None
                              else os.path.join(run_dir, "model.npz"), "model", [args.data])
    curve_path = check_output(os.path.splitext(model_path)[0] + ".loss.png", "loss curve",
                              [args.data])
    checkpoint_path = None
    if args.checkpoint_every or args.resume:
        checkpoint_path = check_output(args.checkpoint or os.path.join(run_dir, "checkpoint.npz"),
                                       "checkpoint", [args.data])
    outputs = [p for p in (model_path, curve_path, checkpoint_path) if p is not None]
    if len(set(outputs)) < len(outputs):
        raise ValueError(f"the model, its loss curve and the checkpoint need three different "
                         f"paths; got {', '.join(outputs)}")
    return model_path, curve_path, checkpoint_path


def _one_or_each(values: list) -> Any:
    """``--dropout`` or ``--normalization``: one value for every hidden layer, or the list."""
    return values[0] if len(values) == 1 else values


def _network(args, data: TrainingData) -> Network:
    from ..network import Network
    from ..preparation import output_activation

    output = args.output_activation or output_activation(data.loss)
    n_inputs, n_outputs = data.X_train.shape[1], data.Y_train.shape[1]
    net = Network([n_inputs, *args.hidden, n_outputs], activation=args.activation,
                  output_activation=output, loss=data.loss, init=args.init, seed=args.seed,
                  dtype=args.dtype, dropout=_one_or_each(getattr(args, "dropout", [0.0])),
                  normalization=_one_or_each(getattr(args, "normalization", [None])))
    net.metadata = dict(data.metadata)
    return net


def train(args, data: TrainingData, client) -> int:
    """Build the network, train it (here, or on the cluster), check it, write it."""
    from .._files import claim, together
    from ..exceptions import DivergenceWarning
    from ..training.options import full_batch_as_none

    if client is not None:
        from ..distributed_run import quiet_dask

        quiet_dask(client, getattr(args, "verbose", False))

    net = _network(args, data)
    model_path, curve_path, checkpoint_path = _outputs(args, data)
    if args.data and data.preparation is not None:
        print(f"{args.data}: the columns, as prepared for training")
        print(data.preparation.summary_text())
        print()
    counter = _EpochCounter()
    fit_args: dict[str, Any] = {"callbacks": [counter]}
    if data.validation is not None:
        fit_args["validation_data"] = data.validation
    if args.early_stopping:
        fit_args["early_stopping"] = args.early_stopping
    if args.checkpoint_every:
        fit_args.update(checkpoint=checkpoint_path, checkpoint_every=args.checkpoint_every)
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise ValueError(f"--resume: no checkpoint at {checkpoint_path}")
        fit_args["resume_from"] = checkpoint_path
    options = training_options(args, ("epochs", "learning_rate", "optimizer", "batch_size",
                                      "schedule", "l2", "l1", "clip_norm", "clip_value",
                                      "progress"))
    options.update(configured(args))
    weights, validation_weights = row_weights(args, data)
    if weights is not None:
        options["sample_weight"] = weights
    if validation_weights is not None:  # the validation loss: the same weighted mean
        fit_args["validation_data"] = (*data.validation, validation_weights)
    # The one place the command line's full batch becomes the library's: a size of at least
    # the training rows is batch_size=None.
    options["batch_size"] = full_batch_as_none(options["batch_size"], data.X_train.shape[0])
    options.update(fit_args)
    heard = _signals.Heard()
    outputs = [p for p in (model_path, curve_path, checkpoint_path) if p is not None]
    with claim(outputs), _signals.listening(heard):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DivergenceWarning)
            if client is None:
                history = net.fit(data.X_train, data.Y_train, **options)
            else:
                from ..distributed_run import fit_on_dask

                history = fit_on_dask(net, data, client, options, args.dask_batching)
        for warning in caught:
            if not issubclass(warning.category, (DivergenceWarning, RuntimeWarning)):
                print(f"chainrule: warning: {warning.message}", file=sys.stderr)
        metrics = _held_out_metrics(net, data, client)
        if history.diverged or not all(np.isfinite(v) for k, v in metrics.items()
                                       if k in ("loss", "mse", "accuracy")):
            reason = history.stopped_reason if history.diverged else (
                f"the held-out loss is {metrics['loss']} (learning rate "
                f"{args.learning_rate:g})")
            reason = reason.replace(" Try a smaller learning rate.", "")
            raise ValueError(f"{reason.rstrip('.')}; no model written (try a smaller "
                             "--learning-rate)")
        net.metadata["training"] = {**history.params, "epochs_done": history.epochs,
                                    "stopped_reason": history.stopped_reason}
        with together():  # the model and its curve, or neither
            net.save(model_path)
            try:
                history.plot(curve_path)
            except ImportError:
                curve_path = None
    _report(args, data, net, history, metrics, counter, model_path, curve_path,
            checkpoint_path)
    if heard.signum is not None:
        print(f"chainrule: interrupted ({_signals.describe(heard.signum)}): the model of the "
              f"last update is written to {model_path}", file=sys.stderr)
        return _signals.EXIT_CODES.get(heard.signum, EXIT_INTERRUPTED)
    if history.stopped_reason.startswith("interrupted"):
        return EXIT_INTERRUPTED
    return 0


def _report(args, data: TrainingData, net: Network, history, metrics: dict[str, Any],
            counter: _EpochCounter, model_path: str, curve_path: str | None,
            checkpoint_path: str | None) -> None:
    if args.resume and counter.epochs == 0:
        print(f"the checkpoint {checkpoint_path} had already finished at epoch "
              f"{history.epochs} (--epochs {args.epochs}): nothing trained; these are its "
              "results (raise --epochs to train on)")
    print(f"trained {net!r} on {data.name} ({data.X_train.shape[0]} training samples)")
    final = f"; final training loss {history['loss'][-1]:.6g}" if history.epochs else ""
    print(f"stopped: {history.stopped_reason}{final}")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"held-out ({data.n_held} samples): {shown}")
    if "per_class" in metrics:
        print(class_report(metrics))
    print(f"model: {model_path}" + (f"   loss curve: {curve_path}" if curve_path else ""))


class _EpochCounter(Callback):
    """Counts the epochs this invocation trains (a resumed run may have none left)."""

    epochs = 0

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs += 1


def configured(args) -> dict[str, Any]:
    """``--optimizer-settings`` and ``--schedule-settings`` as the optimizer and schedule objects
    ``fit`` takes (nothing where neither is given); a name the optimizer or schedule does not
    take is a :class:`UsageError` that lists the ones it does, a bad value its own
    ``ValueError``."""
    from ..optimizers import OPTIMIZERS
    from ..schedules import SCHEDULES

    found: dict[str, Any] = {}
    for flag, option, registry, names in (
            ("--optimizer-settings", "optimizer", OPTIMIZERS, "hyperparameters"),
            ("--schedule-settings", "schedule", SCHEDULES, "settings")):
        settings = getattr(args, f"{option}_settings", None)
        if not settings:
            continue
        name = getattr(args, option)
        if name is None:
            raise UsageError(f"{flag} needs --{option}")
        known = getattr(registry[name](), names)()
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise UsageError(f"{flag}: {name} has no setting {unknown[0]!r} (it takes "
                             f"{', '.join(known) or 'none'})")
        found[option] = registry[name](**settings)
    return found
