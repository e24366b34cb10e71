"""The ``chainrule`` command: train, predict, evaluate, tutorial, explain, gradcheck, info.

Bad input never ends in a traceback: every problem is one line on stderr and exit code 2, and
no output file is left behind (files are written atomically, at the end, all of a run's
together). Ctrl-C, SIGTERM and SIGHUP end a command cleanly, with exit code 130, 143 or 129;
``train`` keeps the model of its last update (see :mod:`chainrule._signals`).
"""

from __future__ import annotations

import argparse
import contextlib
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
from . import __version__, _signals
from ._validation import positive_int
from .activations import ACTIVATIONS
from .datasets import DATASETS
from .features import MAX_AUTO_CLASSES
from .initializers import INITIALIZERS
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network
    from .preparation import TrainingData

EXIT_BAD_INPUT = 2
DEFAULT_VALIDATION_SPLIT = 0.1
DEFAULT_PATIENCE = 10
DEFAULT_EPOCHS = 200
DEFAULT_L2 = 0.0001  # GDClassifier's and GDRegressor's, and scikit-learn's MLP's alpha
DEFAULT_INIT = "xavier"  # measured on real tables: benchmarks/init_choice.py
EXIT_INTERRUPTED = 130  # the shell's code for a program stopped by Ctrl-C (128 + SIGINT)
#: 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
EXIT_CODES = _signals.EXIT_CODES


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



def cmd_predict(args) -> int:
    """``chainrule predict`` (in :mod:`chainrule._predict`, imported when used)."""
    from ._predict import cmd_predict as predict

    return predict(args)


def cmd_evaluate(args) -> int:
    """``chainrule evaluate`` (in :mod:`chainrule._predict`, imported when used)."""
    from ._predict import cmd_evaluate as evaluate

    return evaluate(args)

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


# ---------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from ._training_run import train

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
            return train(args, _cluster_data(args, task, client), client)
    data = _local_data(args, task)
    if args.dask or args.dask_workers:
        with _dask_client(args) as client:
            return train(args, data, client)
    return train(args, data, None)


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
    import logging

    from ._training_run import quiet_dask

    verbose = getattr(args, "verbose", False)
    if not verbose:  # Dask's own log lines only when asked for
        for name in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.ERROR)
    cluster = None
    try:
        if args.dask:
            client = Client(args.dask, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=args.dask_workers, threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.WARNING if verbose else logging.CRITICAL)
            client = Client(cluster)
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler {args.dask}: {exc}") from None
    quiet_dask(client, verbose)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


_ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def cmd_tutorial(args) -> int:
    from . import tutorial
    from ._files import check_output, claim, together

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

        with claim([plot_path]), together():
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
    if scaled and not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise UsageError(f"the sample, scaled as the model {args.model} was trained, is not "
                         "finite: its values lie too far outside the training data's")
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
        budget = {} if args.memory_budget is None else {
            "memory_budget": args.memory_budget * 2**20}
        serve(host=args.host, port=args.port, token=args.token,
              open_browser=not args.no_browser, max_sessions=args.max_sessions, **budget)
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
    train.add_argument("--verbose", action="store_true",
                       help="show Dask's own log lines (hidden by default)")
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
    serve.add_argument("--memory-budget", type=_positive_count, metavar="MiB",
                       help="memory all sessions together may hold; beyond it the least "
                            "recently used idle ones go, and a run that cannot fit is refused "
                            "(default: 2048, docs/playground.md)")
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Bad input is one line on stderr and exit code 2.
    A stop request (Ctrl-C, SIGTERM, SIGHUP) ends a command cleanly (no lock or temporary file
    left) with exit code 128 + the signal's number (130, 143, 129); ``train`` keeps the model
    of the last update. NumPy's floating-point warnings never reach stderr: every result that
    could be non-finite is checked where it is made, and refused with a message of its own."""
    with _signals.installed(program=argv is None), np.errstate(all="ignore"), \
            warnings.catch_warnings(), _named_stdout():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = _run(argv)
        swallowed = _signals.unhandled()  # a stop request some library code caught
        return _interrupted(swallowed) if swallowed is not None else code


def _run(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        code = args.run(args)
        _flush_stdout()
        return code
    except (UsageError, ValueError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        _quiet_stdout()
        return 0
    except OSError as exc:  # a file that cannot be read or written: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail("not enough memory for this request; try a smaller network, batch or data")
    except KeyboardInterrupt as exc:  # Ctrl-C, or a _signals.Stopped
        _signals.unhandled()
        return _interrupted(getattr(exc, "signum", None))


def _interrupted(signum: int | None) -> int:
    print(f"chainrule: interrupted ({_signals.describe(signum)})", file=sys.stderr)
    return EXIT_CODES.get(signum, EXIT_INTERRUPTED) if signum else EXIT_INTERRUPTED


def _flush_stdout() -> None:
    """What the command printed, written now, so that a full disk behind stdout is one line
    (and not Python's complaint at exit)."""
    sys.stdout.flush()


class _StandardOutput:
    """``sys.stdout`` for the span of a command: an OS error while writing to it (a full disk
    behind a redirection) is one line naming standard output, and the process's own flush at
    exit has nothing left to complain about."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            _quiet_stdout()
            raise ValueError(f"standard output: cannot be written ({exc.strerror or exc})") \
                from None

    def write(self, text):
        return self._guarded(self._stream.write, text)

    def writelines(self, lines):
        return self._guarded(self._stream.writelines, lines)

    def flush(self):
        return self._guarded(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _named_stdout():
    previous = sys.stdout
    sys.stdout = _StandardOutput(previous)
    try:
        yield
    finally:
        sys.stdout = previous


def _quiet_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail(message: str) -> int:
    print(f"chainrule: error: {message}".replace("\n", " "), file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
