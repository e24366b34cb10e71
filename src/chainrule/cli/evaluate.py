"""``chainrule evaluate``: a model's metrics on a labelled table, as JSON.

The model's own preparation is applied to the table block by block
(:mod:`chainrule.cli.model_table`), and the metrics are sums over the blocks
(:class:`chainrule.metrics.Metrics`), so a file of any size is scored in bounded memory.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from .arguments import add_model_command

__all__ = ["add_parser", "cmd_evaluate"]


def add_parser(commands, formatter_class):
    """``evaluate MODEL DATA``."""
    return add_model_command(commands, "evaluate", "print metrics on labelled data",
                             formatter_class)


def cmd_evaluate(args) -> int:
    """Print the model's metrics on the table's rows that have a target, as one JSON line."""
    from ..metrics import Metrics
    from .model_table import DataError, check_outputs, count_unseen, model_blocks, warn_unseen

    blocks = model_blocks(args, need_target=True)
    net, prep = next(blocks)
    metrics = Metrics(net)
    unseen: dict[str, int] = {}
    for X, Y in blocks:
        count_unseen(prep, unseen)
        if len(X):
            try:
                check_outputs(prep, net.predict(X))
            except DataError as exc:
                raise ValueError(f"{args.data}: {exc}") from None
            with np.errstate(all="ignore"):
                metrics.add(X, Y)
    skipped = unseen.pop("(rows without a target, not scored)", 0)
    if skipped:
        print(f"chainrule: note: {skipped:,} row(s) without a target in {args.data} were not "
              "scored", file=sys.stderr)
    if not metrics.rows:
        raise ValueError(f"{args.data}: no row has a target ({prep.target_name!r})")
    warn_unseen(unseen)
    # JSON has no NaN: an undefined metric (R² of a constant target) is null.
    print(json.dumps(_json_safe(metrics.result())))
    return 0


def _json_safe(value: Any) -> Any:
    """Floats rounded to 6 digits, NaN and infinities as null, all the way down."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if np.isfinite(value) else None
    return value
