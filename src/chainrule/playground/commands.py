"""The ``chainrule`` command and the Python code that reproduce a playground run.

Both start from the data file the page offers (``Session.data_file``: an uploaded file as it was
uploaded, generated data as ``Session.data_csv`` writes it; built-in data needs none) and give
the same weights as the page, bit for bit: the command after whole epochs (it trains whole
epochs), the Python code at any step (it steps the same trainer, edits included). Both prepare
the data as the page does (:func:`chainrule.preparation.prepare`: the same roles, fill values,
labels, held-out rows and scaling), and hold out no validation rows and stop early never, as the
page does.
"""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["equivalents"]


def _data_file(session: Any) -> str:
    return session.data_file()


def _builtin(session: Any) -> bool:
    """Built-in data as it is (the command names it; no file needed)."""
    data = session.config["data"]
    return data["source"] == "builtin" and not data["added"] and not data["removed"]


def _cli(session: Any) -> tuple[str | None, str]:
    c = session.config
    reasons = []
    if c["data"]["source"] == "builtin" and c["data"]["name"] == "tutorial":
        return _tutorial(session)
    if not c["standardize"]:
        reasons.append("inputs that are not standardised")
    if not c["test_split"]:
        reasons.append("no held-out rows (--test-split is in (0, 1))")
    if len(set(c["activations"][:-1])) > 1:
        reasons.append("different activations in the hidden layers")
    if not all(session.net.has_bias):
        reasons.append("layers without bias")
    if c["optimizer_settings"] or c["schedule_settings"]:
        reasons.append("optimizer or schedule settings other than the defaults")
    if session.edits:
        reasons.append("edited weights")
    if c["model"] is not None:
        reasons.append("weights imported from a model file")
    if session.trainer.batch or session.sample:
        reasons.append("a position inside an epoch (the command trains whole epochs)")
    if session.trainer.epoch == 0:
        reasons.append("no epoch trained yet")
    elif c["schedule"] == "cosine" and session.trainer.epoch != session.trainer.epochs:
        reasons.append(f"a cosine schedule over {session.trainer.epochs} epochs stopped after "
                       f"{session.trainer.epoch} (the command's schedule spans the epochs it "
                       "trains)")
    if reasons:
        return None, "the command line cannot express " + "; ".join(reasons) + \
            ": the Python code can"
    data = c["data"]
    words = ["chainrule", "train"]
    if _builtin(session):
        words += ["--dataset", data["name"]]
    else:
        words += [_data_file(session), "--target", session.raw.target_name]
    hidden = ",".join(str(h) for h in c["hidden"]) or "none"
    words += ["--task", session.data.task, "--hidden", hidden]
    if c["hidden"]:
        words += ["--activation", c["activations"][0]]
    words += ["--output-activation", c["activations"][-1], "--loss", c["loss"],
              "--init", c["init"], "--optimizer", c["optimizer"],
              "--learning-rate", repr(c["learning_rate"]),
              "--batch-size", str(session.batch_size or len(session.data.X_train)),
              "--epochs", str(session.trainer.epoch), "--l2", repr(c["l2"]),
              "--seed", str(c["seed"]), "--split-seed", str(c["seed"]),
              "--test-split", repr(c["test_split"]),
              # The page trains every epoch on all its training rows: no validation share,
              # no early stopping (the command's defaults hold 10% out and stop early).
              "--validation-split", "0", "--early-stopping", "0",
              "--out", "playground.npz"]
    if c["schedule"] != "constant":
        words += ["--schedule", c["schedule"]]
    words += _layer_flags(c)
    return shlex.join(words), (f"trains {session.trainer.epoch} epochs: the weights on show, "
                               "bit for bit")


def _each(value: Any, text) -> str:
    """One value for every hidden layer, or one per hidden layer separated by commas (as
    ``--dropout`` and ``--normalization`` read them)."""
    return ",".join(text(v) for v in value) if isinstance(value, list) else text(value)


def _layer_flags(c: dict[str, Any]) -> list[str]:
    """``--dropout``, ``--normalization``, ``--l1``, ``--clip-norm`` and ``--clip-value``, where
    the run has them."""
    words = []
    if c["dropout"]:
        words += ["--dropout", _each(c["dropout"], repr)]
    if c["normalization"]:
        words += ["--normalization", _each(c["normalization"], lambda k: k or "none")]
    if c["l1"]:
        words += ["--l1", repr(c["l1"])]
    for name in ("clip_norm", "clip_value"):
        if c[name] is not None:
            words += [f"--{name.replace('_', '-')}", repr(c[name])]
    return words


def _tutorial(session: Any) -> tuple[str | None, str]:
    c = session.config
    if (session.net.sizes != [1, 1] or any(session.net.has_bias) or c["loss"] != "squared_error"
            or c["optimizer"] != "gd" or c["activations"][0] not in ("sigmoid", "tanh",
                                                                      "identity")
            or session.edits or c["standardize"] or c["schedule"] != "constant" or c["l2"]
            or _layer_flags(c)):
        return None, ("chainrule tutorial runs one neuron without bias, squared error, plain "
                      "gd, unstandardised: this run differs; the Python code reproduces it")
    weight = float(session.initial_parameters[0])
    words = ["chainrule", "tutorial", "--inputs", repr(float(session.raw.X[0, 0])),
             "--target", repr(float(session.raw.y[0, 0])),
             "--learning-rate", repr(c["learning_rate"]),
             "--iterations", str(max(1, session.position)), "--initial-weight", repr(weight),
             "--activation", c["activations"][0]]
    return shlex.join(words), "the tutorial's loop on the same sample and starting weight"


def _python(session: Any) -> str:
    c = session.config
    data = c["data"]
    lines = ["import numpy as np", "from chainrule import Network",
             "from chainrule.optimizers import get_optimizer",
             "from chainrule.preparation import prepare",
             "from chainrule.schedules import get_schedule", ""]
    options = (f"loss={c['loss']!r}, test_split={c['test_split']!r}, validation_split=0.0, "
               f"seed={c['seed']}, standardize={c['standardize']!r}")
    if _builtin(session):
        lines += ["from chainrule.datasets import load_dataset",
                  f"dataset = load_dataset({data['name']!r}, seed={c['seed']})",
                  f"data = prepare(dataset, {options})"]
    else:
        lines += [f"data = prepare({_data_file(session)!r}, {options},",
                  f"               target={session.raw.target_name!r}, "
                  f"task={session.data.task!r})",
                  "print(data.preparation.summary_text())  # what became of each column"]
    lines += [
        f"net = Network({session.net.sizes!r}, activation={c['activations']!r}, "
        f"bias={c['bias']!r}, loss={c['loss']!r}, init={c['init']!r}, seed={c['seed']}"
        f"{_layer_arguments(c)})",
        "net.metadata = dict(data.metadata)",
    ]
    if c["model"] is not None:
        lines += ["from chainrule import load",
                  "net.flat_parameters()[...] = load('imported-model.npz').flat_parameters()"]
    lines += [
        "trainer = net.trainer(",
        f"    data.X_train, data.Y_train, epochs={c['epochs']}, "
        f"learning_rate={c['learning_rate']!r},",
        f"    optimizer=get_optimizer({c['optimizer']!r}, **{c['optimizer_settings']!r}),",
        f"    batch_size={session.batch_size!r}, "
        f"schedule=get_schedule({c['schedule']!r}, **{c['schedule_settings']!r}),",
        f"    l2={c['l2']!r}, {_penalty_arguments(c)}progress=False)",
    ]
    position = session.position
    edits = session.edits
    if edits:
        lines.append("edits = {}  # step -> [(layer, from (None: the bias), to, value)]")
        for e in edits:
            lines.append(f"edits.setdefault({e['step']}, []).append("
                         f"({e['layer']}, {e['from']!r}, {e['to']}, {e['value']!r}))")
        lines += [
            "",
            "def apply(step):",
            "    for layer, source, to, value in edits.get(step, []):",
            "        if source is None:",
            "            net.biases[layer][to] = value",
            "        else:",
            "            net.weights[layer][source, to] = value",
            "",
            "apply(0)",
            f"for step in range(1, {position} + 1):",
            "    trainer.step()",
            "    apply(step)",
        ]
    else:
        lines += [f"for _ in range({position}):", "    trainer.step()"]
    if session.sample:
        lines.append(f"# the page shows the batch of update {position} row by row; the "
                     "weights it shows are those before that update")
    lines.append("print(net.weights, net.biases)")
    return "\n".join(lines) + "\n"


def _layer_arguments(c: dict[str, Any]) -> str:
    """``Network``'s ``dropout`` and ``normalization``, where the run has them."""
    text = f", dropout={c['dropout']!r}" if c["dropout"] else ""
    return text + (f", normalization={c['normalization']!r}" if c["normalization"] else "")


def _penalty_arguments(c: dict[str, Any]) -> str:
    """The trainer's ``l1``, ``clip_norm`` and ``clip_value``, where the run has them."""
    given = [f"{name}={c[name]!r}, " for name in ("l1", "clip_norm", "clip_value")
             if c[name]]
    return "".join(given)


def equivalents(session: Any) -> dict[str, Any]:
    """``{"cli", "cli_note", "python", "data_file"}`` for this session's current position."""
    command, note = _cli(session)
    return {"cli": command, "cli_note": note, "python": _python(session),
            "data_file": None if _builtin(session) else _data_file(session)}
