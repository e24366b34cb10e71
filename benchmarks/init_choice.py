"""He or Glorot for ``chainrule train``'s relu networks? Measured on real tables.

Every real table bundled with scikit-learn (no download; statsmodels, whose data sets would be
the next source, is not in the project's environment) is written as a CSV to a temporary folder
and trained on with the command line itself, ``chainrule.cli.main(["train", file, "--task",
task, "--init", init, "--seed", seed, ...])``, with every other option at the command's defaults
(the table's heading prints the settings the model files record; ``--extra`` adds options). The
seed picks both the held-out rows and the initial weights, so he and xavier meet on the same
split for each seed. The held-out metric the command prints (accuracy, or R² for regression),
the held-out loss and the epochs trained are collected, and a markdown table gives their medians
over the seeds for each initialiser, the median of the paired (same seed) differences, and how
often he beat xavier.

    .venv/bin/python benchmarks/init_choice.py --seeds 10
    .venv/bin/python benchmarks/init_choice.py --seeds 10 --extra="--epochs 50 --validation-split 0"

scikit-learn's ``load_linnerud`` is left out: its 20 rows leave 5 held out, too few for an R².
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import statistics
import sys
import tempfile
import time

from chainrule import cli, load

INITS = ("he", "xavier")


def _sklearn_tables():
    """(name, task, frame) for scikit-learn's bundled tables (no download); the target is the
    last column, the command's default target."""
    from sklearn import datasets

    tables = []
    for name, loader, task, options in [
        ("diabetes", datasets.load_diabetes, "regression", {"scaled": False}),
        ("breast_cancer", datasets.load_breast_cancer, "classification", {}),
        ("wine", datasets.load_wine, "classification", {}),
        ("iris", datasets.load_iris, "classification", {}),
        ("digits", datasets.load_digits, "classification", {}),
    ]:
        frame = loader(as_frame=True, **options).frame
        target = frame.pop("target")
        frame["target"] = target
        tables.append((name, task, frame))
    return tables


_METRIC = re.compile(r"(\w+) (-?\d+(?:\.\d+)?|nan)")


def train(path: str, task: str, init: str, seed: int, out: str, extra: list[str]) -> dict:
    """One ``chainrule train`` run: the held-out metrics it prints, and from the model file the
    epochs it trained and the settings it trained with."""
    argv = ["train", path, "--task", task, "--init", init, "--seed", str(seed),
            "--out", out, "--no-progress", *extra]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    if code != 0:
        raise RuntimeError(f"chainrule {' '.join(argv)} exited {code}: {stderr.getvalue()}")
    line = next(line for line in stdout.getvalue().splitlines()
                if line.startswith("held-out"))
    result = {key: float(value) for key, value in _METRIC.findall(line.split(":", 1)[1])}
    training = load(out).metadata.get("training", {})
    result["epochs_done"] = training.get("epochs_done", float("nan"))
    result["settings"] = {key: training.get(key) for key in
                          ("epochs", "optimizer", "learning_rate", "batch_size", "l2")}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--tables", help="comma-separated names to run (default: all)")
    parser.add_argument("--extra", default="", help="more options for chainrule train")
    args = parser.parse_args(argv)
    extra = shlex.split(args.extra)
    tables = _sklearn_tables()
    if args.tables:
        wanted = set(args.tables.split(","))
        tables = [t for t in tables if t[0] in wanted]
    seeds = range(args.seeds)
    rows, settings = [], {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="init_choice_") as folder:
        for name, task, frame in tables:
            path = os.path.join(folder, f"{name}.csv")
            frame.to_csv(path, index=False)
            metric = "accuracy" if task == "classification" else "r2"
            results = {init: [train(path, task, init, seed,
                                    os.path.join(folder, f"{name}-{init}-{seed}.npz"), extra)
                              for seed in seeds] for init in INITS}
            he = [r[metric] for r in results["he"]]
            xavier = [r[metric] for r in results["xavier"]]
            wins = sum(h > x for h, x in zip(he, xavier))
            losses = sum(h < x for h, x in zip(he, xavier))
            rows.append({
                "table": f"{name} ({frame.shape[0]}x{frame.shape[1] - 1})", "task": task,
                "metric": metric,
                "he": statistics.median(he), "xavier": statistics.median(xavier),
                "paired": statistics.median(h - x for h, x in zip(he, xavier)),
                "record": f"{wins}-{losses}-{len(he) - wins - losses}",
                "loss_he": statistics.median(r["loss"] for r in results["he"]),
                "loss_xavier": statistics.median(r["loss"] for r in results["xavier"]),
                "epochs_he": statistics.median(r["epochs_done"] for r in results["he"]),
                "epochs_xavier": statistics.median(r["epochs_done"] for r in results["xavier"]),
            })
            settings = results["he"][0]["settings"]
            print(f"  {name}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    shown = ", ".join(f"{key} {value}" for key, value in settings.items())
    print(f"\nchainrule train, its defaults{' + ' + args.extra if extra else ''} ({shown}); "
          f"medians over seeds 0..{args.seeds - 1} of the held-out metric, of the held-out "
          "loss (lower is better) and of the epochs trained\n")
    print("| table (rows x features) | task | metric | he | xavier | he - xavier "
          "| median paired diff | he wins-losses-ties | loss he | loss xavier | epochs he "
          "| epochs xavier |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['table']} | {r['task']} | {r['metric']} | {r['he']:.4f} | "
              f"{r['xavier']:.4f} | {r['he'] - r['xavier']:+.4f} | {r['paired']:+.4f} | "
              f"{r['record']} | {r['loss_he']:.4f} | {r['loss_xavier']:.4f} | "
              f"{r['epochs_he']:g} | {r['epochs_xavier']:g} |")
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
