"""The options of a network built on the command line, for ``explain`` and ``gradcheck``: its
layer sizes, activations, loss, initial weights and bias, or a saved model instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .arguments import int_list

if TYPE_CHECKING:  # pragma: no cover
    from ..network import Network

__all__ = ["add_network_options", "network_from_args"]


def add_network_options(parser, sizes_default: str, verb: str) -> None:
    """``--sizes`` (default ``sizes_default``), ``--model`` and the network's other options."""
    parser.add_argument("--sizes", type=int_list, default=int_list(sizes_default),
                        help="layer sizes, inputs first")
    parser.add_argument("--model", help=f"{verb} a saved model instead of a new network")
    parser.add_argument("--activation", default="sigmoid", help="every layer's activation")
    parser.add_argument("--output-activation",
                        help="the output layer's (default: --activation; softmax for "
                             "categorical_cross_entropy, sigmoid for binary_cross_entropy)")
    parser.add_argument("--loss", default="squared_error", help="the loss")
    parser.add_argument("--init", default="xavier", help="the initial weights' rule")
    parser.add_argument("--no-bias", action="store_true", help="layers without bias")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")


def network_from_args(args) -> Network:
    """The saved model ``--model``, or a new network of the options (the output activation
    the loss combines with, softmax or sigmoid, unless ``--output-activation`` says
    otherwise)."""
    from ..network import Network, load
    from ..preparation import output_activation

    if args.model:
        return load(args.model)
    output = args.output_activation or output_activation(args.loss, None)
    return Network(args.sizes, activation=args.activation, output_activation=output,
                   has_bias=not args.no_bias, loss=args.loss, init=args.init, seed=args.seed)
