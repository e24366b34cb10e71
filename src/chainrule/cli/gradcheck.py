"""``chainrule gradcheck``: backpropagation's gradients against finite differences
(:func:`chainrule.gradcheck.gradcheck`) on random samples, layer by layer."""

from __future__ import annotations

import math

import numpy as np

from .arguments import positive_count
from .network_options import add_network_options, network_from_args

__all__ = ["add_parser", "cmd_gradcheck"]


def add_parser(commands, formatter_class):
    """``gradcheck [network options] [--samples N]``."""
    check = commands.add_parser("gradcheck", help="backpropagation against finite differences",
                                formatter_class=formatter_class)
    add_network_options(check, "3,4,2", "check")
    check.add_argument("--samples", type=positive_count, default=5,
                       help="random samples the gradients are checked on")
    return check


def cmd_gradcheck(args) -> int:
    """Print each layer's largest relative error; exit 1 if any is 1e-6 or more."""
    from ..arrays import require_memory
    from ..gradcheck import gradcheck

    net = network_from_args(args)
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

