"""The playground's sessions: configuration checks, exact replay, bounded history, the chain of
one weight against the engine, and the model, command and code a run gives away."""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import json
import shlex
import tracemalloc

import numpy as np
import pytest

from chainrule import cli, load
from chainrule.datasets.planar import GENERATORS, generate
from chainrule.explain import explain
from chainrule.gradcheck import numerical_derivative
from chainrule.network import Network
from chainrule.optimizers import OPTIMIZERS
from chainrule.playground import budget, chains, timeline
from chainrule.playground import session as session_module
from chainrule.playground.config import LIMITS, ConfigError, check_config
from chainrule.playground.session import Session
from chainrule.preparation import prepare
from chainrule.tables import read_table

SMALL = {"data": {"source": "generator", "name": "xor", "samples": 60, "noise": 0.05,
                  "classes": 2, "seed": 3},
         "hidden": [3, 4], "activations": ["tanh", "sigmoid", "sigmoid"],
         "loss": "binary_cross_entropy", "batch_size": 8, "learning_rate": 0.2, "epochs": 50}


def config(**changes):
    return {**SMALL, **changes}


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("changes, field", [
    ({"hidden": [3, 0]}, "hidden[1]"),
    ({"hidden": [3, "x"]}, "hidden[1]"),
    ({"activations": ["tanh"]}, "activations"),
    ({"activations": ["tanh", "nope", "sigmoid"]}, "activations[1]"),
    ({"loss": "hinge"}, "loss"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"test_split": 0.95}, "test_split"),
    ({"data": {"source": "generator", "name": "circle", "samples": 10**6}}, "data.samples"),
    ({"data": {"source": "generator", "name": "circle", "classes": 3}}, "data.classes"),
    ({"data": {"source": "web"}}, "data.source"),
    ({"data": {"source": "upload", "upload": "../etc"}}, "data.upload"),
    ({"edits": [{"step": -1, "layer": 0, "to": 0, "value": 1}]}, "edits[0].step"),
    ({"surprise": 1}, "unknown configuration field"),
    ({"epochs": 10**9}, "epochs"),
    ({"bias": [True, False]}, "bias"),
    ({"bias": "yes"}, "bias"),
    ({"data": {"source": "upload", "upload": "abc123", "added": [[0, 0, 1]]}}, "data.added"),
    ({"data": {"source": "upload", "upload": "abc123", "removed": [2]}}, "data.removed"),
])
def test_a_bad_configuration_names_its_field(changes, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Session(config(**changes))


def test_the_library_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="softmax"):
        Session(config(activations=["softmax", "tanh", "sigmoid"]))
    with pytest.raises(ValueError, match="parameters"):
        Session(config(hidden=[1024, 1024], activations=["tanh", "tanh", "sigmoid"]))


def test_defaults_fill_in():
    filled = check_config({})
    assert filled["hidden"] == [8, 8] and filled["data"]["name"] == "circle"


# ---------------------------------------------------------------------------- the data
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic_and_labelled(name):
    classes = 3 if name in ("spiral", "gaussians") else 2
    first = generate(name, seed=5, n_samples=90, noise=0.1, n_classes=classes)
    again = generate(name, seed=5, n_samples=90, noise=0.1, n_classes=classes)
    other = generate(name, seed=6, n_samples=90, noise=0.1, n_classes=classes)
    assert first.X.shape == (90, 2)
    assert np.array_equal(first.X, again.X) and not np.array_equal(first.X, other.X)
    if first.task == "classification":
        assert sorted(set(first.y.tolist())) == list(range(classes))
    else:
        assert first.y.shape == (90, 1)


def test_added_and_removed_points():
    base = Session(config())
    changed = Session(config(data={**SMALL["data"], "added": [[0.5, 0.5, 1]],
                                   "removed": [0, 7]}))
    assert len(changed.raw.X) == len(base.raw.X) - 1
    assert np.array_equal(changed.raw.X[-1], [0.5, 0.5])
    assert np.array_equal(changed.raw.X[0], base.raw.X[1])


# ---------------------------------------------------------------------------- stepping
def test_stepping_equals_fit():
    session = Session(config())
    session.step("epoch", 3)
    c = session.config
    data = prepare(generate("xor", 3, 60, 0.05, 2), c["loss"], c["test_split"], 0.0, c["seed"])
    net = Network(session.net.sizes, activation=c["activations"], loss=c["loss"],
                  init=c["init"], seed=c["seed"])
    net.fit(data.X_train, data.Y_train, epochs=3, batch_size=8, learning_rate=0.2,
            optimizer="gd", progress=False)
    assert np.array_equal(net.flat_parameters(), session.net.flat_parameters())
    assert session.trainer.epoch == 3 and session.position == 3 * session.trainer.n_batches


def _snapshot_of(session):
    state = session.state(pictures=False)
    return (state["position"], state["sample"], tuple(state["weights"]),
            tuple(b or "" for b in state["biases"]), json.dumps(state["metrics"]))


@pytest.mark.parametrize("optimizer", ["gd", "adam", "momentum"])
def test_going_back_replays_exactly(monkeypatch, optimizer):
    # Few snapshots, so that most positions are reached by replay, and thinning happens.
    monkeypatch.setattr(timeline, "MAX_SNAPSHOTS", 4)
    session = Session(config(optimizer=optimizer, l2=0.01, schedule="exponential"))
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(40):
        unit = rng.choice(["batch", "batch", "sample", "epoch"])
        session.step(str(unit), int(rng.integers(1, 3)))
        seen[(session.shown_position, session.sample)] = _snapshot_of(session)
    assert len(session.snapshots) <= 4 + 1 and session.every > 1
    for position, sample in rng.permutation(list(seen)):
        session.goto(int(position), int(sample))
        assert _snapshot_of(session) == seen[(position, sample)]


def test_a_reopened_run_replays_to_the_same_numbers():
    session = Session(config(optimizer="adam"))
    session.step("batch", 11)
    session.edit(1, 2, 0.75, source=0)
    session.step("batch", 5)
    session.step("sample", 2)
    state = session.state()
    reopened = Session({**session.config, "edits": state["edits"]})
    reopened.furthest = session.position
    reopened.goto(state["position"], state["sample"])
    assert _snapshot_of(reopened) == _snapshot_of(session)


def test_an_edit_is_taken_up_and_drops_the_later_steps():
    session = Session(config())
    session.step("batch", 10)
    session.goto(4)
    session.edit(0, 1, -2.5, source=1)
    assert session.furthest == 4 and session.net.weights[0][1, 1] == -2.5
    session.step("batch", 1)
    reference = Session(config())
    reference.step("batch", 4)
    reference.net.weights[0][1, 1] = -2.5
    reference.step("batch", 1)
    assert np.array_equal(reference.net.flat_parameters(), session.net.flat_parameters())
    with pytest.raises(ValueError, match="beyond"):
        session.goto(9)
    with pytest.raises(ValueError, match="outside"):
        session.edit(0, 9, 1.0, source=0)
    with pytest.raises(ValueError, match="finite"):
        session.edit(0, 1, float("inf"), source=0)


def test_rows_of_a_batch_one_by_one():
    session = Session(config())
    session.step("batch", 2)
    before = session.net.flat_parameters().copy()
    session.step("sample", 3)
    state = session.state()
    assert state["sample"] == 3 and state["position"] == 2
    assert state["pending"]["rows_shown"] == 3 and state["pending"]["rows"] == 8
    # What is on show is the weights before the pending update, and the gradient of the rows
    # shown so far; with every row in, that partial sum is the engine's gradient.
    assert state["weights"][0] == session_module.encode(before[:6].reshape(2, 3))
    record = session.last["record"]
    partial, _ = session._partial_gradients(record, len(record.rows))
    for mine, engine in zip(partial, record.weight_grads):
        np.testing.assert_allclose(mine, engine, rtol=1e-12, atol=1e-15)
    session.step("sample", 5)  # the batch's last row: the update is in
    assert session.sample == 0 and session.shown_position == 3


def test_stop_rules_end_play_and_a_step_goes_on():
    session = Session(config(batch_size=0, stop_loss=0.69, learning_rate=1.0))
    session.step("batch", 500)
    assert session.stopped and "0.69" in session.stopped
    reached = session.position
    session.step("batch", 1)
    assert session.position == reached + 1


def test_stop_rules_look_at_the_epoch_on_show():
    session = Session(config(batch_size=0, stop_loss=0.69, learning_rate=1.0))
    session.step("batch", 500)
    reached = session.position
    session.step("batch", 20)  # on, past the target
    session.goto(reached - 5)  # replayed from before it: not stopped there
    assert session.stopped is None and session.state()["stopped"] is None
    session.goto(reached)
    assert session.stopped


def test_a_target_accuracy_pauses_play_at_the_first_epoch_that_reaches_it():
    session = Session(config(batch_size=0, target_accuracy=0.8, learning_rate=1.0, epochs=300))
    session.step("batch", 300)
    accuracy = session.curves["accuracy"]
    first = next(i for i, value in enumerate(accuracy) if value >= 0.8)
    assert first > 0 and max(accuracy[:first]) < 0.8
    assert session.stopped.startswith("target reached: accuracy") and "0.8" in session.stopped
    assert session.trainer.epoch == first + 1 and not session.trainer.finished
    session.step("batch", 1)  # a step asked for goes on
    assert session.trainer.epoch == first + 2


def test_the_stop_rules_are_the_librarys_target_reached():
    """The page pauses where ``fit(..., callbacks=[TargetReached(...)])`` stops."""
    from chainrule.callbacks import TargetReached

    session = Session(config(batch_size=0, target_loss=0.69, learning_rate=1.0))
    session.step("batch", 500)
    data = session.data
    net = Network.from_spec(session.net.spec())
    net.flat_parameters()[...] = session.initial_parameters
    history = net.fit(data.X_train, data.Y_train, epochs=50, learning_rate=1.0,
                      callbacks=[TargetReached(loss=0.69)], progress=False)
    assert session.stopped == history.stopped_reason
    assert session.trainer.epoch == history.epochs
    np.testing.assert_array_equal(session.net.flat_parameters(), net.flat_parameters())


def test_the_stop_rules_old_names_replay_as_before():
    old = Session(config(batch_size=0, stop_loss=0.69, stop_accuracy=0.99, learning_rate=1.0))
    assert old.config["target_loss"] == 0.69 and old.config["target_accuracy"] == 0.99
    assert "stop_loss" not in old.config
    new = Session(old.config)
    for session in (old, new):
        session.step("batch", 500)
    assert old.stopped == new.stopped and old.position == new.position
    with pytest.raises(ConfigError, match="stop_loss: the old name of target_loss"):
        check_config(config(stop_loss=0.5, target_loss=0.5))
    with pytest.raises(ConfigError, match="^stop_accuracy:"):
        check_config(config(stop_accuracy=2))


def test_memory_is_bounded():
    session = Session(config(batch_size=1, epochs=10))
    session.step("epoch", 10)
    assert len(session.snapshots) <= session_module.MAX_SNAPSHOTS + 1
    assert all(len(values) <= 10 for values in session.curves.values())
    assert session.trainer.finished and session.state()["stopped"]


# ---------------------------------------------------------------------------- one weight
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_the_chain_is_the_engines_gradient(optimizer):
    session = Session(config(optimizer=optimizer, l2=0.03, learning_rate=0.05))
    session.step("batch", 6)
    last = session.last
    checked = 0
    for layer in range(session.net.n_layers):
        for source in [*range(session.net.sizes[layer]), None]:
            to = session.net.sizes[layer + 1] - 1
            chain = session.chain(layer, to, source)
            assert chain["engine_relative_difference"] <= 1e-12
            assert chain["numerical_relative_difference"] < 1e-7
            terms = chain["update"]["terms"]
            assert terms[-1]["value"] == chain["update"]["after"]
            index = session._flat_index(layer, source, to)
            assert chain["value"] == last["before"][index]
            assert chain["update"]["after"] == session.net.flat_parameters()[index]
            checked += 1
    assert checked == sum(n_in + 1 for n_in in session.net.sizes[:-1])


def test_the_chain_is_explain_on_the_step_batch():
    session = Session(config())
    session.step("batch", 3)
    record = session.last["record"]
    chain = session.chain(0, 2, 1)
    probe = session.net.copy()
    probe.flat_parameters()[...] = session.last["before"]
    reference = explain(probe, record.inputs, record.targets, 0, (1, 2))
    assert chain["gradient"] == reference.gradient
    assert chain["numerical"] == numerical_derivative(probe, record.inputs, record.targets,
                                                      0, (1, 2))
    assert chain["explanation"]["per_sample_gradient"] == \
        reference.per_sample_gradient[:session_module.SHOWN_SAMPLES].tolist()


def test_before_any_step_the_chain_is_a_full_batch_gradient():
    session = Session(config())
    chain = session.chain(1, 0, None)
    gradients = session.net.gradients(session.data.X_train, session.data.Y_train)
    assert chain["gradient"] == pytest.approx(gradients[1][1][0], rel=1e-12)
    assert "update" not in chain


# ---------------------------------------------------------------------------- taking it away
def test_the_model_file_loads(tmp_path):
    session = Session(config())
    session.step("batch", 7)
    path = tmp_path / "model.npz"
    path.write_bytes(session.model_bytes())
    model = load(path)
    assert np.array_equal(model.flat_parameters(), session.net.flat_parameters())
    assert model.metadata["scaling"] == session.net.metadata["scaling"]
    # chainrule predict takes it, on the data as the page offers it (raw, unstandardised).
    data = tmp_path / "data.csv"
    data.write_text(session.data_csv())
    code, out, err = _run_cli(["predict", str(path), str(data)])
    assert code == 0, err
    probabilities = np.array([float(line.split(",")[1]) for line in out.splitlines()[1:]])
    expected = session.net.predict(session.data.X_train)[:, 0]
    train_rows = np.setdiff1d(np.arange(len(session.raw.X)), session._test_rows())
    np.testing.assert_allclose(np.sort(probabilities[train_rows]), np.sort(expected),
                               rtol=1e-9)  # predict writes 10 significant digits


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("data", [SMALL["data"],
                                  {"source": "builtin", "name": "iris"},
                                  {"source": "generator", "name": "bumps", "samples": 80,
                                   "noise": 0.05, "classes": 2, "seed": 1}])
def test_the_command_gives_the_same_weights(tmp_path, monkeypatch, data):
    regression = data.get("name") == "bumps"
    changes = {"data": data, "optimizer": "adam", "learning_rate": 0.01, "l2": 0.001,
               "activations": ["relu", "relu", "identity" if regression else "softmax"],
               "loss": "mse" if regression else "categorical_cross_entropy"}
    session = Session(config(**changes))
    session.step("epoch", 2)
    monkeypatch.chdir(tmp_path)
    equivalents = session.commands()
    if equivalents["data_file"]:
        (tmp_path / equivalents["data_file"]).write_text(session.data_csv())
    assert equivalents["cli"], equivalents["cli_note"]
    code, out, err = _run_cli(shlex.split(equivalents["cli"])[1:])
    assert code == 0, err
    model = load(tmp_path / "playground.npz")
    assert np.array_equal(model.flat_parameters(), session.net.flat_parameters())


def _python_code_reproduces(session, folder, why_not_cli: str) -> None:
    """The page's Python code, run in ``folder`` beside the data file it names, ends with the
    session's weights; the command line says why it cannot."""
    equivalents = session.commands()
    assert equivalents["cli"] is None and why_not_cli in equivalents["cli_note"]
    (folder / equivalents["data_file"]).write_text(session.data_csv())
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(equivalents["python"], "snippet", "exec"), namespace)
    assert np.array_equal(namespace["net"].flat_parameters(), session.net.flat_parameters())


def test_the_python_code_gives_the_same_weights(tmp_path, monkeypatch):
    session = Session(config(optimizer="rmsprop", schedule="step", schedule_settings={"every": 1}))
    session.step("batch", 9)
    session.edit(1, 0, 0.3, source=None)
    session.step("batch", 4)
    monkeypatch.chdir(tmp_path)
    _python_code_reproduces(session, tmp_path, "edited weights")


def test_bias_per_layer_and_the_python_code(tmp_path, monkeypatch):
    session = Session(config(bias=[True, False, True]))
    session.step("batch", 5)
    assert session.net.biases[1] is None and session.net.bias == [True, False, True]
    monkeypatch.chdir(tmp_path)
    _python_code_reproduces(session, tmp_path, "without bias")


def test_the_tutorial_command(tmp_path):
    session = Session({"data": {"source": "builtin", "name": "tutorial"}, "test_split": 0,
                       "standardize": False, "hidden": [], "activations": ["sigmoid"],
                       "bias": False, "loss": "squared_error", "init": "uniform",
                       "optimizer": "gd", "learning_rate": 0.5, "epochs": 100})
    session.step("batch", 25)
    command = session.commands()["cli"]
    assert command.startswith("chainrule tutorial")
    code, out, _ = _run_cli([*shlex.split(command)[1:], "--json"])
    final = json.loads(out)["runs"]["correct"]["final_weights"][0]
    assert code == 0 and final == session.net.weights[0][0, 0]


def test_the_tutorials_chain_shows_the_published_slip():
    from chainrule import tutorial

    session = Session({"data": {"source": "builtin", "name": "tutorial"}, "test_split": 0,
                       "standardize": False, "hidden": [], "activations": ["sigmoid"],
                       "bias": False, "loss": "squared_error", "init": "uniform",
                       "optimizer": "gd", "learning_rate": 0.5, "epochs": 100})
    weight = float(session.net.weights[0][0, 0])
    session.step("batch", 1)
    chain = session.chain(0, 0, 0)
    right = tutorial.run_scalar([0.1], 0.3, 0.5, 1, [weight])
    published = tutorial.run_scalar([0.1], 0.3, 0.5, 1, [weight], as_published=True)
    assert chain["gradient"] == pytest.approx(right.gradients[0, 0], rel=1e-14)
    assert chain["published_slip"]["gradient"] == pytest.approx(published.gradients[0, 0],
                                                                 rel=1e-14)
    assert chain["published_slip"]["ratio"] != pytest.approx(1.0)
    # Only where the slip applies: not where the loss and the sigmoid combine.
    other = Session(config())
    other.step("batch", 1)
    assert "published_slip" not in other.chain(1, 0, 0)


def test_inputs_not_standardised_are_drawn_as_they_are():
    session = Session(config(standardize=False))
    pictures = session.state()["pictures"]
    assert session.data.preparation.scaling is None and pictures["grid"] > 0
    grid = np.frombuffer(base64.b64decode(pictures["layers"][0]), dtype="<f4")
    assert grid.min() < session.raw.X.min() and grid.max() > session.raw.X.max()


# ---------------------------------------------------------------------------- uploaded tables
def mixed_csv(n: int = 80, seed: int = 0) -> str:
    """A table as pandas' ``DataFrame.to_csv`` writes it (its index as a first column with an
    empty name) and as people have them: text class labels, a yes/no column, a category, a date,
    an id, missing cells, and a row without a label."""
    rng = np.random.default_rng(seed)
    lines = [",customer,age,color,member,signup,income,label"]
    for i in range(n):
        age, color = rng.normal(40, 12), ["red", "green", "blue"][rng.integers(3)]
        member, income = ["yes", "no"][rng.integers(2)], rng.normal(50, 15)
        label = "high" if (age > 40) != (member == "yes") else "low"
        lines.append(",".join([
            str(i), f"c{i:04d}", f"{age:.1f}" if i % 9 else "", color if i % 11 else "",
            member, f"2021-03-{rng.integers(1, 28):02d}", repr(float(income)),
            label if i != 5 else ""]))
    return "\n".join(lines) + "\n"


class Uploads:
    """The server's uploaded files as a session sees them: an id's path and name."""

    def __init__(self, folder):
        self.folder, self.names = folder, {}

    def add(self, name: str, text: str) -> str:
        key = f"file{len(self.names)}"
        (self.folder / key).mkdir(parents=True)
        (self.folder / key / name).write_text(text)
        self.names[key] = name
        return key

    def path(self, key):
        return str(self.folder / key / self.names[key]) if key in self.names else None

    def name(self, key):
        return self.names[key]


MIXED = {"hidden": [5], "activations": ["tanh", "softmax"], "loss": "categorical_cross_entropy",
         "optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "l2": 0.001,
         "epochs": 20, "seed": 4}


def test_a_mixed_table_trains_predicts_and_exports_as_the_command_line(tmp_path, monkeypatch):
    uploads = Uploads(tmp_path / "server")
    key = uploads.add("people.csv", mixed_csv())
    session = Session({**MIXED, "data": {"source": "upload", "upload": key}}, uploads)
    # Prepared as chainrule train prepares the file: the same features, rows and targets.
    expected = prepare(uploads.path(key), "categorical_cross_entropy", 0.25, 0.0, 4)
    assert np.array_equal(session.data.X_train, expected.X_train)
    assert np.array_equal(session.data.Y_train, expected.Y_train)
    assert np.array_equal(session.data.held_out[0], expected.held_out[0])
    info = session.data_info()
    assert info["file"] == "people.csv" and info["target"] == "label"
    assert info["labels"] == ["high", "low"] and info["rows"] == 79  # one row has no label
    assert info["columns"] == ["Unnamed: 0", "customer", "age", "color", "member", "signup",
                               "income", "label"]
    roles = {row["column"]: row["role"] for row in info["summary"]}
    assert roles == {"Unnamed: 0": "dropped", "customer": "dropped", "age": "numeric",
                     "color": "categorical", "member": "boolean", "signup": "date",
                     "income": "numeric", "label": "target"}
    assert {"age (missing)", "color=red", "color=(missing)", "member"} <= set(info["features"])
    session.step("epoch", 3)
    state = session.state()
    assert state["classes"] == ["high", "low"] and state["sizes"][0] == len(info["features"])
    assert set(state["metrics"]["test"]["per_class"]) == {"high", "low"}
    assert len(session._test_rows()) == session.data.n_held
    # The model file carries the preparation: chainrule predict takes the original file and
    # answers with the table's own labels, the session's network's predictions.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.npz").write_bytes(session.model_bytes())
    (tmp_path / "people.csv").write_bytes(session.data_bytes())
    assert load("model.npz").metadata["preparation"] == session.data.metadata["preparation"]
    code, out, err = _run_cli(["predict", "model.npz", "people.csv"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "predicted,probability_high,probability_low" and len(lines) == 81
    predicted = [line.split(",")[0] for line in lines[1:]]
    prep = session.data.preparation
    outputs = session.net.predict(prep.transform(read_table("people.csv")))
    assert predicted == prep.labels(np.argmax(outputs, axis=1))
    assert set(predicted) <= {"high", "low"}
    code, out, err = _run_cli(["evaluate", "model.npz", "people.csv"])
    assert code == 0, err
    # The command and the code read the uploaded file itself, to the same weights.
    equivalents = session.commands()
    assert equivalents["data_file"] == "people.csv"
    assert equivalents["cli"].startswith("chainrule train people.csv --target label"), \
        equivalents["cli_note"]
    code, out, err = _run_cli(shlex.split(equivalents["cli"])[1:])
    assert code == 0, err
    assert np.array_equal(load("playground.npz").flat_parameters(),
                          session.net.flat_parameters())
    assert load("playground.npz").metadata["classes"] == ["high", "low"]
    session.step("batch", 2)
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(session.commands()["python"], "snippet", "exec"), namespace)
    assert np.array_equal(namespace["net"].flat_parameters(), session.net.flat_parameters())
    assert namespace["data"].metadata == session.data.metadata


def test_an_uploaded_table_as_regression_and_its_bad_cells(tmp_path):
    uploads = Uploads(tmp_path)
    key = uploads.add("people.csv", mixed_csv())
    session = Session({**MIXED, "activations": ["tanh", "identity"], "loss": "mse",
                       "data": {"source": "upload", "upload": key, "target": "income"}}, uploads)
    assert session.data.task == "regression" and session.data_info()["labels"] == []
    session.step("epoch", 1)
    assert "r2" in session.state()["metrics"]["test"]
    ragged = uploads.add("ragged.csv", "a,b,c,label\n1,2,3,x\n4,5,y\n")
    with pytest.raises(ValueError, match=r"^ragged\.csv: row 3 has 3 values but the header "
                                         r"has 4$"):
        Session({**MIXED, "data": {"source": "upload", "upload": ragged}}, uploads)
    with pytest.raises(ValueError, match="^people.csv: no target column 'nope'"):
        Session({**MIXED, "data": {"source": "upload", "upload": key, "target": "nope"}},
                uploads)


def test_a_file_from_another_server_is_asked_for_again():
    with pytest.raises(ConfigError, match="upload it again"):
        Session(config(data={"source": "upload", "upload": "abc123"}))


def test_the_curves_and_data_as_csv():
    session = Session(config(batch_size=0))
    session.step("batch", 4)
    lines = session.curves_csv().splitlines()
    assert lines[0].startswith("epoch,loss") and len(lines) == 5
    assert float(lines[1].split(",")[1]) == session.curves["loss"][0]
    data = session.data_csv().splitlines()
    assert data[0] == "x1,x2,label" and len(data) == len(session.raw.X) + 1
    assert [float(v) for v in data[1].split(",")[:2]] == session.raw.X[0].tolist()


def test_a_large_batch_shows_its_first_rows_and_sums_them_all():
    session = Session(config(batch_size=0, hidden=[40], activations=["tanh", "sigmoid"]))
    session.step("batch", 2)
    record = session.last["record"]
    assert len(record.rows) > session_module.SHOWN_SAMPLES
    chain = session.chain(0, 35, 1)
    shown = chain["explanation"]
    probe = session.net.copy()
    probe.flat_parameters()[...] = session.last["before"]
    reference = explain(probe, record.inputs, record.targets, 0, (1, 35))
    rows = session_module.SHOWN_SAMPLES
    assert shown["per_sample_gradient"] == reference.per_sample_gradient[:rows].tolist()
    assert shown["forward"]["layers"][0]["sop"] == reference.sops[0][:rows].tolist()
    assert chain["gradient"] == reference.gradient and chain["n_samples"] == len(record.rows)
    output_delta = shown["backward"][0]
    assert output_delta["value"] == reference.derivation[0].value[:rows].tolist()
    hidden = shown["backward"][-1]
    assert [p["next"] for p in hidden["paths"]] == [[1, 0]] and "product" not in hidden["paths"][0]


# ---------------------------------------------------------------------------- numbers
BIG = 10**400  # a 401-digit integer: what float() cannot take


@pytest.mark.parametrize("action", [
    lambda s: s.step("batch", BIG), lambda s: s.step("batch", 1e999),
    lambda s: s.step("batch", -BIG), lambda s: s.step(["batch"], 1),
    lambda s: s.goto(BIG), lambda s: s.goto(1, BIG), lambda s: s.goto(float("nan")),
    lambda s: s.edit(0, 0, BIG, 0), lambda s: s.edit(0, 0, -BIG, 0),
    lambda s: s.edit(0, 0, float("inf"), 0), lambda s: s.edit(BIG, 0, 1.0, 0),
    lambda s: s.edit(0, 0, 1.0, BIG), lambda s: s.chain(BIG, 0), lambda s: s.chain(0, -BIG),
    lambda s: s.chain(0, 0, 2.5), lambda s: s.state(BIG), lambda s: s.state(-1),
])
def test_a_number_beyond_a_double_is_a_value_error_that_names_the_field(action):
    session = Session(config())
    with pytest.raises(ValueError) as refused:
        action(session)
    assert not isinstance(refused.value, OverflowError) and len(str(refused.value)) < 300
    session.step("batch", 1)  # and the session goes on


def test_the_training_fields_are_checked_by_the_librarys_table():
    """What the library refuses the page refuses, in the table's words, under the field's name
    (the old name stop_loss included); the choices are the table's."""
    from chainrule.training import OPTIONS, check_options

    for name, value in (("learning_rate", 0.0), ("learning_rate", -0.5), ("l2", -0.5),
                        ("epochs", 0), ("target_loss", -1.0), ("batch_size", 2.5)):
        with pytest.raises(ValueError) as library:
            check_options(**{"epochs": 1, name: value})
        with pytest.raises(ConfigError) as page:
            check_config({name: value})
        if name == "batch_size":  # a whole number first, as every field of the page
            assert str(page.value) == "batch_size: must be a whole number, got 2.5"
            continue
        assert str(page.value) == f"{name}: " + str(library.value).removeprefix(f"{name} ")
    with pytest.raises(ConfigError, match="stop_loss: must be a finite number >= 0"):
        check_config({"stop_loss": -1.0})
    choices = {o.name: o.choices for o in OPTIONS}
    for name in ("optimizer", "schedule"):
        for choice in choices[name]:
            assert check_config({name: choice})[name] == choice


def test_every_number_of_a_configuration_is_checked_exactly():
    wrong = (BIG, -BIG, float("inf"), float("nan"), True, "1", None)
    for name in ("seed", "batch_size", "epochs", "learning_rate", "l2", "test_split"):
        for value in wrong + ((2**53 + 1, 1e300) if name != "learning_rate" and name != "l2"
                              else ()):
            with pytest.raises(ConfigError, match=name):
                check_config({name: value})
    assert check_config({"seed": 4.0})["seed"] == 4  # a whole float is a whole number
    assert check_config({"learning_rate": 10**300})["learning_rate"] == 1e300
    with pytest.raises(ConfigError, match="data.added"):
        Session(config(data={**SMALL["data"], "added": [[0.5, 0.5, 9]]}))  # not a class
    with pytest.raises(ConfigError, match=r"data.added\[0\]\[0\]"):
        check_config({"data": {**SMALL["data"], "added": [[1e300, 0.5, 1]]}})


# ---------------------------------------------------------------------------- memory
def _measured(session_config, chain_layer=None):
    """The most memory (tracemalloc) a session takes from its making through a step, an epoch,
    a replay and each one's answer, and a chain of ``chain_layer``; and the session."""
    from chainrule.playground.guard import JSONResponse

    gc.collect()
    tracemalloc.start()
    try:
        session = Session(session_config)
        session.step("batch", 1)
        JSONResponse(session.state())
        session.step("epoch", 1)
        JSONResponse(session.state())
        session.goto(1)
        JSONResponse(session.state())
        stepping = tracemalloc.get_traced_memory()[1]
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        chain = None
        if chain_layer is not None:
            JSONResponse(session.chain(chain_layer, 0, 0))
            chain = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    return session, stepping, chain


CIRCLE = {"source": "generator", "name": "circle", "samples": 1000, "noise": 0.1, "seed": 0}


@pytest.mark.parametrize("changes", [
    {"hidden": [64], "activations": ["tanh", "sigmoid"], "batch_size": 0},
    {"hidden": [128, 128], "activations": ["tanh", "tanh", "sigmoid"], "batch_size": 0},
    {"hidden": [256, 256], "activations": ["relu", "tanh", "sigmoid"], "batch_size": 64,
     "optimizer": "adam"},
    {"hidden": [512], "activations": ["tanh", "sigmoid"], "batch_size": 0,
     "data": {**CIRCLE, "samples": 4000}},
    {"hidden": [64, 64], "activations": ["tanh", "tanh", "softmax"], "batch_size": 32,
     "loss": "categorical_cross_entropy", "optimizer": "momentum",
     "data": {"source": "builtin", "name": "digits"}},
    {"hidden": [1000, 900], "activations": ["tanh", "tanh", "sigmoid"], "batch_size": 10,
     "optimizer": "adam", "data": {**CIRCLE, "samples": 400}},
    {"hidden": [512, 512], "activations": ["relu", "tanh", "sigmoid"], "batch_size": 256,
     "dropout": [0.2, 0.5], "normalization": ["batch", "layer"], "data": {**CIRCLE,
                                                                           "samples": 4000}},
    {"hidden": [128, 512], "activations": ["relu", "tanh", "sigmoid"], "batch_size": 256,
     "dropout": [0.0, 0.5], "normalization": [None, "layer"], "data": {**CIRCLE,
                                                                        "samples": 4000}},
    {"hidden": [256, 256], "activations": ["tanh", "relu", "sigmoid"], "batch_size": 128,
     "dropout": [0.3, 0.0], "normalization": ["layer", "batch"], "data": {**CIRCLE,
                                                                           "samples": 2000}},
])
def test_the_memory_estimate_bounds_what_a_session_takes(changes):
    session, stepping, chain = _measured({**SMALL, "data": CIRCLE, "epochs": 50, **changes},
                                         chain_layer=0)
    footprint = session.footprint
    # An upper bound that is not a wild one: what a step request may take, measured.
    assert stepping <= footprint.total <= 2.5 * stepping + 4 * 2**20, (stepping, footprint)
    rows = len(session.last["record"].rows)
    estimated = budget.chain_bytes(session.net.sizes, 0, rows,
                                   session.net.activation_functions[-1].couples_neurons,
                                   session.net.normalization, session.net.dropout)
    assert chain <= estimated <= 2.5 * chain + 4 * 2**20, (chain, estimated)


def test_a_session_at_the_pages_limits_is_held_to_the_step_cap():
    limits = {**SMALL, "data": {**CIRCLE, "samples": LIMITS["samples"]},
              "hidden": [1024, 970], "activations": ["tanh", "tanh", "sigmoid"],
              "batch_size": 0}
    gc.collect()
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"batch_size: .* a batch size of at most"):
            Session(limits)  # about 1.1 GiB a step, refused before the network is made
        assert tracemalloc.get_traced_memory()[1] < 32 * 2**20
    finally:
        tracemalloc.stop()
    limits["batch_size"] = 900
    session = Session(limits)
    assert session.footprint.step_cost <= budget.MAX_STEP_BYTES
    assert session.footprint.total < 700 * 2**20  # and 2 GiB hold three of them, not 32


def test_a_chain_beyond_the_cap_is_refused_before_it_is_computed(monkeypatch):
    session = Session(config(hidden=[64, 64], activations=["tanh", "tanh", "sigmoid"],
                             batch_size=0))
    session.step("batch", 1)
    first, last = (budget.chain_bytes(session.net.sizes, layer, 45) for layer in (0, 2))
    monkeypatch.setattr(chains, "MAX_STEP_BYTES", (first + last) // 2)
    with pytest.raises(ValueError, match="chain of a weight of layer 0 on 45 rows needs about"):
        session.chain(0, 0, 0)
    assert session.chain(2, 0, 0)["gradient"] == session.chain(2, 0, 0)["gradient"]


def test_a_chain_reserves_what_it_adds_and_gives_it_back():
    class Budget:
        def __init__(self):
            self.reserved, self.most = 0, 0

        def reserve(self, nbytes):
            self.reserved += nbytes
            self.most = max(self.most, self.reserved)

        def release(self, nbytes):
            self.reserved -= nbytes

    held = Budget()
    # Three hidden layers: the chain of a first-layer weight adds more than a step takes.
    session = Session(config(hidden=[64, 64, 64], activations=["tanh", "tanh", "tanh", "sigmoid"],
                             batch_size=0), budget=held)
    assert held.reserved == session.footprint.total
    session.chain(0, 0, 0)
    assert held.reserved == session.footprint.total < held.most
    with pytest.raises(ValueError):
        Session(config(hidden=[3, "x"]), budget=held)  # refused before it reserves anything
    assert held.reserved == session.footprint.total


# ---------------------------------------------------------------------------- the chain's paths
LOSS_OUTPUTS = [(loss, output) for loss in ("squared_error", "mse", "binary_cross_entropy",
                                            "categorical_cross_entropy")
                for output in ("sigmoid", "tanh", "identity", "relu", "softmax")]


def _random_network(sizes, loss, output, rng):
    try:
        net = Network(sizes, activation=["tanh"] * (len(sizes) - 2) + [output], loss=loss,
                      seed=int(rng.integers(1000)))
    except ValueError:  # a pair the library refuses (softmax on one output, ...)
        return None
    X = rng.normal(size=(6, sizes[0]))
    if loss == "categorical_cross_entropy":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 6)]
    else:
        Y = (rng.random((6, sizes[-1])) > 0.5).astype(float)
    return net, *net.check_data(X, Y)


@pytest.mark.parametrize("sizes", [[2, 3, 1], [2, 4, 3, 2]])
def test_the_paths_from_any_weight_sum_to_its_gradient(sizes):
    """For every loss/output pair the library builds: each weight's (and bias's) sum over its
    paths to the error equals the reference's gradient, and each path's product is its factors'
    product, multiplied in the order shown."""
    from chainrule.reference import backprop

    rng, built = np.random.default_rng(21), 0
    for loss, output in LOSS_OUTPUTS:
        made = _random_network(sizes, loss, output, rng)
        if made is None:
            continue
        net, X, Y = made
        values, built = backprop(net, X, Y), built + 1
        factors = chains.output_factors(net, values, Y, 32)
        g1, g2 = np.asarray(factors["g1"]), np.asarray(factors["g2"])
        together = np.einsum("im,imj->ij", g1, g2) if factors["softmax"] else g1 * g2
        np.testing.assert_allclose(together, factors["delta"], rtol=1e-9, atol=1e-15)
        for layer in range(net.n_layers):
            for source in [*range(sizes[layer]), None]:
                for to in range(sizes[layer + 1]):
                    p = chains.paths(net, values, X, layer, source, to, 32)
                    assert p["count"] == int(np.prod(sizes[layer + 2:])) == len(p["neurons"])
                    gradient = values["weight_grads"][layer][source, to] if source is not None \
                        else values["bias_grads"][layer][to]
                    assert abs(p["sum"] - gradient) <= 1e-12 * max(abs(gradient), 1e-300)
                    np.testing.assert_allclose(np.sum(p["product"], axis=1), p["total"],
                                               rtol=1e-12, atol=0)
    assert built >= 6


def test_a_chain_gives_its_paths_and_its_rows_terms():
    session = Session(config())
    session.step("batch", 2)
    chain = session.chain(0, 2, 1)  # weights[0][1, 2]
    assert chain["paths"]["count"] == 4 * 1 == len(chain["paths"]["product"])
    assert abs(chain["paths"]["sum"] - chain["gradient"]) <= 1e-12 * abs(chain["gradient"])
    delta = chain["explanation"]["backward"][-1]["value"]
    g3 = chain["explanation"]["dSop_dWeight"]["value"]
    assert chain["row_terms"] == [d * g for d, g in zip(delta, g3)]  # carries the 1/n
    assert abs(sum(chain["row_terms"]) - chain["gradient"]) <= 1e-12 * abs(chain["gradient"])
    assert chain["output_layer"]["combined"] and chain["output_layer"]["n"] == 8


def test_too_many_paths_give_their_count_alone():
    session = Session(config(hidden=[10, 9], activations=["tanh", "tanh", "sigmoid"]))
    session.step("batch", 1)
    deep = session.chain(0, 0, 0)["paths"]
    assert deep["count"] == 9 > 0 and "product" in deep
    session = Session(config(hidden=[10, 9, 8], activations=["tanh"] * 3 + ["sigmoid"]))
    session.step("batch", 1)
    deep = session.chain(0, 0, 0)["paths"]
    assert deep == {"count": 72, "limit": chains.MAX_PATHS}
