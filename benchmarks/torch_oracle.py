"""chainrule against PyTorch, an oracle nobody here wrote: the same weights, the same batches,
50 updates, float64, agreement to 1e-10.

    python benchmarks/torch_oracle.py [--markdown docs/oracle-latest.md] [--only NAME,...]

Prints a markdown table: each piece, the largest absolute difference between chainrule's and
PyTorch's weights after 50 updates (or, for a function, between their values and
derivatives), the largest relative difference, and whether it passes (absolute <= 1e-10).
Exits with status 1 when a piece fails, 0 otherwise; without torch it says so and exits 0.

The pieces live in small sibling modules, each optional (a module that is not there is skipped,
and the table says so):

* ``oracle_maths.py``: the activations, optimizers and schedules;
* ``oracle_layers.py``: dropout, batch and layer normalisation;
* ``oracle_regularisation.py``: L1, clipping, sample weights.

The contract a module keeps: it imports torch at its top (so it is only imported where torch
is), sets nothing global but ``torch.set_default_dtype(torch.float64)``, and exposes ``CASES``,
a list of ``(name, function)`` pairs. ``function()`` takes no argument, runs its comparison
(deterministic: fixed seeds) in well under a second, and returns the largest absolute
difference (a float), or a pair ``(largest absolute, largest relative difference)``. A case
that cannot compare what it names raises. ``tests/test_torch_oracle.py`` runs every case of
every module where torch is installed, so ``make test`` checks the agreement; ``make bench``
runs this script and writes the table to ``docs/oracle-latest.md``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
#: The sibling modules holding cases, in the table's order.
MODULES = ("oracle_maths", "oracle_layers", "oracle_regularisation")
#: The agreement asked for, on float64 weights after 50 updates.
TOLERANCE = 1e-10
Case = tuple[str, Callable[[], "float | tuple[float, float]"]]


def load_cases() -> tuple[list[tuple[str, str, Callable]], list[str]]:
    """``([(module, name, function)], [missing module])``, the modules imported from beside
    this file."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    cases, missing = [], []
    for module_name in MODULES:
        if importlib.util.find_spec(module_name) is None:
            missing.append(module_name)
            continue
        module = importlib.import_module(module_name)
        cases += [(module_name, name, function) for name, function in module.CASES]
    return cases, missing


def run_case(function: Callable) -> tuple[float, float | None]:
    """``(largest absolute, largest relative or None)`` of one case."""
    result = function()
    if isinstance(result, tuple):
        return float(result[0]), float(result[1])
    return float(result), None


def table(rows: list[tuple[str, str, float, float | None]]) -> str:
    lines = ["| piece | module | max abs difference | max relative | pass |",
             "|---|---|---|---|---|"]
    for module, name, absolute, relative in rows:
        shown = "-" if relative is None else f"{relative:.2e}"
        verdict = "yes" if absolute <= TOLERANCE else "**no**"
        lines.append(f"| {name} | {module} | {absolute:.2e} | {shown} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--only", help="comma-separated piece names to run")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("torch") is None:
        print("torch is not installed (pip install -e '.[bench]'): no oracle to compare with")
        return 0
    import torch

    cases, missing = load_cases()
    wanted = None if args.only is None else set(args.only.split(","))
    rows = []
    for module, name, function in cases:
        if wanted is None or name in wanted:
            rows.append((module, name, *run_case(function)))
    text = [f"chainrule against torch {torch.__version__}, float64, 50 updates from the same "
            f"weights on the same batches; pass: max abs difference <= {TOLERANCE:g} "
            f"({time.strftime('%Y-%m-%d')}).", "", table(rows)]
    if missing:
        text += ["", "Modules not present (skipped): " + ", ".join(missing) + "."]
    output = "\n".join(text)
    print(output)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as handle:
            handle.write("# chainrule against PyTorch\n\nWritten by `benchmarks/torch_oracle.py`"
                         " (`make bench`).\n\n" + output + "\n")
    return 0 if all(absolute <= TOLERANCE for _, _, absolute, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
