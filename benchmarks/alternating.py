"""W2 in one process: chainrule's ``fit`` and the NumPy floor, alternating, seed by seed.

    python benchmarks/alternating.py [--batch 200] [--rounds 15] [--threads 1] [--json]

``run.py`` measures every fit in a new process, where single runs of the same code move by
±15 % on this machine (memory placement, the CPU's state). Here both run in the same process,
one after the other for each seed (50 epochs each, W2's network, data and learning rate), so
what the machine does to one it does to the other. Prints the medians of milliseconds per
epoch, the ratio of the medians, the median of the per-seed ratios and the ratio of the fastest
runs (``--json``: the same as one JSON line, which ``run.py``'s W2 section reads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from floor import NumpyFloor  # noqa: E402
from workers import digits_split, limit_threads  # noqa: E402

EPOCHS = 50


def chainrule_fit(X, Y, batch: int, seed: int) -> float:
    import chainrule

    net = chainrule.Network([64, 100, 10], activation="relu", output_activation="softmax",
                            loss="categorical_cross_entropy", seed=seed)
    start = time.perf_counter()
    net.fit(X, Y, epochs=EPOCHS, learning_rate=0.1, batch_size=batch, progress=False)
    return time.perf_counter() - start


def floor_fit(X, Y, batch: int, seed: int) -> float:
    model = NumpyFloor([64, 100, 10], seed=seed)
    start = time.perf_counter()
    model.fit(X, Y, EPOCHS, batch, 0.1, seed=seed)
    return time.perf_counter() - start


def compare(batch: int, rounds: int) -> dict:
    """The two fits alternating for ``rounds`` seeds: medians (ms per epoch) and ratios."""
    X, Y, _, _ = digits_split()
    chainrule_fit(X, Y, batch, 0), floor_fit(X, Y, batch, 0)  # warm both
    ours, floors = [], []
    for seed in range(rounds):
        ours.append(chainrule_fit(X, Y, batch, seed))
        floors.append(floor_fit(X, Y, batch, seed))
    median = statistics.median
    return {"batch": batch, "rounds": rounds,
            "chainrule_ms": median(ours) / EPOCHS * 1e3, "floor_ms": median(floors) / EPOCHS * 1e3,
            "ratio_of_medians": median(ours) / median(floors),
            "median_of_ratios": median([a / b for a, b in zip(ours, floors)]),
            "fastest_ratio": min(ours) / min(floors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    limit_threads(args.threads or None, "chainrule")
    result = compare(args.batch, args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    print(f"W2 batch {args.batch}, {args.rounds} alternating rounds in one process: "
          f"chainrule {result['chainrule_ms']:.3f} ms/epoch, floor {result['floor_ms']:.3f}; "
          f"ratio of medians {result['ratio_of_medians']:.3f}, median of ratios "
          f"{result['median_of_ratios']:.3f}, fastest/fastest {result['fastest_ratio']:.3f}")


if __name__ == "__main__":
    main()
