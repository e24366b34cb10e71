"""``chainrule explain``: dError/dWeight for one weight (or bias) of a network, printed as the
chain of derivatives that backpropagation multiplies (:mod:`chainrule.explain`), on one sample
given on the command line or taken from a built-in dataset."""

from __future__ import annotations

import json

import numpy as np

from ..datasets import DATASETS
from .arguments import UsageError, float_list, index_list
from .network_options import add_network_options, network_from_args

__all__ = ["add_parser", "cmd_explain"]


def add_parser(commands, formatter_class):
    """``explain [network options] --layer L (--weight FROM,TO | --bias NEURON)``."""
    explain = commands.add_parser("explain", help="the chain of derivatives for one weight",
                                  formatter_class=formatter_class,
                                  description="Print dError/dWeight as a chain of derivatives: "
                                              "the forward pass (the weight's value, the weights "
                                              "and bias feeding its neuron), then the backward "
                                              "pass down to the weight.")
    add_network_options(explain, "2,3,1", "explain")
    explain.add_argument("--layer", type=int, default=0,
                         help="the layer l of weights[l] (0: the weights from the inputs)")
    explain.add_argument("--weight", type=index_list, metavar="FROM,TO")
    explain.add_argument("--bias", type=int, metavar="NEURON")
    explain.add_argument("--gamma", type=int, metavar="NEURON",
                         help="a normalised layer's scale of that neuron instead")
    explain.add_argument("--beta", type=int, metavar="NEURON",
                         help="a normalised layer's shift of that neuron instead")
    explain.add_argument("--x", type=float_list,
                         help="the sample's inputs (default: evenly spaced from 0.1 to 0.9)")
    explain.add_argument("--y", type=float_list,
                         help="the sample's targets (default: 0.3 for every output; the first "
                              "class, one-hot, for categorical_cross_entropy)")
    explain.add_argument("--dataset", choices=sorted(DATASETS),
                         help="take the sample from a built-in dataset instead")
    explain.add_argument("--sample", type=int, default=0, help="its row (default 0)")
    explain.add_argument("--rows", type=int, default=1, metavar="N",
                         help="with --dataset, a batch of N rows from --sample on (default 1; "
                              "a network with batch normalisation needs 2 or more)")
    explain.add_argument("--json", action="store_true")
    return explain


def cmd_explain(args) -> int:
    """Print (or with ``--json`` dump) the chain of derivatives for the weight asked for."""
    from ..metrics import scale_inputs, target_units

    net = network_from_args(args)
    X, Y = _sample(args, net.n_inputs, net.n_outputs, net.loss_name)
    # A model trained by the command line sees standardised data: explain what it sees.
    scaled = bool(net.metadata.get("scaling") or net.metadata.get("target_scaling"))
    X, Y = scale_inputs(net, X), target_units(net, Y, to_network=True)
    if scaled and not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise UsageError(f"the sample, scaled as the model {args.model} was trained, is not "
                         "finite: its values lie too far outside the training data's")
    if net.couples_rows and X.shape[0] < 2:
        raise UsageError("batch normalisation needs at least 2 rows per batch in training "
                         "(its variance over one row is 0): explain this network on a batch "
                         "of a dataset, --dataset NAME --rows 2 or more")
    named = {name: getattr(args, name, None) for name in ("bias", "gamma", "beta")}
    named = {name: neuron for name, neuron in named.items() if neuron is not None}
    if named:
        if len(named) > 1:
            raise UsageError("give one of --bias, --gamma or --beta")
        explanation = net.explain(X, Y, args.layer, **named)
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


def _dataset_sample(args, n_inputs: int, n_outputs: int):
    """Rows ``--sample`` on (``--rows`` of them) of a built-in dataset, with their targets as
    the network takes them."""
    from ..datasets import load_dataset

    data = load_dataset(args.dataset)
    if not 0 <= args.sample < len(data.X):
        raise UsageError(f"--sample {args.sample} is outside {args.dataset} "
                         f"(0..{len(data.X) - 1})")
    rows = getattr(args, "rows", 1)
    if not 1 <= rows <= len(data.X) - args.sample:
        raise UsageError(f"--rows {rows}: {args.dataset} has {len(data.X) - args.sample} rows "
                         f"from --sample {args.sample} on")
    if data.X.shape[1] != n_inputs:
        raise UsageError(f"{args.dataset} has {data.X.shape[1]} inputs but the network takes "
                         f"{n_inputs}; use --sizes {data.X.shape[1]},...")
    chosen = np.arange(args.sample, args.sample + rows)
    X = data.X[chosen]
    target = data.y[chosen]
    if data.task == "regression":
        Y = np.asarray(target, dtype=float).reshape(rows, -1)
    elif n_outputs == len(np.unique(data.y)):
        Y = np.eye(n_outputs)[target.astype(int)]
    elif n_outputs == 1 and len(np.unique(data.y)) == 2:
        Y = np.asarray(target, dtype=float).reshape(-1, 1)
    else:
        raise UsageError(f"{args.dataset} has {len(np.unique(data.y))} classes but the "
                         f"network has {n_outputs} outputs")
    if Y.shape[1] != n_outputs:
        raise UsageError(f"{args.dataset} has {Y.shape[1]} targets but the network has "
                         f"{n_outputs} outputs")
    return X, Y


def _sample(args, n_inputs: int, n_outputs: int, loss: str | None = None):
    """The samples ``(X, Y)``: ``--dataset``/``--sample`` (``--rows`` of them), or one from
    ``--x``/``--y`` (by default evenly spaced inputs and targets of 0.3, or the first class,
    one-hot)."""
    if getattr(args, "dataset", None):
        if args.x is not None or args.y is not None:
            raise UsageError("give --dataset/--sample or --x/--y, not both")
        return _dataset_sample(args, n_inputs, n_outputs)
    if getattr(args, "rows", 1) != 1:
        raise UsageError("--rows is for --dataset")
    if args.x is None:
        X = np.linspace(0.1, 0.9, n_inputs).reshape(1, -1)
    else:
        X = np.asarray(args.x, dtype=float).reshape(1, -1)
    if args.y is None:
        Y = np.full((1, n_outputs), 0.3)
        if (loss or args.loss) == "categorical_cross_entropy":  # the model's loss, if any
            Y = np.eye(n_outputs)[[0]]
    else:
        Y = np.asarray(args.y, dtype=float).reshape(1, -1)
    return X, Y
