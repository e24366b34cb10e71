"""W10: what dropout and batch normalisation cost, chainrule beside PyTorch eager.

W2's network and data (digits, 64-100-10, relu hidden layer, softmax and cross-entropy, plain
SGD at learning rate 0.1, batch 200 and 32), trained for whole epochs twice in one process:
plain, and with batch normalisation on the hidden layer's sop and dropout 0.2 after its
activation (``Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear`` in PyTorch's terms). The two
alternate within the process (ABBA, fresh networks from the same seed each time), so that the
ratio ``with layers / plain`` sees the same caches and the same load::

    python benchmarks/layers_speed.py IMPL [--batch 200] [--seed 0] [--threads 1]

prints one JSON line (IMPL: chainrule or torch). ``run.py --workloads W10`` starts one such
process per library per round, alternating the libraries, and tabulates (:func:`sections`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from measuring import run_json  # noqa: E402
from workers import digits_split, limit_threads, torch_sgd_epochs  # noqa: E402

#: Epochs per timed fit (W2's 50); REPEATS times plain, layers, layers, plain.
EPOCHS, REPEATS = 50, 2
DROPOUT = 0.2


def chainrule_trainer(X, Y, batch: int, seed: int):
    import chainrule

    def network(layers: bool):
        extra = {"dropout": DROPOUT, "normalization": "batch"} if layers else {}
        return chainrule.Network([64, 100, 10], activation="relu",
                                 output_activation="softmax",
                                 loss="categorical_cross_entropy", seed=seed, **extra)

    def train(layers: bool, epochs: int):
        net = network(layers)
        start = time.perf_counter()
        net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=batch, progress=False)
        return time.perf_counter() - start, net.predict

    return train


def torch_trainer(X, Y, batch: int, seed: int):
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(np.argmax(Y, axis=1))

    def network(layers: bool):
        torch.manual_seed(seed)
        middle = [torch.nn.BatchNorm1d(100), torch.nn.ReLU(), torch.nn.Dropout(DROPOUT)] \
            if layers else [torch.nn.ReLU()]
        return torch.nn.Sequential(torch.nn.Linear(64, 100), *middle,
                                   torch.nn.Linear(100, 10)).double()

    def train(layers: bool, epochs: int):
        model = network(layers)
        model.train()
        elapsed = torch_sgd_epochs(model, Xt, yt, epochs, batch)
        model.eval()

        def predict(inputs):
            with torch.no_grad():
                return model(torch.from_numpy(inputs)).numpy()

        return elapsed, predict

    return train


def measure_one(impl: str, batch: int, seed: int) -> dict:
    """ms per epoch plain and with the layers (each the median of its timed fits), their
    ratio, and each variant's held-out accuracy after its last fit."""
    X, Y, X_test, y_test = digits_split()
    train = {"chainrule": chainrule_trainer, "torch": torch_trainer}[impl](X, Y, batch, seed)
    train(False, 1)  # warm: imports, buffers, first calls
    train(True, 1)
    times: dict[bool, list[float]] = {False: [], True: []}
    accuracy = {}
    for _ in range(REPEATS):
        for layers in (False, True, True, False):
            elapsed, predict = train(layers, EPOCHS)
            times[layers].append(elapsed / EPOCHS * 1e3)
            accuracy[layers] = float(np.mean(np.argmax(predict(X_test), axis=1) == y_test))
    plain, layered = float(np.median(times[False])), float(np.median(times[True]))
    return {"plain_ms": plain, "layers_ms": layered, "ratio": layered / plain,
            "plain_accuracy": accuracy[False], "layers_accuracy": accuracy[True]}


def run_process(impl: str, batch: int, seed: int, threads: int | None, meter) -> dict | None:
    command = [sys.executable, os.path.abspath(__file__), impl, "--batch", str(batch),
               "--seed", str(seed)]
    return run_json(command, threads, meter, f"W10 {impl} batch {batch}")


def sections(impls: list[str], rounds: int, threads: int | None, results: dict, meter_class,
             table) -> list[str]:
    """W10's tables, one per batch size: for each library, the median over ``rounds`` rounds
    (a process each, seed = round, libraries alternating) of ms per epoch plain and with the
    layers, and of the per-process ratio. ``meter_class`` and ``table`` are run.py's."""
    out = []
    for batch in (200, 32):
        print(f"W10 digits 64-100-10, batch {batch}: plain and with batch norm + dropout "
              f"{DROPOUT}")
        samples: dict[str, list[dict]] = defaultdict(list)
        with meter_class() as meter:
            for round_index in range(rounds):
                order = impls[round_index % len(impls):] + impls[:round_index % len(impls)]
                for impl in order:
                    data = run_process(impl, batch, round_index, threads, meter)
                    if data is not None:
                        samples[impl].append(data)
        summary = {impl: {key: float(np.median([v[key] for v in values]))
                          for key in values[0]} for impl, values in samples.items()}
        summary["_load"] = meter.load
        results[f"W10_b{batch}"] = summary
        rows = [[impl, f"{s['plain_ms']:.2f}", f"{s['layers_ms']:.2f}", f"{s['ratio']:.2f}",
                 f"{min(v['ratio'] for v in samples[impl]):.2f}–"
                 f"{max(v['ratio'] for v in samples[impl]):.2f}",
                 f"{s['plain_accuracy']:.3f} / {s['layers_accuracy']:.3f}"]
                for impl, s in summary.items() if not impl.startswith("_")]
        out.append(table(
            f"W10 dropout {DROPOUT} + batch norm, digits, batch {batch}: ms per epoch "
            f"(load {meter.load:.2f}, {rounds} rounds)",
            ["implementation", "plain ms/epoch", "with the layers ms/epoch",
             "× plain (median)", "× plain (range over rounds)",
             "held-out accuracy plain / with the layers"], rows))
        print(out[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=["chainrule", "torch"])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads, args.impl)
    print(json.dumps(measure_one(args.impl, args.batch, args.seed)))


if __name__ == "__main__":
    main()
