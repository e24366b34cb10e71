"""W2 in one process: chainrule's ``fit`` and the NumPy floor, alternating, seed by seed.

    OMP_NUM_THREADS=1 python benchmarks/alternating.py [--batch 200] [--rounds 15]

``run.py`` measures every fit in a new process, where single runs of the same code move by
±15 % on this machine (memory placement, the CPU's state). Here both run in the same process,
one after the other for each seed (50 epochs each, W2's network, data and learning rate), so
what the machine does to one it does to the other. Prints the medians of milliseconds per
epoch, the ratio of the medians, the median of the per-seed ratios and the ratio of the fastest
runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from floor import NumpyFloor  # noqa: E402
from workers import digits_split  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    X, Y, _, _ = digits_split()
    chainrule_fit(X, Y, args.batch, 0), floor_fit(X, Y, args.batch, 0)  # warm both
    ours, floors = [], []
    for seed in range(args.rounds):
        ours.append(chainrule_fit(X, Y, args.batch, seed))
        floors.append(floor_fit(X, Y, args.batch, seed))
    median = statistics.median
    print(f"W2 batch {args.batch}, {args.rounds} alternating rounds in one process: "
          f"chainrule {median(ours) / EPOCHS * 1e3:.3f} ms/epoch, floor "
          f"{median(floors) / EPOCHS * 1e3:.3f}; ratio of medians "
          f"{median(ours) / median(floors):.3f}, median of ratios "
          f"{median([a / b for a, b in zip(ours, floors)]):.3f}, fastest/fastest "
          f"{min(ours) / min(floors):.3f}")


if __name__ == "__main__":
    main()
