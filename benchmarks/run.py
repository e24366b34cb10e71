"""chainrule's speed against scikit-learn, PyTorch, the tutorial's code and a NumPy floor.

    python benchmarks/run.py [--workloads W1,W2,W3,W4,W5,W6,W7,W8,W9,W10] [--rounds 3]
                             [--threads 1]
                             [--markdown docs/benchmarks-latest.md]

Every measurement runs in its own new process (``workers.py``, through ``measuring.py``);
within a round the implementations alternate, and the order rotates from round to round.
Tables give medians over rounds and, per round, the ratio to the fastest implementation of that
round (median of those). The machine's load from other processes is recorded, as are the
versions, the BLAS library and its threads (threadpoolctl). Implementations whose package is
missing are skipped and said so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from measuring import (  # noqa: E402
    LoadMeter,
    Run,
    available,
    environment,
    ingest_file,
    measure,
    table,
)

__all__ = ["IMPLS", "LoadMeter", "Run", "available", "environment", "ingest_file", "measure",
           "table"]

IMPLS = {
    "W1": ["chainrule", "chainrule_published", "chainrule_reach", "tutorial", "python_floats",
           "micrograd", "torch"],
    "W2": ["chainrule", "numpy_floor", "sklearn", "torch"],
    "W3": ["chainrule", "numpy_floor", "torch"],
    "W4": ["chainrule", "numpy_floor", "torch"],
    "W5": ["numpy", "dask1", "dask2"],
    "W6": ["chainrule", "chainrule_numpy", "pandas"],
    "W7": ["local", "dask2-blocks", "dask2-global"],
    "W7e": ["epoch-local", "epoch-dask2-blocks"],
    "W8": [],
    "W9": ["chainrule", "torch", "sklearn"],
    "W10": ["chainrule", "torch"],
}
def section_w1(run: Run) -> None:
    """W1: the tutorial's one neuron, µs per iteration (its scalar code, the script, others)."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    print("W1 tutorial (1 -> 1, sigmoid, squared error, lr 0.5, 10,000 iterations)")
    summary = measure("W1", impls_of("W1"), args.rounds, threads, "us_per_iter")
    results["W1"] = summary
    rows = [[impl, f"{s['us_per_iter']:.2f}", f"{s['ratio_to_fastest']:.2f}",
             f"{s['final_w']:.9f}"]
            for impl, s in sorted(summary.items(), key=lambda kv: kv[0])
            if not impl.startswith("_")]
    sections.append(table(f"W1 tutorial: µs per iteration (load {summary['_load']:.2f})",
                          ["implementation", "µs/iteration", "× fastest", "final w"],
                          rows))
    print(sections[-1])


def section_w9(run: Run) -> None:
    """W9: the generic engine's fixed cost per update, 2-3-1 on one sample, against PyTorch."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    print("W9 fixed cost per update (2-3-1 sigmoid, squared error, one sample, gd)")
    summary = measure("W9", impls_of("W9"), args.rounds, threads, "us_per_update")
    results["W9"] = summary
    torch_time = summary.get("torch", {}).get("us_per_update")
    rows = [[impl, f"{s['us_per_update']:.1f}",
             f"{s['us_per_update'] / torch_time:.2f}" if torch_time else "-",
             f"{s['ratio_to_fastest']:.2f}"]
            for impl, s in summary.items() if not impl.startswith("_")]
    sections.append(table(
        f"W9 fixed cost per update: µs per update (load {summary['_load']:.2f})",
        ["implementation", "µs/update", "× PyTorch eager", "× fastest (per round)"], rows))
    print(sections[-1])


def section_w2(run: Run) -> None:
    """W2: digits 64-100-10 at batch 200 and 32, against the NumPy floor."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    for batch in (200, 32):
        print(f"W2 digits 64-100-10, batch {batch}")
        # At least 5 rounds: each round is another seed, and accuracy is compared too.
        summary = measure("W2", impls_of("W2"), max(args.rounds, 5), threads,
                          "ms_per_epoch", seeded=True, batch=batch)
        results[f"W2_b{batch}"] = summary
        floor = summary.get("numpy_floor", {}).get("ms_per_epoch")
        rows = [[impl, f"{s['ms_per_epoch']:.2f}",
                 f"{s['ms_per_epoch'] / floor:.2f}" if floor else "-",
                 f"{s['ratio_to_fastest']:.2f}", f"{s['accuracy']:.3f}"]
                for impl, s in summary.items() if not impl.startswith("_")]
        sections.append(table(
            f"W2 digits, batch {batch}: ms per epoch (load {summary['_load']:.2f})",
            ["implementation", "ms/epoch", "× numpy floor", "× fastest (per round)",
             "held-out accuracy (median over seeds)"], rows))
        print(sections[-1])
        sections.append(alternating_w2(batch, threads))
        print(sections[-1])


def alternating_w2(batch: int, threads: int | None) -> str:
    """W2's ratio to the floor with both fits alternating in one process
    (``alternating.py``), steadier than the ratio of separate processes above."""
    command = [sys.executable, os.path.join(HERE, "alternating.py"), "--batch", str(batch),
               "--rounds", "15", "--threads", str(threads or 0), "--json"]
    found = json.loads(subprocess.run(command, capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1])
    return (f"In one process, alternating seed by seed (`benchmarks/alternating.py --batch "
            f"{batch}`): chainrule {found['chainrule_ms']:.2f} ms/epoch, the floor "
            f"{found['floor_ms']:.2f}: **{found['ratio_of_medians']:.3f}×** (fastest runs "
            f"{found['fastest_ratio']:.3f}×).\n")


def section_w3(run: Run) -> None:
    """W3: one step of a big MLP (784-1024-1024-10), against the matmul rate."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    for dtype in ("float32", "float64"):
        print(f"W3 784-1024-1024-10, batch 512, {dtype}")
        summary = measure("W3", impls_of("W3"), args.rounds, threads, "ms_per_step",
                          dtype=dtype)
        results[f"W3_{dtype}"] = summary
        rows = [[impl, f"{s['ms_per_step']:.1f}", f"{s['gflops']:.1f}",
                 f"{s['matmul_gflops']:.1f}", f"{s['fraction']:.2f}",
                 f"{s['ratio_to_fastest']:.2f}"]
                for impl, s in summary.items() if not impl.startswith("_")]
        sections.append(table(
            f"W3 big MLP, {dtype}: one step (load {summary['_load']:.2f})",
            ["implementation", "ms/step", "GFLOP/s (6·B·Σ in·out)", "matmul GFLOP/s",
             "fraction of matmul", "× fastest"], rows))
        print(sections[-1])


def section_w4(run: Run) -> None:
    """W4: the cost per row as the data grows, and the memory above the data."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    rows = []
    per_row = defaultdict(dict)
    for n_rows in (1_000, 10_000, 100_000):
        print(f"W4 scaling, {n_rows} rows")
        summary = measure("W4", impls_of("W4"), args.rounds, threads, "ms_per_epoch",
                          rows=n_rows)
        results[f"W4_{n_rows}"] = summary
        for impl, s in summary.items():
            if impl.startswith("_"):
                continue
            per_row[impl][n_rows] = s["us_per_row"]
            rows.append([impl, f"{n_rows:,}", f"{s['ms_per_epoch']:.1f}",
                         f"{s['us_per_row']:.2f}", f"{s['data_mib']:.1f}",
                         f"{s['peak_extra_mib']:.1f}", f"{summary['_load']:.2f}"])
    for impl, values in per_row.items():
        if 1_000 in values and 100_000 in values:
            growth = values[100_000] / values[1_000]
            rows.append([impl, "100k ÷ 1k per-row cost", f"{growth:.2f}", "", "", "", ""])
    sections.append(table("W4 scaling: 64-100-10, batch 200",
                          ["implementation", "rows", "ms/epoch", "µs/row", "data MiB",
                           "peak memory above data MiB", "load"], rows))
    print(sections[-1])


def section_w6(run: Run) -> None:
    """W6: ingest of a numeric CSV to float64 (100 MB and 1 GB)."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    rows = []
    for megabytes in (100, 1000):
        path = ingest_file(megabytes)
        print(f"W6 ingest, {megabytes} MB CSV")
        # The gigabyte file: one round (each read takes seconds and a gigabyte of memory).
        summary = measure("W6", impls_of("W6"), args.rounds if megabytes < 1000 else 1,
                          threads, "seconds", path=path)
        results[f"W6_{megabytes}"] = summary
        base = summary.get("pandas", {}).get("seconds")
        for impl, s in summary.items():
            if not impl.startswith("_"):
                split = (f"{s['read_seconds']:.2f} + {s['prepare_seconds']:.2f}"
                         if "read_seconds" in s else "")
                rows.append([impl, f"{megabytes:,} MB", f"{s['seconds']:.2f}", split,
                             f"{s['seconds'] / base:.2f}" if base else "-",
                             f"{s['mb_per_s']:.0f}", f"{s['data_mib']:.0f}",
                             f"{s['peak_mib']:.0f}",
                             f"{s['peak_mib'] / s['data_mib']:.2f}",
                             f"{summary['_load']:.2f}"])
    sections.append(table("W6 ingest: a numeric CSV with a header, 21 columns, to float64",
                          ["implementation", "file", "seconds", "read + prepare",
                           "× pandas", "MB/s", "data MiB", "peak memory growth MiB",
                           "peak ÷ data", "load"], rows))
    print(sections[-1])


def section_w7(run: Run) -> None:
    """W7: out of core, `chainrule train` on a CSV, and an epoch alone, local and on Dask."""
    args, threads, results, sections, impls_of = (
        run.args, run.threads, run.results, run.sections, run.impls_of)
    rows = []
    for megabytes, data_mib in ((100, 80), (1000, 801)):
        path = ingest_file(megabytes)
        print(f"W7 chainrule train on a {megabytes} MB CSV, one epoch of mini-batches of 256")
        # One round each; the global mode (a scheduler round trip per step) at 100 MB only.
        impls = [i for i in impls_of("W7") if megabytes < 1000 or i != "dask2-global"]
        summary = measure("W7", impls, 1, threads, "seconds", path=path)
        results[f"W7_{megabytes}"] = summary
        local = summary.get("local", {}).get("seconds")
        rows += [[impl, f"{megabytes:,} MB ({data_mib} MiB of data)", f"{s['seconds']:.1f}",
                  f"{s['seconds'] / local:.2f}" if local else "-",
                  f"{s['driver_peak_mib']:.0f}", f"{s['worker_peak_mib']:.0f}",
                  f"{summary['_load']:.2f}"]
                 for impl, s in summary.items() if not impl.startswith("_")]
    sections.append(table(
        "W7 out of core: chainrule train on a CSV of 21 columns",
        ["implementation", "file", "seconds (read, train 1 epoch, evaluate, write)",
         "× local", "driver peak MiB", "largest worker peak MiB", "load"], rows))
    print(sections[-1])
    print("W7 an epoch alone: mini-batches of 256 on 375,000 rows, by block on 2 workers")
    summary = measure("W7", IMPLS["W7e"] if available("epoch-dask2-blocks")
                      else ["epoch-local"], args.rounds, threads, "seconds")
    results["W7_epoch"] = summary
    local = summary.get("epoch-local", {}).get("seconds")
    rows = [[impl, f"{s['seconds']:.2f}", f"{s['seconds'] / local:.2f}" if local else "-",
             f"{s['first_epoch']:.2f}", f"{summary['_load']:.2f}"]
            for impl, s in summary.items() if not impl.startswith("_")]
    sections.append(table("W7 an epoch alone: 375,000 x 20 rows, batch 256, 20-100-2, Adam",
                          ["implementation", "seconds per epoch (median of epochs 2-3)",
                           "× local", "first epoch (loads the blocks)", "load"], rows))
    print(sections[-1])


def section_w8(run: Run) -> None:
    """W8: the web playground playing, the page drawing every update; W8c: the page's first
    run from play to 90 % held-out accuracy (``playground.py`` measures and tabulates)."""
    if importlib.util.find_spec("playwright") is None or not os.path.exists(
            "/usr/bin/chromium"):
        print("W8 skipped: it needs playwright and Debian's chromium (the dev extra and "
              ".ci/run install them)")
        return
    import playground

    print("W8 the web playground playing, the page drawing every update")
    runs = [playground.run(seconds=8.0) for _ in range(run.args.rounds)]
    run.results["W8"] = runs
    for section in playground.tables(runs, table):
        run.sections.append(section)
        print(section)


def section_w5(run: Run) -> None:
    """W5: distributed full batch on Dask against one process."""
    threads, results, sections, impls_of = run.threads, run.results, run.sections, run.impls_of
    rows_table, step_times = [], defaultdict(dict)
    for n_rows in (10_000, 100_000, 1_000_000):
        print(f"W5 distributed full batch, {n_rows} rows")
        # One round: a step on a million rows takes seconds, and clusters start slowly.
        summary = measure("W5", impls_of("W5"), 1, threads, "s_per_step", rows=n_rows)
        results[f"W5_{n_rows}"] = summary
        for impl, s in summary.items():
            if not impl.startswith("_"):
                step_times[impl][n_rows] = s["s_per_step"]
                rows_table.append([impl, f"{n_rows:,}", f"{s['s_per_step']:.3f}",
                                   f"{summary['_load']:.2f}"])
    notes = []
    single = step_times.get("numpy", {})
    for impl in ("dask1", "dask2"):
        times = step_times.get(impl, {})
        if 10_000 in times and 10_000 in single:
            notes.append(f"- {impl}: overhead per step about "
                         f"{(times[10_000] - single[10_000]) * 1e3:.0f} ms (its step time "
                         "on 10,000 rows minus one process's)")
        faster = [n for n in sorted(times) if n in single and times[n] < single[n]]
        notes.append(f"- {impl}: faster than one process from "
                     f"{faster[0]:,} rows on" if faster else
                     f"- {impl}: not faster than one process at the sizes measured")
    sections.append(table("W5 distributed (Dask): full-batch step, 64-100-10, 1 round",
                          ["implementation", "rows", "s/step", "load"], rows_table)
                    + "\n" + "\n".join(notes) + "\n")
    print(sections[-1])


def section_w10(run: Run) -> None:
    """W10: W2's network with dropout and batch normalisation against without, chainrule beside
    PyTorch eager (``layers_speed.py`` measures, in a process per library and round)."""
    import layers_speed

    run.sections.extend(layers_speed.sections(run.impls_of("W10"), max(run.args.rounds, 5),
                                              run.threads, run.results, LoadMeter, table))


#: The sections in the order they run.
SECTIONS = [
    ("W1", section_w1),
    ("W9", section_w9),
    ("W2", section_w2),
    ("W10", section_w10),
    ("W3", section_w3),
    ("W4", section_w4),
    ("W6", section_w6),
    ("W7", section_w7),
    ("W8", section_w8),
    ("W5", section_w5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5,W6,W7,W8,W9,W10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads per process (0: library default)")
    parser.add_argument("--markdown", help="also write the tables to this file")
    parser.add_argument("--json", help="write the raw results to this file")
    args = parser.parse_args()
    threads = args.threads or None
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    results: dict = {"environment": environment(), "threads": threads or "default"}
    sections = []
    skipped = sorted({i for w in workloads for i in IMPLS[w] if not available(i)})
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    run = Run(args, threads, results, sections,
              lambda workload: [i for i in IMPLS[workload] if available(i)])
    for workload, section in SECTIONS:
        if workload in workloads:
            section(run)

    header = [f"Measured {started} by `python benchmarks/run.py --rounds {args.rounds} "
              f"--threads {args.threads}`.", "",
              "Environment: `" + json.dumps(results["environment"]) + "`", ""]
    if skipped:
        header.append(f"Skipped (package not installed): {', '.join(skipped)}.\n")
    text = "\n".join(header) + "\n" + "\n".join(sections)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text)
        print(f"wrote {args.markdown}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
