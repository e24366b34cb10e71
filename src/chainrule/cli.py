"""The ``chainrule`` command: train, predict, evaluate, tutorial, explain, gradcheck, info.

Bad input never ends in a traceback: every problem is one line on stderr and exit code 2, and
no output file is left behind (files are written atomically, at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

# What the parser needs (names of choices) is imported here; the rest where it is used, so
# that `chainrule --version` and `chainrule train --help` answer at once.
from . import __version__
from ._validation import positive_int
from .activations import ACTIVATIONS
from .callbacks import Callback
from .datasets import DATASETS
from .features import MAX_AUTO_CLASSES, DataError
from .initializers import INITIALIZERS
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES

if TYPE_CHECKING:  # pragma: no cover
    from .features import Preparation
    from .metrics import Metrics
    from .network import Network
    from .preparation import TrainingData

EXIT_BAD_INPUT = 2
DEFAULT_VALIDATION_SPLIT = 0.1
DEFAULT_PATIENCE = 10
DEFAULT_EPOCHS = 200
DEFAULT_L2 = 0.0001  # GDClassifier's and GDRegressor's, and scikit-learn's MLP's alpha
DEFAULT_INIT = "xavier"  # measured on real tables: benchmarks/init_choice.py
EXIT_INTERRUPTED = 130  # the shell's code for a program stopped by Ctrl-C (128 + SIGINT)


class UsageError(ValueError):
    """A problem with what the user asked for; reported in one line with exit code 2."""


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it says the default itself."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == [] \
                or default is argparse.SUPPRESS or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list) else "%(default)s"
        return f"{text} (default: {shown})".lstrip()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def _numbers(parse: type, minimum: float | None, what: str, allow_none: bool = False):
    """An argparse type: comma-separated numbers (``parse``: int or float), at least one, none
    empty, finite, each at least ``minimum``; ``none`` means an empty list when allowed."""
    kind = "integers" if parse is int else "numbers"

    def convert(text: str) -> list:
        if allow_none and text.strip().lower() == "none":
            return []
        parts = text.split(",")
        try:
            if any(not part.strip() for part in parts):
                raise ValueError
            values = [parse(part) for part in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {kind} separated by commas, got {text!r}") from None
        if not all(np.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be >= {minimum}, got {text!r}")
        return values

    return convert


_int_list = _numbers(int, 1, "sizes")
_hidden_list = _numbers(int, 1, "hidden layer sizes", allow_none=True)
_index_list = _numbers(int, 0, "neuron indices")
_float_list = _numbers(float, None, "values")
_count = _numbers(int, 1, "a count")


def _names(text: str) -> list[str]:
    """An argparse type: comma-separated column names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got "
                                         f"{text!r}")
    return names


def _count_or_zero(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _positive_count(text: str) -> int:
    values = _count(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one integer, got {text!r}")
    return values[0]


def _option(name: str, parse: type = float, rule=None):
    """An argparse type for the training option ``name``: the text parsed, then checked by the
    option's one rule (:data:`chainrule.training.OPTION_RULES`), before any data is read."""
    def convert(text: str):
        from .training import OPTION_RULES

        try:
            value = parse(text)
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            return (rule or OPTION_RULES[name])(value, name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


# ---------------------------------------------------------------------------- data
def _class_report(metrics: dict[str, Any]) -> str:
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


# ---------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    if args.data and args.dataset:
        raise UsageError("give a CSV file or --dataset, not both")
    task = args.task or ("regression" if args.loss in ("mse", "squared_error") else None)
    # By default a share of the training rows is held out for validation and training stops
    # once its loss stops falling, keeping the best epoch's weights.
    if args.validation_split is None:
        args.validation_split = DEFAULT_VALIDATION_SPLIT if args.early_stopping != 0 else 0.0
    if args.early_stopping is None:
        args.early_stopping = DEFAULT_PATIENCE if args.validation_split else 0
    if args.early_stopping and not args.validation_split:
        raise UsageError("--early-stopping needs --validation-split above 0")
    if args.data and (args.dask or args.dask_workers):
        # Out of core: the workers read the file(s); no process holds the whole data set.
        with _dask_client(args) as client:
            return _train(args, _cluster_data(args, task, client), client)
    data = _local_data(args, task)
    if args.dask or args.dask_workers:
        with _dask_client(args) as client:
            return _train(args, data, client)
    return _train(args, data, None)


def _roles(args) -> dict[str, Any]:
    return {"numeric": args.numeric, "categorical": args.categorical, "drop": args.drop,
            "on_missing": args.on_missing}


def _local_data(args, task: str | None) -> TrainingData:
    """The dataset read into this process, split, prepared and encoded."""
    from .datasets import load_dataset
    from .preparation import prepare

    if not 0 < args.test_split < 1:
        raise UsageError(f"the split fraction must be in (0, 1), got {args.test_split}")
    if args.data:
        return prepare(args.data, args.loss, args.test_split, args.validation_split,
                       args.split_seed, target=args.target, task=task, **_roles(args))
    if args.numeric or args.categorical or args.drop:
        raise UsageError("--numeric, --categorical and --drop name columns of a table file; "
                         "a built-in dataset has numbers only")
    dataset = load_dataset(args.dataset or "digits", seed=args.split_seed)
    if task is not None and dataset.task != task:
        asked = f"--task {task}" if args.task else f"--loss {args.loss} (a regression loss)"
        raise UsageError(f"{dataset.name} is a {dataset.task} dataset; {asked} does not apply "
                         "to it")
    return prepare(dataset, args.loss, args.test_split, args.validation_split, args.split_seed)


def _cluster_data(args, task: str | None, client) -> TrainingData:
    """The file(s) read by the Dask workers: the preparation's statistics, the split and the
    encoding on the cluster."""
    from . import distributed

    for share in (args.test_split, args.validation_split):
        if share and not 0 < share < 1:
            raise UsageError(f"the split fraction must be in (0, 1), got {share}")
    return distributed.prepare_on_cluster(
        args.data, client=client, target=args.target, task=task, loss=args.loss,
        test_split=args.test_split, validation_split=args.validation_split or 0.0,
        seed=args.split_seed, **_roles(args))


@contextlib.contextmanager
def _dask_client(args):
    """A client of the scheduler ``--dask`` names, or of a local cluster of ``--dask-workers``
    worker processes (closed afterwards)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs dask: pip install 'chainrule[dask]'") from None
    cluster = None
    try:
        if args.dask:
            client = Client(args.dask, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=args.dask_workers, threads_per_worker=1,
                                   processes=True, dashboard_address=":0")
            client = Client(cluster)
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler {args.dask}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _held_out_metrics(net: Network, data: TrainingData, client) -> dict[str, Any]:
    from .metrics import Metrics, score

    if not isinstance(data.held_out, tuple):  # on the cluster: summed where the blocks are
        parts = data.held_out.held_out_sums(net, _block_metrics, client)
        total = Metrics(net)
        for part in parts:
            total.merge(part)
        return total.result()
    X, Y = data.held_out
    return score(net, X, Y)


def _block_metrics(net: Network, X: np.ndarray, Y: np.ndarray) -> Metrics:
    from .metrics import Metrics

    if net.loss_name == "binary_cross_entropy" and Y.shape[1] == 2:
        Y = Y[:, 1:]
    metrics = Metrics(net)
    metrics.add(X, Y)
    return metrics


def _train(args, data: TrainingData, client) -> int:
    """Build the network, train it (here, or on the cluster), check it, write it."""
    from ._files import check_output, claim
    from .exceptions import DivergenceWarning
    from .network import Network

    output = {"categorical_cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(
        data.loss, "identity")
    if args.output_activation:
        output = args.output_activation
    n_inputs, n_outputs = data.X_train.shape[1], data.Y_train.shape[1]
    net = Network([n_inputs, *args.hidden, n_outputs], activation=args.activation,
                  output_activation=output, loss=data.loss, init=args.init, seed=args.seed,
                  dtype=args.dtype)
    net.metadata = dict(data.metadata)
    run_dir = args.out_dir or os.path.join("runs", data.name)
    model_path = check_output(args.out if args.out is not None
                              else os.path.join(run_dir, "model.npz"), "model", [args.data])
    curve_path = os.path.splitext(model_path)[0] + ".loss.png"
    outputs = [model_path, check_output(curve_path, "loss curve", [args.data])]
    checkpoint_path = None
    if args.checkpoint_every or args.resume:
        checkpoint_path = check_output(args.checkpoint or os.path.join(run_dir, "checkpoint.npz"),
                                       "checkpoint", [args.data])
        outputs.append(checkpoint_path)
    if len(set(outputs)) < len(outputs):
        raise UsageError(f"the model, its loss curve and the checkpoint need three different "
                         f"paths; got {', '.join(outputs)}")
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
            raise UsageError(f"--resume: no checkpoint at {checkpoint_path}")
        fit_args["resume_from"] = checkpoint_path
    n_train = data.X_train.shape[0]
    batch_size = args.batch_size if args.batch_size < n_train else None
    options = dict(epochs=args.epochs, learning_rate=args.lr, optimizer=args.optimizer,
                   batch_size=batch_size, schedule=args.schedule, l2=args.l2,
                   progress=args.progress, **fit_args)
    with claim(outputs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DivergenceWarning)
            if client is None:
                history = net.fit(data.X_train, data.Y_train, **options)
            else:
                history = _fit_on_dask(net, data, client, options, args.dask_batching)
        for warning in caught:
            if not issubclass(warning.category, DivergenceWarning):
                print(f"chainrule: warning: {warning.message}", file=sys.stderr)
        metrics = _held_out_metrics(net, data, client)
        if history.diverged or not all(np.isfinite(v) for k, v in metrics.items()
                                       if k in ("loss", "mse", "accuracy")):
            reason = history.stopped_reason if history.diverged else (
                f"the held-out loss is {metrics['loss']} (learning rate {args.lr:g})")
            reason = reason.replace(" Try a smaller learning rate.", "")
            raise UsageError(f"{reason.rstrip('.')}; no model written (try a smaller --lr)")
        net.metadata["training"] = {**history.params, "epochs_done": history.epochs,
                                    "stopped_reason": history.stopped_reason}
        net.save(model_path)
        try:
            history.plot(curve_path)
        except ImportError:
            curve_path = None
    if args.resume and counter.epochs == 0:
        print(f"the checkpoint {checkpoint_path} had already finished at epoch "
              f"{history.epochs} (--epochs {args.epochs}): nothing trained; these are its "
              "results (raise --epochs to train on)")
    print(f"trained {net!r} on {data.name} ({n_train} training samples)")
    final = f"; final training loss {history['loss'][-1]:.6g}" if history.epochs else ""
    print(f"stopped: {history.stopped_reason}{final}")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"held-out ({data.n_held} samples): {shown}")
    if "per_class" in metrics:
        print(_class_report(metrics))
    print(f"model: {model_path}" + (f"   loss curve: {curve_path}" if curve_path else ""))
    if history.stopped_reason.startswith("interrupted"):
        return EXIT_INTERRUPTED
    return 0


def _fit_on_dask(net: Network, data: TrainingData, client, options: dict, batching: str):
    """The same training with the Dask cluster as the source of every step's gradient."""
    import dask.array as da

    from . import distributed

    X, Y = data.X_train, data.Y_train
    if isinstance(X, np.ndarray):  # a built-in dataset: sent to the workers in row-blocks
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        rows = -(-len(X) // (2 * n_workers))  # two row-blocks per worker
        X = da.from_array(X, chunks=(rows, X.shape[1]))
        Y = da.from_array(Y, chunks=(rows, Y.shape[1]))
    return distributed.fit(net, X, Y, client=client, batching=batching, **options)


class _EpochCounter(Callback):
    """Counts the epochs this invocation trains (a resumed run may have none left)."""

    epochs = 0

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs += 1


def _model_blocks(args, need_target: bool):
    """The model and its preparation, then ``(X, Y, labels)`` for each block of the table
    (``Y`` None unless asked for): a file of any size goes through in bounded memory. Columns
    are matched by name, in any order; columns the model does not use are never parsed."""
    from .features import Preparation
    from .network import load
    from .tables import iter_batches, row_label

    net = load(args.model)
    prep = Preparation.from_metadata(net.metadata, net.n_inputs)
    if not net.metadata.get("feature_names"):  # a model without column names: by position
        header = next(iter_batches(args.data, []))
        if len(header) not in (net.n_inputs, net.n_inputs + 1):
            raise UsageError(f"{args.data}: has {len(header)} columns, the model {args.model} "
                             f"takes {net.n_inputs} inputs")
        for spec, name in zip(prep.columns, header):
            spec["name"] = name
        prep.target_name = prep.target_name or (header[-1] if len(header) > net.n_inputs
                                                else None)
    wanted = list(prep.used_columns)
    if need_target:
        if prep.target_name is None:
            raise UsageError(f"{args.data}: the model {args.model} names no target column")
        wanted.append(prep.target_name)
    blocks = iter_batches(args.data, wanted, _column_types(prep, wanted))
    try:
        next(blocks)  # the header: every wanted column is there (or a one-line error)
    except ValueError as exc:
        raise UsageError(str(exc).replace("lacks the column(s)",
                                         "lacks the model's feature column(s)")
                         ) from None
    yield net, prep
    rows = 0
    for table in blocks:
        prep.row_label = row_label(args.data, rows)
        rows += table.num_rows
        try:
            X = prep.transform(table)
            Y = None
            if need_target:
                Y, present = _targets_for_model(net, prep, table)
                if not present.all():
                    X, Y = X[present], Y[present]
                    prep.unseen["(rows without a target, not scored)"] = int((~present).sum())
        except DataError as exc:
            raise UsageError(f"{args.data}: {exc}") from None
        yield X, Y
    if rows == 0:
        raise UsageError(f"{args.data}: only a header, no data rows")


def _column_types(prep: Preparation, columns: list[str]) -> dict[str, Any]:
    """The pyarrow type each column is read as: numbers as float64, dates as timestamps, the
    rest as text; the preparation reads them as it did in training."""
    import pyarrow as pa

    kinds = {spec["name"]: spec for spec in prep.columns}
    types = {}
    for name in columns:
        spec = kinds.get(name, {})
        if name == prep.target_name:
            types[name] = pa.string() if prep.target_kind in ("text", "boolean") \
                else pa.float64()
        elif spec.get("role") == "date":
            types[name] = pa.timestamp("ns")
        elif spec.get("role") == "numeric" or spec.get("kind") in ("number", "integer"):
            types[name] = pa.float64()
        else:
            types[name] = pa.string()
    return types


def _targets_for_model(net: Network, prep: Preparation, table
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The block's targets as the network takes them, and which rows have one (a label the
    model does not know is refused)."""
    from .metrics import target_units

    values = prep.table_targets(table)
    if prep.task != "classification":
        present = ~np.isnan(values).any(axis=1)
        return target_units(net, np.where(present[:, None], values, 0.0), to_network=True), \
            present
    present = table.column(prep.target_name).is_valid().to_numpy(zero_copy_only=False)
    unknown = np.flatnonzero((values < 0) & present)
    if unknown.size:
        cell = table.column(prep.target_name)[int(unknown[0])].as_py()
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        raise DataError(f"column {prep.target_name!r}: label {cell!r} is not one of the "
                        f"model's classes {prep.classes}")
    values = np.maximum(values, 0)
    if net.n_outputs == 1:
        return values.reshape(-1, 1).astype(float), present
    return np.eye(net.n_outputs)[values], present


def _warn_unseen(prep: Preparation, counts: dict[str, int]) -> None:
    if counts:
        shown = ", ".join(f"{name!r} ({count:,})" for name, count in counts.items())
        print(f"chainrule: warning: cells of categories never seen in training, encoded as "
              f"all zeros: {shown}", file=sys.stderr)


def cmd_predict(args) -> int:
    from ._files import atomic_write, check_output, claim
    from .metrics import class_indices, target_units

    path = None if args.out is None else check_output(args.out, "predictions",
                                                      [args.model, args.data])
    blocks = _model_blocks(args, need_target=False)
    net, prep = next(blocks)
    classes = prep.classes
    classification = prep.task == "classification"
    if classification:
        columns = ["predicted", f"probability_{classes[1]}"] if net.n_outputs == 1 else \
            ["predicted"] + [f"probability_{c}" for c in classes]
    else:
        name = prep.target_name or "predicted"
        columns = [name] if net.n_outputs == 1 else [f"{name}_{i}" for i in range(net.n_outputs)]
    unseen: dict[str, int] = {}
    first = next(blocks, None)  # prepared before anything is written

    def write_all(stream) -> None:
        """The predictions, block by block, in the standard CSV dialect (quoted as needed)."""
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for X, _ in itertools.chain([first] if first is not None else [], blocks):
            for name, count in prep.unseen.items():
                unseen[name] = unseen.get(name, 0) + count
            predicted = net.predict(X)
            if classification:
                index = class_indices(net, predicted)
                labels = prep.labels(index) if classes else index.tolist()
                values = predicted if net.n_outputs > 1 else predicted[:, :1]
            else:
                labels, values = None, target_units(net, predicted, to_network=False)
            text = [[f"{v:.10g}" for v in row] for row in values.tolist()]
            writer.writerows(text if labels is None else
                             ([str(label), *row] for label, row in zip(labels, text)))

    if path is None:
        write_all(sys.stdout)
    else:
        with claim([path]), atomic_write(path) as handle:
            stream = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            write_all(stream)
            stream.flush()
            stream.detach()  # the atomic writer closes the file itself
    _warn_unseen(prep, unseen)
    return 0


def cmd_evaluate(args) -> int:
    from .metrics import Metrics

    blocks = _model_blocks(args, need_target=True)
    net, prep = next(blocks)
    metrics = Metrics(net)
    unseen: dict[str, int] = {}
    for X, Y in blocks:
        for name, count in prep.unseen.items():
            unseen[name] = unseen.get(name, 0) + count
        if len(X):
            metrics.add(X, Y)
    skipped = unseen.pop("(rows without a target, not scored)", 0)
    if skipped:
        print(f"chainrule: note: {skipped:,} row(s) without a target in {args.data} were not "
              "scored", file=sys.stderr)
    if not metrics.rows:
        raise UsageError(f"{args.data}: no row has a target ({prep.target_name!r})")
    _warn_unseen(prep, unseen)
    # JSON has no NaN: an undefined metric (R² of a constant target) is null.
    print(json.dumps(_json_safe(metrics.result())))
    return 0


_ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def cmd_tutorial(args) -> int:
    from . import tutorial
    from ._files import check_output, claim

    plot_path = None if args.plot is None else check_output(args.plot, "plot")
    x = args.inputs
    low, high = _ACTIVATION_RANGES.get(args.activation, (-np.inf, np.inf))
    if not low < args.target < high:
        raise UsageError(f"--target {args.target} is outside ({low:g}, {high:g}), which a "
                         f"{args.activation} never reaches")
    if args.as_published and args.activation != "sigmoid":
        raise UsageError("--as-published reproduces the published code's sigmoid; it needs "
                         "--activation sigmoid")
    if args.initial_weight is None:
        weights = tutorial.initial_weights(len(x), args.seed)
    elif len(args.initial_weight) == 1 and len(x) > 1:
        weights = np.full(len(x), args.initial_weight[0])
    elif len(args.initial_weight) != len(x):
        raise UsageError(f"--initial-weight has {len(args.initial_weight)} values but "
                         f"--inputs has {len(x)}")
    else:
        weights = np.asarray(args.initial_weight)
    runs = {"correct": tutorial.run_network(x, args.target, args.lr, args.iterations, weights,
                                            args.activation)}
    if args.as_published:
        runs["as published"] = tutorial.run_scalar(x, args.target, args.lr, args.iterations,
                                                    weights, as_published=True)
    tolerance = args.tolerance
    report = {"inputs": x, "target": args.target, "learning_rate": args.lr,
              "iterations": args.iterations, "activation": args.activation,
              "initial_weights": [float(w) for w in weights], "tolerance": tolerance,
              "runs": {}}
    for label, run in runs.items():
        summary = run.summary(x, args.target, tolerance)
        if summary["first_iteration_within_tolerance"] is None:
            # Not within the iterations asked for: when would it be? Train on and see.
            start = run.weights[-1]
            more = tutorial.iterations_to_reach(x, args.target, args.lr, start, tolerance,
                                                args.activation if label == "correct"
                                                else "sigmoid", limit=_REACH_LIMIT) \
                if label == "correct" else None
            summary["reached_later_at"] = None if more is None else args.iterations + more
        if args.print_every:
            summary["trace"] = [
                {"iteration": i + 1, "predicted": float(run.predicted[i]),
                 "error": float(run.error[i]), "gradient": run.gradients[i].tolist(),
                 "weights": run.weights[i].tolist()}
                for i in range(0, args.iterations, args.print_every)]
        report["runs"][label] = summary
    if plot_path is not None:
        from .plotting import plot_tutorial

        with claim([plot_path]):
            plot_tutorial(runs, args.target, plot_path, settings=report)
        report["plot"] = plot_path
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"inputs {x}, target {args.target}, {args.activation} neuron, learning rate "
          f"{args.lr}, {args.iterations} iterations, initial weights "
          f"{[float(w) for w in weights]}")
    print(f"tolerance: |predicted - target| < {tolerance:g} (the squared error below "
          f"{tolerance ** 2:g})")
    for label, summary in report["runs"].items():
        for step in summary.get("trace", []):
            print(f"{label:>13}: iteration {step['iteration']}: predicted "
                  f"{step['predicted']:.10g}, error {step['error']:.10g}, gradient "
                  f"{_numbers_text(step['gradient'])}, weights {_numbers_text(step['weights'])}")
        first = summary["first_iteration_within_tolerance"]
        if first:
            reached = f"reached at iteration {first}"
        elif summary.get("reached_later_at"):
            reached = (f"not reached in {args.iterations} iterations; training on, it is at "
                       f"iteration {summary['reached_later_at']}")
        elif label == "correct":
            reached = f"not reached within {args.iterations + _REACH_LIMIT:,} iterations"
        else:
            reached = f"not reached in {args.iterations} iterations"
        print(f"{label:>13}: {reached}; "
              f"final predicted {summary['final_predicted']:.10f}, "
              f"weights {[round(w, 10) for w in summary['final_weights']]}, "
              f"error {summary['final_error']:.6g}")
    if plot_path is not None:
        print(f"plot: {args.plot}")
    return 0


_REACH_LIMIT = 2_000_000  # iterations trained on to say when an unreached target would be


def _numbers_text(values) -> str:
    return "[" + ", ".join(f"{v:.10g}" for v in values) + "]"


def _dataset_sample(args, n_inputs: int, n_outputs: int):
    """Row ``--sample`` of a built-in dataset, with its target as the network takes it."""
    from .datasets import load_dataset

    data = load_dataset(args.dataset)
    if not 0 <= args.sample < len(data.X):
        raise UsageError(f"--sample {args.sample} is outside {args.dataset} "
                         f"(0..{len(data.X) - 1})")
    if data.X.shape[1] != n_inputs:
        raise UsageError(f"{args.dataset} has {data.X.shape[1]} inputs but the network takes "
                         f"{n_inputs}; use --sizes {data.X.shape[1]},...")
    X = data.X[[args.sample]]
    target = data.y[args.sample]
    if data.task == "regression":
        Y = np.asarray(target, dtype=float).reshape(1, -1)
    elif n_outputs == len(np.unique(data.y)):
        Y = np.eye(n_outputs)[[int(target)]]
    elif n_outputs == 1 and len(np.unique(data.y)) == 2:
        Y = np.array([[float(target)]])
    else:
        raise UsageError(f"{args.dataset} has {len(np.unique(data.y))} classes but the "
                         f"network has {n_outputs} outputs")
    if Y.shape[1] != n_outputs:
        raise UsageError(f"{args.dataset} has {Y.shape[1]} targets but the network has "
                         f"{n_outputs} outputs")
    return X, Y


def _sample(args, n_inputs: int, n_outputs: int):
    if getattr(args, "dataset", None):
        if args.x is not None or args.y is not None:
            raise UsageError("give --dataset/--sample or --x/--y, not both")
        return _dataset_sample(args, n_inputs, n_outputs)
    if args.x is None:
        X = np.linspace(0.1, 0.9, n_inputs).reshape(1, -1)
    else:
        X = np.asarray(args.x, dtype=float).reshape(1, -1)
    if args.y is None:
        Y = np.full((1, n_outputs), 0.3)
        if args.loss == "categorical_cross_entropy":
            Y = np.eye(n_outputs)[[0]]
    else:
        Y = np.asarray(args.y, dtype=float).reshape(1, -1)
    return X, Y


def _network_from_args(args) -> Network:
    from .network import Network, load

    if args.model:
        return load(args.model)
    output = args.output_activation or (
        "softmax" if args.loss == "categorical_cross_entropy" else None)
    return Network(args.sizes, activation=args.activation, output_activation=output,
                   bias=not args.no_bias, loss=args.loss, init=args.init, seed=args.seed)


def cmd_explain(args) -> int:
    from .metrics import scale_inputs, target_units

    net = _network_from_args(args)
    X, Y = _sample(args, net.n_inputs, net.n_outputs)
    # A model trained by the command line sees standardised data: explain what it sees.
    scaled = bool(net.metadata.get("scaling") or net.metadata.get("target_scaling"))
    X, Y = scale_inputs(net, X), target_units(net, Y, to_network=True)
    if args.bias is not None:
        explanation = net.explain(X, Y, args.layer, bias=args.bias)
    else:
        if args.weight is None or len(args.weight) != 2:
            raise UsageError("--weight FROM,TO (two neuron indices) or --bias NEURON is needed")
        explanation = net.explain(X, Y, args.layer, tuple(args.weight))
    if args.json:
        print(json.dumps(explanation.to_dict()))
    else:
        print(f"network {net!r}")
        if scaled:
            print("the sample is standardised as the model's metadata says: the values below "
                  "are what the network sees")
        print()
        print(explanation)
    return 0


def cmd_gradcheck(args) -> int:
    from .arrays import require_memory
    from .gradcheck import gradcheck

    net = _network_from_args(args)
    rng = np.random.default_rng(args.seed)
    # Finite differences: four losses per parameter, each a pass over the samples.
    require_memory(8.0 * args.samples * (net.n_inputs + net.n_outputs + sum(net.sizes)) * 4,
                   f"gradcheck on {args.samples:,} samples")
    X = rng.normal(size=(args.samples, net.n_inputs))
    if net.loss_name == "categorical_cross_entropy":
        Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, args.samples)]
    else:
        Y = rng.random((args.samples, net.n_outputs))
    errors = gradcheck(net, X, Y)
    for layer, error in enumerate(errors):
        # The digits of so small an error depend on the BLAS build; its decade does not.
        bound = 10.0 ** max(-10, math.ceil(math.log10(error))) if error > 0 else 1e-10
        print(f"layer {layer}: largest relative error {error:.1e}, below {bound:g}")
    ok = max(errors) < 1e-6
    print("gradients agree with finite differences" if ok else "GRADIENTS DISAGREE")
    return 0 if ok else 1


def cmd_info(args) -> int:
    from .features import Preparation
    from .network import load

    net = load(args.model)
    print(json.dumps({"network": repr(net), "parameters": net.n_parameters,
                      "metadata": net.metadata}, indent=2))
    if "preparation" in net.metadata:
        print()
        print("the columns, as prepared for training")
        print(Preparation.from_metadata(net.metadata, net.n_inputs).summary_text())
    return 0


def cmd_serve(args) -> int:
    try:
        import uvicorn  # noqa: F401 - the server's; checked here to say what is missing

        from .playground.server import serve
    except ImportError as exc:
        raise UsageError(f"chainrule serve needs the serve extra ({exc.name} is missing): "
                         "pip install 'chainrule[serve]'") from None
    try:
        serve(host=args.host, port=args.port, token=args.token,
              open_browser=not args.no_browser, max_sessions=args.max_sessions)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------------------- parser
def _add_network_options(parser, sizes_default: str, verb: str) -> None:
    parser.add_argument("--sizes", type=_int_list, default=_int_list(sizes_default),
                        help="layer sizes, inputs first")
    parser.add_argument("--model", help=f"{verb} a saved model instead of a new network")
    parser.add_argument("--activation", default="sigmoid", help="every layer's activation")
    parser.add_argument("--output-activation",
                        help="the output layer's (default: --activation; softmax for "
                             "categorical_cross_entropy)")
    parser.add_argument("--loss", default="squared_error", help="the loss")
    parser.add_argument("--init", default="xavier", help="the initial weights' rule")
    parser.add_argument("--no-bias", action="store_true", help="layers without bias")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = commands.add_parser(
        "train", help="train a network on a CSV or Parquet table or built-in data",
        formatter_class=_Help,
        description="Train a network (default: the built-in digits). A table's columns are "
                    "read with their types and prepared as the summary printed before training "
                    "says: numbers standardised, yes/no and true/false as 0/1, dates as days, "
                    "text with few values one-hot; identifiers, free text and pandas' index "
                    "column dropped; missing cells filled. The model keeps the preparation, so "
                    "predict and evaluate apply it to new files.")
    train.add_argument("data", nargs="?", help="a CSV file with a header line, or Parquet")
    train.add_argument("--dataset", choices=sorted(DATASETS),
                       help="a built-in dataset (default: digits, when no file is given)")
    train.add_argument("--target", help="the target column (default: the last)")
    train.add_argument("--task", choices=["classification", "regression"],
                       help="what the target is (default: classification for text, booleans "
                            f"and whole numbers with at most {MAX_AUTO_CLASSES} distinct values, "
                            "regression otherwise; --loss mse or squared_error means regression)")
    train.add_argument("--numeric", type=_names, default=[], metavar="COLS",
                       help="comma-separated columns to use as numbers, whatever their values")
    train.add_argument("--categorical", type=_names, default=[], metavar="COLS",
                       help="comma-separated columns to one-hot encode (text or numbers)")
    train.add_argument("--drop", type=_names, default=[], metavar="COLS",
                       help="comma-separated columns not to use")
    train.add_argument("--on-missing", choices=["fill", "refuse"], default="fill",
                       help="empty cells: fill (numbers with the training median and an "
                            "indicator column, categories as a category of their own; rows "
                            "without a target dropped) or refuse the file")
    train.add_argument("--hidden", type=_hidden_list, default=[100],
                       help="hidden layer sizes, e.g. 100,50; none for no hidden layer")
    train.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                       help="the hidden layers' activation")
    train.add_argument("--output-activation", choices=sorted(ACTIVATIONS),
                       help="default: softmax for categorical_cross_entropy, sigmoid for "
                            "binary_cross_entropy, identity otherwise")
    train.add_argument("--loss", choices=sorted(LOSSES),
                       help="default: categorical_cross_entropy for classes, mse otherwise")
    train.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS),
                       help="the rule that turns gradients into updates")
    train.add_argument("--lr", type=_option("learning_rate"), default=0.001,
                       help="the learning rate")
    train.add_argument("--schedule", choices=sorted(SCHEDULES),
                       help="the learning rate's schedule (default: constant)")
    train.add_argument("--batch-size", type=_option("batch_size", int), default=32,
                       help="rows per update (the whole training set when larger)")
    train.add_argument("--epochs", type=_option("epochs", int), default=DEFAULT_EPOCHS,
                       help="the most epochs; early stopping usually ends sooner")
    train.add_argument("--l2", type=_option("l2"), default=DEFAULT_L2,
                       help="L2 penalty on the weights (not the biases), as scikit-learn's "
                            "alpha")
    train.add_argument("--init", default=DEFAULT_INIT, choices=sorted(INITIALIZERS),
                       help="the initial weights' rule")
    train.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                       help="the floats of the weights and the arithmetic")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of the initial weights and the shuffles")
    train.add_argument("--split-seed", type=int, default=0,
                       help="seed of the held-out and validation rows (and of a generated "
                            "dataset), so that trying --seed never moves them")
    train.add_argument("--test-split", type=float, default=0.25,
                       help="share held out for the final metrics")
    train.add_argument("--validation-split", type=float, default=None,
                       help="share of the training rows held out to stop early (default "
                            f"{DEFAULT_VALIDATION_SPLIT}; 0 with --early-stopping 0)")
    train.add_argument("--early-stopping", type=_count_or_zero, metavar="PATIENCE", default=None,
                       help="stop once the validation loss has not improved for this many "
                            f"epochs and keep the best epoch's weights (default "
                            f"{DEFAULT_PATIENCE}; 0 trains every epoch)")
    train.add_argument("--out", "-o", help="model file (default runs/<data>/model.npz)")
    train.add_argument("--out-dir", help="folder for the model and loss curve")
    train.add_argument("--checkpoint", help="checkpoint file (default beside the model)")
    train.add_argument("--checkpoint-every", type=_option("checkpoint_every", int, positive_int),
                       metavar="N", help="write a checkpoint every N epochs (default: none)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar (default: when the output is a terminal)")
    train.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                       help="train on a Dask cluster (see docs/distributed.md)")
    train.add_argument("--dask-batching", choices=["blocks", "global"], default="blocks",
                       help="mini-batches on Dask: all of a block's where it is, the blocks in "
                            "a shuffled order (one round trip per block), or each "
                            "from the global order across blocks (exactly one process's "
                            "result, one round trip per step)")
    train.add_argument("--dask-workers", type=_positive_count, metavar="N",
                       help="train on a local Dask cluster of N worker processes")
    train.set_defaults(run=cmd_train)

    for name, function, text in (("predict", cmd_predict, "write predictions as CSV"),
                                 ("evaluate", cmd_evaluate, "print metrics on labelled data")):
        sub = commands.add_parser(
            name, help=text, formatter_class=_Help,
            description=f"{text[0].upper()}{text[1:]}: the model's own preparation applied to "
                        "the table (columns by name, in any order; columns it does not use "
                        "are ignored).")
        sub.add_argument("model", help="a model file written by chainrule train")
        sub.add_argument("data", help="a CSV file with a header line, or Parquet")
        if name == "predict":
            sub.add_argument("--out", "-o", help="CSV file (default: stdout)")
        sub.set_defaults(run=function)

    tutorial = commands.add_parser(
        "tutorial", help="the tutorial's worked example",
        formatter_class=_Help,
        description="Part 1 and 2 of the tutorial: one neuron without bias trained by gradient "
                    "descent on one sample, through chainrule's generic network (and, with "
                    "--as-published, the published code's slip).")
    tutorial.add_argument("--inputs", type=_float_list, default=[0.1],
                          help="the sample's inputs x, comma-separated (Part 2: 0.1,0.4)")
    tutorial.add_argument("--target", type=float, default=0.3, help="the target output")
    tutorial.add_argument("--activation", choices=["sigmoid", "tanh", "identity"],
                          default="sigmoid", help="the neuron's activation")
    tutorial.add_argument("--lr", type=_option("learning_rate"), default=0.5,
                          help="the learning rate")
    tutorial.add_argument("--iterations", type=_option("epochs", int), default=10000,
                          help="gradient descent steps")
    tutorial.add_argument("--initial-weight", type=_float_list,
                          help="the starting weights (default: drawn uniformly in [0, 1) "
                               "from --seed, as the tutorial's numpy.random.rand)")
    tutorial.add_argument("--seed", type=int, default=0, help="seed of the starting weights")
    tutorial.add_argument("--tolerance", type=_option("tolerance"), default=1e-3,
                          help="the target counts as reached once |predicted - target| is "
                               "below this (a bound on the squared error of its square: the "
                               "tutorial's error 0.001 is --tolerance 0.0316)")
    tutorial.add_argument("--as-published", action="store_true",
                          help="also run the published code's derivative (sigmoid' taken at "
                               "the predicted value)")
    tutorial.add_argument("--print-every", type=_positive_count, metavar="N",
                          help="print iteration, predicted, error, gradient and weights every "
                               "N iterations, as the tutorial's loop does")
    tutorial.add_argument("--json", action="store_true", help="print the results as JSON")
    tutorial.add_argument("--plot", metavar="FILE.png",
                          help="draw predicted and error against the iteration")
    tutorial.set_defaults(run=cmd_tutorial)

    explain = commands.add_parser("explain", help="the chain of derivatives for one weight",
                                  formatter_class=_Help,
                                  description="Print dError/dWeight as a chain of derivatives.")
    _add_network_options(explain, "2,3,1", "explain")
    explain.add_argument("--layer", type=int, default=0,
                         help="the layer l of weights[l] (0: the weights from the inputs)")
    explain.add_argument("--weight", type=_index_list, metavar="FROM,TO")
    explain.add_argument("--bias", type=int, metavar="NEURON")
    explain.add_argument("--x", type=_float_list,
                         help="the sample's inputs (default: evenly spaced from 0.1 to 0.9)")
    explain.add_argument("--y", type=_float_list,
                         help="the sample's targets (default: 0.3 for every output; the first "
                              "class, one-hot, for categorical_cross_entropy)")
    explain.add_argument("--dataset", choices=sorted(DATASETS),
                         help="take the sample from a built-in dataset instead")
    explain.add_argument("--sample", type=int, default=0, help="its row (default 0)")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(run=cmd_explain)

    check = commands.add_parser("gradcheck", help="backpropagation against finite differences",
                                formatter_class=_Help)
    _add_network_options(check, "3,4,2", "check")
    check.add_argument("--samples", type=_positive_count, default=5,
                       help="random samples the gradients are checked on")
    check.set_defaults(run=cmd_gradcheck)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model")
    info.set_defaults(run=cmd_info)

    serve = commands.add_parser(
        "serve", help="the web playground: watch backpropagation live in the browser",
        formatter_class=_Help,
        description="Start a local web page that trains networks with chainrule and shows every "
                    "number the engine computes (see docs/playground.md). It prints a URL with a "
                    "token; the server refuses requests without the token, from other sites or "
                    "to other host names. Ctrl-C stops it.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on; another than 127.0.0.1 exposes the page "
                            "to the network (anyone with the URL can use it), and 0.0.0.0 "
                            "answers to this machine's host name and addresses")
    serve.add_argument("--port", type=int, default=8765,
                       help="the port to listen on; 0 takes any free port")
    serve.add_argument("--token", help="the token the URL carries (default: a new random one "
                                       "each start)")
    serve.add_argument("--no-browser", action="store_true",
                       help="print the URL without opening a browser")
    serve.add_argument("--max-sessions", type=_positive_count, default=32,
                       help="tabs served at once; the least recently used goes first")
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        return args.run(args)
    except (UsageError, ValueError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be read or written: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail("not enough memory for this request; try a smaller network, batch or data")
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _json_safe(value: Any) -> Any:
    """Floats rounded to 6 digits, NaN as null, all the way down."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if np.isfinite(value) else None
    return value


def _fail(message: str) -> int:
    print(f"chainrule: error: {message}".replace("\n", " "), file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
