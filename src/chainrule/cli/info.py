"""``chainrule info``: a model file described: its network, parameters and metadata, and the
columns as prepared for training."""

from __future__ import annotations

import json

__all__ = ["add_parser", "cmd_info"]


def add_parser(commands, formatter_class):
    """``info MODEL`` (its help is argparse's plain one)."""
    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model")
    return info


def cmd_info(args) -> int:
    """Print the model's description as JSON, then its columns' preparation if it has one."""
    from ..features import Preparation
    from ..network import load

    net = load(args.model)
    print(json.dumps({"network": repr(net), "parameters": net.n_parameters,
                      "metadata": net.metadata}, indent=2))
    if "preparation" in net.metadata:
        print()
        print("the columns, as prepared for training")
        print(Preparation.from_metadata(net.metadata, net.n_inputs).summary_text())
    return 0
