"""``chainrule predict``: a model's predictions for a table, as CSV.

The model's own preparation is applied to the table block by block
(:mod:`chainrule.cli.model_table`). Nothing is written before the first block is predicted;
with ``--out`` the file appears whole or not at all.
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .arguments import add_model_command

if TYPE_CHECKING:  # pragma: no cover
    from ..features import Preparation
    from ..network import Network

__all__ = ["add_parser", "cmd_predict"]


def add_parser(commands, formatter_class):
    """``predict MODEL DATA [--out FILE]``."""
    sub = add_model_command(commands, "predict", "write predictions as CSV", formatter_class)
    sub.add_argument("--out", "-o", help="CSV file (default: stdout)")
    return sub


def cmd_predict(args) -> int:
    """Write the model's predictions for every row of the table, as CSV: to ``--out`` whole
    or not at all, or to stdout once the first block is predicted."""
    from .._files import atomic_write, check_output, claim, together
    from .model_table import model_blocks, warn_unseen

    path = None if args.out is None else check_output(args.out, "predictions",
                                                      [args.model, args.data])
    blocks = model_blocks(args, need_target=False)
    net, prep = next(blocks)
    classes = prep.classes
    if prep.task == "classification":
        columns = ["predicted", f"probability_{classes[1]}"] if net.n_outputs == 1 else \
            ["predicted"] + [f"probability_{c}" for c in classes]
    else:
        name = prep.target_name or "predicted"
        columns = [name] if net.n_outputs == 1 else [f"{name}_{i}" for i in range(net.n_outputs)]
    unseen: dict[str, int] = {}
    rows = _prediction_rows(args, net, prep, blocks, unseen)
    first = next(rows, None)  # the first block predicted before anything is written

    def write_all(stream) -> None:
        """The predictions, block by block, in the standard CSV dialect (quoted as needed)."""
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for block in itertools.chain([first] if first is not None else [], rows):
            writer.writerows(block)

    if path is None:
        write_all(sys.stdout)
    else:
        with claim([path]), together(), atomic_write(path) as handle:
            stream = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            write_all(stream)
            stream.flush()
            stream.detach()  # the atomic writer closes the file itself
    warn_unseen(unseen)
    return 0



def _prediction_rows(args, net: Network, prep: Preparation, blocks: Iterator,
                     unseen: dict[str, int]) -> Iterator[list[list[str]]]:
    """The CSV rows of each block's predictions (checked finite before any is given)."""
    from ..metrics import class_indices, target_units
    from .model_table import DataError, check_outputs, count_unseen

    classes = prep.classes
    for X, _ in blocks:
        count_unseen(prep, unseen)
        try:
            predicted = net.predict(X)
            check_outputs(prep, predicted)
            if prep.task == "classification":
                index = class_indices(net, predicted)
                labels = prep.labels(index) if classes else index.tolist()
                values = predicted if net.n_outputs > 1 else predicted[:, :1]
            else:
                labels = None
                with np.errstate(all="ignore"):
                    values = target_units(net, predicted, to_network=False)
                check_outputs(prep, values)
        except DataError as exc:
            raise ValueError(f"{args.data}: {exc}") from None
        text = [[f"{v:.10g}" for v in row] for row in values.tolist()]
        yield text if labels is None else [[str(label), *row]
                                            for label, row in zip(labels, text)]
