"""The measuring behind ``run.py``: each measurement in a new process (``workers.py``), the
machine's load beside it, the environment, and the tables.

Within a round the implementations alternate, and the order rotates from round to round;
:func:`measure` returns medians over rounds and, per round, the ratio to the fastest
implementation of that round (median of those).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

NEEDS = {"sklearn": "sklearn", "torch": "torch", "micrograd": "micrograd",
         "dask1": "distributed", "dask2": "distributed", "pandas": "pandas",
         "dask2-blocks": "distributed", "dask2-global": "distributed",
         "epoch-dask2-blocks": "distributed"}


def available(impl: str) -> bool:
    module = NEEDS.get(impl)
    return module is None or importlib.util.find_spec(module) is not None


def cpu_busy() -> tuple[float, float]:
    with open("/proc/stat") as handle:
        fields = [float(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class LoadMeter:
    """The share of the machine's cores that processes other than ours used meanwhile."""

    def __enter__(self):
        self.busy, self.total = cpu_busy()
        self.own = 0.0
        return self

    def add_own(self, seconds: float) -> None:
        self.own += seconds

    def __exit__(self, *exc):
        busy, total = cpu_busy()
        ticks = os.sysconf("SC_CLK_TCK")
        elapsed = (total - self.total) / ticks / os.cpu_count()
        other = (busy - self.busy) / ticks - self.own
        self.load = max(other, 0.0) / max(elapsed, 1e-9)


def run_worker(workload: str, impl: str, threads: int | None, meter: LoadMeter,
               **options) -> dict | None:
    command = [sys.executable, os.path.join(HERE, "workers.py"), workload, impl]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return run_json(command, threads, meter, f"{workload} {impl} {options}")


def run_json(command: list[str], threads: int | None, meter: LoadMeter, label: str
             ) -> dict | None:
    """Run a measuring script in a process of its own (``--threads`` added when given): the
    JSON object its last line prints, with ``wall_s``; its CPU time counted as the run's own
    in ``meter``; ``None`` (said on stderr) when it fails."""
    if threads is not None:
        command = [*command, "--threads", str(threads)]
    start = time.perf_counter()
    usage_before = os.times()
    result = subprocess.run(command, capture_output=True, text=True)
    usage_after = os.times()
    meter.add_own((usage_after.children_user - usage_before.children_user)
                  + (usage_after.children_system - usage_before.children_system))
    if result.returncode != 0:
        print(f"  {label} failed: {result.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["wall_s"] = time.perf_counter() - start
    return data


def measure(workload: str, impls: list[str], rounds: int, threads: int | None, key: str,
            seeded: bool = False, **options) -> dict[str, dict]:
    """Run every implementation ``rounds`` times, alternating; medians and median ratios.

    ``seeded``: round ``i`` uses seed ``i`` (initial weights and shuffling), so accuracies are
    medians over seeds rather than one seed's luck."""
    samples: dict[str, list[dict]] = defaultdict(list)
    ratios: dict[str, list[float]] = defaultdict(list)
    with LoadMeter() as meter:
        for round_index in range(rounds):
            rotation = impls[round_index % len(impls):] + impls[:round_index % len(impls)]
            this_round = {}
            for impl in rotation:
                extra = {"seed": round_index} if seeded else {}
                data = run_worker(workload, impl, threads, meter, **options, **extra)
                if data is not None:
                    samples[impl].append(data)
                    this_round[impl] = data[key]
            if this_round:
                fastest = min(this_round.values())
                for impl, value in this_round.items():
                    ratios[impl].append(value / fastest)
    summary = {}
    for impl, values in samples.items():
        summary[impl] = {
            name: float(np.median([v[name] for v in values]))
            for name in values[0] if isinstance(values[0][name], (int, float))
        }
        summary[impl]["ratio_to_fastest"] = float(np.median(ratios[impl]))
    summary["_load"] = meter.load
    return summary


def ingest_file(megabytes: int) -> str:
    """A CSV of random numbers, about ``megabytes`` large, made once in benchmarks/results/."""
    folder = os.path.join(HERE, "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"ingest-{megabytes}mb.csv")
    if os.path.exists(path):
        return path
    rows = megabytes * 1_000_000 // 200  # about 200 bytes a row
    rng = np.random.default_rng(0)
    temporary = path + ".part"
    with open(temporary, "w") as handle:
        handle.write(",".join(f"x{i}" for i in range(20)) + ",y\n")
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), 21))
            np.savetxt(handle, block, delimiter=",", fmt="%.9g")
    os.replace(temporary, path)
    return path


def environment() -> dict:
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or "", "cpus": os.cpu_count(),
            "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib import metadata

    for package in ("chainrule", "scikit-learn", "torch", "micrograd", "threadpoolctl",
                    "dask", "distributed"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: pool.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for pool in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENBLAS_CORETYPE"):
        info[variable] = os.environ.get(variable, "unset")
    return info


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class Run:
    """What every workload's section reads and adds to."""

    args: argparse.Namespace
    threads: int | None
    results: dict
    sections: list[str]
    impls_of: Callable[[str], list[str]]
