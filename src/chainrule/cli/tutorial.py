"""``chainrule tutorial``: the tutorial's worked example, one neuron without bias trained by
gradient descent on one sample, through chainrule's generic network (:mod:`chainrule.tutorial`).

With ``--as-published`` the published code's derivative runs beside it; a target not reached in
the iterations asked for is trained on to say when it would be.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .arguments import UsageError, add_training_option, float_list, option, positive_count

__all__ = ["add_parser", "cmd_tutorial"]

_ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_REACH_LIMIT = 2_000_000  # iterations trained on to say when an unreached target would be


def add_parser(commands, formatter_class):
    """``tutorial [--inputs X] [--target T] ...``."""
    tutorial = commands.add_parser(
        "tutorial", help="the tutorial's worked example",
        formatter_class=formatter_class,
        description="Part 1 and 2 of the tutorial: one neuron without bias trained by gradient "
                    "descent on one sample, through chainrule's generic network (and, with "
                    "--as-published, the published code's slip).")
    tutorial.add_argument("--inputs", type=float_list, default=[0.1],
                          help="the sample's inputs x, comma-separated (Part 2: 0.1,0.4)")
    tutorial.add_argument("--target", type=float, default=0.3, help="the target output")
    tutorial.add_argument("--activation", choices=["sigmoid", "tanh", "identity"],
                          default="sigmoid", help="the neuron's activation")
    add_training_option(tutorial, "learning_rate", "--learning-rate", "--lr", metavar="RATE",
                        default=0.5)  # the tutorial's own, not the library's 0.01
    tutorial.add_argument("--iterations", type=option("epochs", int), default=10000,
                          help="gradient descent steps")
    tutorial.add_argument("--initial-weight", type=float_list,
                          help="the starting weights (default: drawn uniformly in [0, 1) "
                               "from --seed, as the tutorial's numpy.random.rand)")
    tutorial.add_argument("--seed", type=int, default=0, help="seed of the starting weights")
    tutorial.add_argument("--tolerance", type=option("tolerance"), default=1e-3,
                          help="the target counts as reached once |predicted - target| is "
                               "below this (a bound on the squared error of its square: the "
                               "tutorial's error 0.001 is --tolerance 0.0316)")
    tutorial.add_argument("--as-published", action="store_true",
                          help="also run the published code's derivative (sigmoid' taken at "
                               "the predicted value)")
    tutorial.add_argument("--print-every", type=positive_count, metavar="N",
                          help="print iteration, predicted, error, gradient and weights every "
                               "N iterations, as the tutorial's loop does")
    tutorial.add_argument("--json", action="store_true", help="print the results as JSON")
    tutorial.add_argument("--plot", metavar="FILE.png",
                          help="draw predicted and error against the iteration")
    return tutorial


def cmd_tutorial(args) -> int:
    """Train the neuron, print (or with ``--json`` dump) what it reached and when, and draw it
    with ``--plot``."""
    from .. import tutorial
    from .._files import check_output, claim, together

    plot_path = None if args.plot is None else check_output(args.plot, "plot")
    weights = _initial_weights(args, tutorial)
    x, rate = args.inputs, args.learning_rate
    runs = {"correct": tutorial.run_network(x, args.target, rate, args.iterations, weights,
                                            args.activation)}
    if args.as_published:
        runs["as published"] = tutorial.run_scalar(x, args.target, rate, args.iterations,
                                                    weights, as_published=True)
    report = _report(args, runs, weights, tutorial)
    if plot_path is not None:
        from ..plotting import plot_tutorial

        with claim([plot_path]), together():
            plot_tutorial(runs, args.target, plot_path, settings=report)
        report["plot"] = plot_path
    if args.json:
        print(json.dumps(report))
        return 0
    _print_report(args, report, weights)
    if plot_path is not None:
        print(f"plot: {args.plot}")
    return 0


def _initial_weights(args, tutorial) -> np.ndarray:
    """The starting weights, after the checks of the target and ``--as-published``: drawn from
    ``--seed``, or ``--initial-weight`` (one value for every input, or one per input)."""
    x = args.inputs
    low, high = _ACTIVATION_RANGES.get(args.activation, (-np.inf, np.inf))
    if not low < args.target < high:
        raise UsageError(f"--target {args.target} is outside ({low:g}, {high:g}), which a "
                         f"{args.activation} never reaches")
    if args.as_published and args.activation != "sigmoid":
        raise UsageError("--as-published reproduces the published code's sigmoid; it needs "
                         "--activation sigmoid")
    if args.initial_weight is None:
        return tutorial.initial_weights(len(x), args.seed)
    if len(args.initial_weight) == 1 and len(x) > 1:
        return np.full(len(x), args.initial_weight[0])
    if len(args.initial_weight) != len(x):
        raise UsageError(f"--initial-weight has {len(args.initial_weight)} values but "
                         f"--inputs has {len(x)}")
    return np.asarray(args.initial_weight)


def _report(args, runs: dict, weights: np.ndarray, tutorial) -> dict[str, Any]:
    """The settings and each run's summary (with its trace every ``--print-every`` iterations,
    and, for the correct derivative, the iteration it reaches the target at if later)."""
    x = args.inputs
    tolerance = args.tolerance
    report = {"inputs": x, "target": args.target, "learning_rate": args.learning_rate,
              "iterations": args.iterations, "activation": args.activation,
              "initial_weights": [float(w) for w in weights], "tolerance": tolerance,
              "runs": {}}
    for label, run in runs.items():
        summary = run.summary(x, args.target, tolerance)
        if summary["first_iteration_within_tolerance"] is None:
            # Not within the iterations asked for: when would it be? Train on and see.
            start = run.weights[-1]
            more = tutorial.iterations_to_reach(x, args.target, args.learning_rate, start,
                                                tolerance, args.activation if label == "correct"
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
    return report


def _print_report(args, report: dict[str, Any], weights: np.ndarray) -> None:
    """The settings, then each run's trace and where it ended, as text."""
    x, tolerance = args.inputs, args.tolerance
    print(f"inputs {x}, target {args.target}, {args.activation} neuron, learning rate "
          f"{args.learning_rate}, {args.iterations} iterations, initial weights "
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


def _numbers_text(values) -> str:
    return "[" + ", ".join(f"{v:.10g}" for v in values) + "]"
