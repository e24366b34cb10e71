"""``chainrule train``: its options, and its data read and prepared before the run.

By default a share of the training rows is held out for validation and training stops once
its loss stops falling, keeping the best epoch's weights. The run itself (the network, the
training, the outputs written together) is :mod:`chainrule.cli.training_run`; on a Dask cluster
the data, the gradients and the held-out metrics come from :mod:`chainrule.distributed_run`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

# What the parser needs (names of choices) is imported here; the rest where it is used, so
# that `chainrule train --help` answers at once.
from .._validation import positive_int
from ..activations import ACTIVATIONS
from ..datasets import DATASETS
from ..features import MAX_AUTO_CLASSES
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..optimizers import OPTIMIZERS
from ..schedules import SCHEDULES
from .arguments import (
    UsageError,
    add_training_option,
    count_or_zero,
    dropout_list,
    hidden_list,
    names,
    normalization_list,
    option,
    positive_count,
    settings_list,
)
from .sample_weights import add_weight_options, check_weight_options

if TYPE_CHECKING:  # pragma: no cover
    from ..preparation import TrainingData

__all__ = ["add_parser", "cmd_train"]

DEFAULT_VALIDATION_SPLIT = 0.1
DEFAULT_PATIENCE = 10
# The command line's own defaults of training options, where the library's differ
# (docs/tables.md, "Defaults, the command line beside the estimators", says why).
DEFAULT_EPOCHS = 200  # the library has none: fit requires epochs
DEFAULT_OPTIMIZER = "adam"  # the library's: gd
DEFAULT_LEARNING_RATE = 0.001  # the library's: 0.01
DEFAULT_BATCH_SIZE = 32  # the library's: None, full batch
DEFAULT_L2 = 0.0001  # the library's: 0.0; scikit-learn's MLP's alpha
DEFAULT_INIT = "xavier"  # measured on real tables: benchmarks/init_choice.py


def add_parser(commands, formatter_class) -> argparse.ArgumentParser:
    """``train [DATA] [options]``: the data's options, the network's and training's, then the
    outputs' and the cluster's (in that order in ``--help``)."""
    train = commands.add_parser(
        "train", help="train a network on a CSV or Parquet table or built-in data",
        formatter_class=formatter_class,
        description="Train a network (default: the built-in digits). A table's columns are "
                    "read with their types and prepared as the summary printed before training "
                    "says: numbers standardised, yes/no and true/false as 0/1, dates as days, "
                    "text with few values one-hot; identifiers, free text and pandas' index "
                    "column dropped; missing cells filled. The model keeps the preparation, so "
                    "predict and evaluate apply it to new files.")
    _add_data_options(train)
    _add_training_options(train)
    _add_output_options(train)
    return train


def _add_data_options(parser) -> None:
    parser.add_argument("data", nargs="?", help="a CSV file with a header line, or Parquet")
    parser.add_argument("--dataset", choices=sorted(DATASETS),
                        help="a built-in dataset (default: digits, when no file is given)")
    parser.add_argument("--target", help="the target column (default: the last)")
    parser.add_argument("--task", choices=["classification", "regression"],
                        help="what the target is (default: classification for text, booleans "
                             f"and whole numbers with at most {MAX_AUTO_CLASSES} distinct values, "
                             "regression otherwise; --loss mse or squared_error means regression)")
    parser.add_argument("--numeric", type=names, default=[], metavar="COLS",
                        help="comma-separated columns to use as numbers, whatever their values")
    parser.add_argument("--categorical", type=names, default=[], metavar="COLS",
                        help="comma-separated columns to one-hot encode (text or numbers)")
    parser.add_argument("--drop", type=names, default=[], metavar="COLS",
                        help="comma-separated columns not to use")
    parser.add_argument("--on-missing", choices=["fill", "refuse"], default="fill",
                        help="empty cells: fill (numbers with the training median and an "
                             "indicator column, categories as a category of their own; rows "
                             "without a target dropped) or refuse the file")


def _add_training_options(parser) -> None:
    parser.add_argument("--hidden", type=hidden_list, default=[100],
                        help="hidden layer sizes, e.g. 100,50; none for no hidden layer")
    parser.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS),
                        help="the hidden layers' activation")
    parser.add_argument("--output-activation", choices=sorted(ACTIVATIONS),
                        help="default: softmax for categorical_cross_entropy, sigmoid for "
                             "binary_cross_entropy, identity otherwise")
    parser.add_argument("--loss", choices=sorted(LOSSES),
                        help="default: categorical_cross_entropy for classes, mse otherwise")
    parser.add_argument("--dropout", type=dropout_list, metavar="P", default=[0.0],
                        help="inverted dropout after each hidden layer's activation, in "
                             "training only: one probability, or one per hidden layer (0.2,0)")
    parser.add_argument("--normalization", type=normalization_list, metavar="KIND",
                        default=[None], help="batch or layer normalisation of each hidden "
                                             "layer's sop before its activation: batch, layer "
                                             "or none, or one per hidden layer (batch,none)")
    # The options of training come from its table (chainrule.training.OPTIONS): their checks,
    # their help, and their defaults except where the command line keeps its own, as
    # docs/tables.md documents ("Defaults, the command line beside the estimators"): adam at
    # 0.001, batches of 32, at most 200 epochs and l2 0.0001, where the library's fit says gd
    # at 0.01, full batch and no l2 (and has no default number of epochs).
    add_training_option(parser, "optimizer", choices=sorted(OPTIMIZERS),
                        default=DEFAULT_OPTIMIZER)  # the command line's own default
    add_training_option(parser, "learning_rate", "--learning-rate", "--lr", metavar="RATE",
                        default=DEFAULT_LEARNING_RATE)  # the command line's own default
    parser.add_argument("--optimizer-settings", type=settings_list, metavar="NAME=VALUE,...",
                        help="the optimizer's hyper-parameters, e.g. weight_decay=0.1 for "
                             "adamw, momentum=0.95 for momentum (an unknown name is refused "
                             "with the ones the optimizer takes)")
    add_training_option(parser, "schedule", choices=sorted(SCHEDULES))
    parser.add_argument("--schedule-settings", type=settings_list, metavar="NAME=VALUE,...",
                        help="the schedule's settings, e.g. patience=5,factor=0.5 for plateau")
    add_training_option(parser, "batch_size", parse=int, default=DEFAULT_BATCH_SIZE,
                        note="a size of at least the training rows is full batch")
    add_training_option(parser, "epochs", parse=int, default=DEFAULT_EPOCHS,
                        note="early stopping usually ends sooner")
    add_training_option(parser, "l2", default=DEFAULT_L2, note="as scikit-learn's alpha")
    add_training_option(parser, "l1")
    add_training_option(parser, "clip_norm")
    add_training_option(parser, "clip_value")
    add_weight_options(parser)
    parser.add_argument("--init", default=DEFAULT_INIT, choices=sorted(INITIALIZERS),
                        help="the initial weights' rule")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                        help="the floats of the weights and the arithmetic")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initial weights and the shuffles")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the held-out and validation rows (and of a generated "
                             "dataset), so that trying --seed never moves them")
    parser.add_argument("--test-split", type=float, default=0.25,
                        help="share held out for the final metrics")
    parser.add_argument("--validation-split", type=float, default=None,
                        help="share of the training rows held out to stop early (default "
                             f"{DEFAULT_VALIDATION_SPLIT}; 0 with --early-stopping 0)")
    parser.add_argument("--early-stopping", type=count_or_zero, metavar="PATIENCE", default=None,
                        help="stop once the validation loss has not improved for this many "
                             f"epochs and keep the best epoch's weights (default "
                             f"{DEFAULT_PATIENCE}; 0 trains every epoch)")


def _add_output_options(parser) -> None:
    parser.add_argument("--out", "-o", help="model file (default runs/<data>/model.npz)")
    parser.add_argument("--out-dir", help="folder for the model and loss curve")
    parser.add_argument("--checkpoint", help="checkpoint file (default beside the model)")
    parser.add_argument("--checkpoint-every", type=option("checkpoint_every", int, positive_int),
                        metavar="N", help="write a checkpoint every N epochs (default: none)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    add_training_option(parser, "progress", action=argparse.BooleanOptionalAction)
    parser.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                        help="train on a Dask cluster (see docs/distributed.md)")
    parser.add_argument("--dask-batching", choices=["blocks", "global"], default="blocks",
                        help="mini-batches on Dask: all of a block's where it is, the blocks in "
                             "a shuffled order (one round trip per block), or each "
                             "from the global order across blocks (exactly one process's "
                             "result, one round trip per step)")
    parser.add_argument("--dask-workers", type=positive_count, metavar="N",
                        help="train on a local Dask cluster of N worker processes")
    parser.add_argument("--verbose", action="store_true",
                        help="show Dask's own log lines (hidden by default)")


def cmd_train(args) -> int:
    """Read the data (here, or on the Dask cluster ``--dask`` or ``--dask-workers`` names),
    then train, check and write the model (:func:`chainrule.cli.training_run.train`)."""
    from .training_run import train

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
    check_weight_options(args)
    if not (args.dask or args.dask_workers):
        return train(args, _local_data(args, task), None)
    from ..distributed_run import dask_client, prepare_table

    data = None if args.data else _local_data(args, task)  # a built-in dataset, sent in blocks
    with dask_client(args.dask, args.dask_workers, args.verbose) as client:
        if data is None:  # out of core: the workers read the file(s), no process holds them all
            data = prepare_table(args.data, client, target=args.target, task=task,
                                 loss=args.loss, test_split=args.test_split,
                                 validation_split=args.validation_split, seed=args.split_seed,
                                 **_roles(args))
        return train(args, data, client)


def _roles(args) -> dict[str, Any]:
    """The columns' roles, as the preparation takes them."""
    return {"numeric": args.numeric, "categorical": args.categorical, "drop": args.drop,
            "on_missing": args.on_missing}


def _local_data(args, task: str | None) -> TrainingData:
    """The dataset read into this process, split, prepared and encoded."""
    from ..datasets import load_dataset
    from ..preparation import prepare

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
