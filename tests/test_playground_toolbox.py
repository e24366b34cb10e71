"""The playground's dropout, batch and layer normalisation, L1 and clipping: the configuration
takes them (and refuses what the library would not), a session trains with them, its chain is
the engine's gradient through the step's own masks, and the command and the code carry them."""

from __future__ import annotations

import contextlib
import io
import shlex

import numpy as np
import pytest

from chainrule import cli, load
from chainrule.playground import budget
from chainrule.playground.config import ConfigError, check_config
from chainrule.playground.options import page_options
from chainrule.playground.session import Session

SMALL = {"data": {"source": "generator", "name": "xor", "samples": 60, "noise": 0.05,
                  "classes": 2, "seed": 3},
         "hidden": [3, 4], "activations": ["tanh", "sigmoid", "sigmoid"],
         "loss": "binary_cross_entropy", "batch_size": 8, "learning_rate": 0.2, "epochs": 50}
LAYERS = {**SMALL, "dropout": [0.5, 0.25], "normalization": ["batch", "layer"], "l1": 0.01,
          "l2": 0.02, "clip_norm": 0.5, "clip_value": 0.05}


def config(**changes):
    return {**SMALL, **changes}


# ---------------------------------------------------------------------------- configuration
def test_the_configuration_takes_the_new_fields():
    checked = check_config(LAYERS)
    assert checked["dropout"] == [0.5, 0.25] and checked["normalization"] == ["batch", "layer"]
    assert (checked["l1"], checked["clip_norm"], checked["clip_value"]) == (0.01, 0.5, 0.05)
    # one value for every hidden layer; "none" and 0 are none
    assert check_config(config(dropout=0.2, normalization="layer"))["normalization"] == "layer"
    same = check_config(config(dropout=[0.2, 0.2], normalization=["none", None]))
    assert same["dropout"] == 0.2 and same["normalization"] is None
    plain = check_config(SMALL)
    assert (plain["dropout"], plain["normalization"], plain["l1"]) == (0.0, None, 0.0)
    assert plain["clip_norm"] is None and plain["clip_value"] is None


@pytest.mark.parametrize("changes, message", [
    ({"dropout": 1}, "dropout: must be in [0, 1)"),
    ({"dropout": -0.1}, "dropout: must be at least 0"),
    ({"dropout": [0.1, 1.5]}, "dropout[1]: must be in [0, 1)"),
    ({"dropout": [0.1]}, "dropout: one value for every hidden layer, or a list with one per "
                         "hidden layer (2)"),
    ({"dropout": "half"}, "dropout: must be a finite number"),
    ({"normalization": "group"}, "normalization: expected one of batch, layer, none"),
    ({"normalization": ["batch", 3]}, "normalization[1]: expected one of batch, layer, none"),
    ({"hidden": [], "activations": ["sigmoid"], "dropout": 0.5},
     "dropout: for hidden layers only, and this network has none"),
    ({"hidden": [], "activations": ["sigmoid"], "normalization": "batch"},
     "normalization: for hidden layers only"),
    ({"l1": -1}, "l1: must be"),
    ({"clip_norm": 0}, "clip_norm: must be"),
    ({"clip_value": "x"}, "clip_value: must be a finite number"),
])
def test_the_configuration_refuses_what_the_library_would_not(changes, message):
    with pytest.raises(ConfigError) as caught:
        check_config(config(**changes))
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize("last_of_one", [False, True])
def test_batch_norm_on_a_batch_of_one_row_is_a_configuration_error(last_of_one):
    n_train = len(Session(config()).data.X_train)
    batch_size = n_train - 1 if last_of_one else 1  # a last batch of 1 row; every batch
    changes = {"normalization": "batch", "batch_size": batch_size}
    with pytest.raises(ConfigError) as caught:
        Session(config(**changes))
    assert str(caught.value).startswith("batch_size: batch normalisation needs at least 2 rows")
    Session(config(**{**changes, "normalization": "layer"}))  # layer norm takes any batch


def test_the_page_offers_the_new_activations_optimizers_and_schedules():
    options = page_options()
    assert {"elu", "selu", "gelu", "softplus", "silu"} <= set(options["activations"])
    assert {"adamw", "nadam", "amsgrad", "adadelta"} <= set(options["optimizers"])
    assert {"linear_warmup", "plateau"} <= set(options["schedules"])
    assert options["default"]["dropout"] == 0.0 and options["default"]["normalization"] is None


# ---------------------------------------------------------------------------- the session
def test_a_session_with_dropout_and_batch_norm_trains_and_its_chain_is_the_engines():
    session = Session(LAYERS)
    assert session.net.dropout == [0.5, 0.25, 0.0]
    assert session.net.normalization == ["batch", "layer", None]
    assert (session.trainer.l1, session.trainer.clip_norm, session.trainer.clip_value) == \
        (0.01, 0.5, 0.05)
    session.step("batch", 4)
    checked = 0
    for layer in range(session.net.n_layers):
        for source in [0, None]:
            chain = session.chain(layer, session.net.sizes[layer + 1] - 1, source)
            assert chain["masks_of_step"] is True
            if source is None and session.net.normalization[layer] == "batch":
                # batch norm takes out a bias's every shift: its gradient is 0 (up to rounding)
                assert chain["engine_gradient"] == 0.0 and abs(chain["gradient"]) < 1e-15
                continue
            assert chain["engine_relative_difference"] <= 1e-12, (layer, source)
            assert chain["numerical_relative_difference"] < 1e-6
            clipping = chain["clipping"]
            assert clipping["penalised"] == chain["gradient"] + chain["l2"]["term"] + \
                chain["l1"]["term"]
            assert clipping["gradient"] == float(np.clip(clipping["scaled"], -0.05, 0.05))
            checked += 1
    assert checked == 2 * session.net.n_layers - 1
    hidden = session.chain(0, 1, 0)
    through = hidden["explanation"]["backward"][-1]["through_layer"]
    assert through["dropout"]["rate"] == 0.5 and through["normalization"]["kind"] == "batch"
    assert hidden["paths"]["normalised"] is True
    # the state the page draws, and a reset replays the same numbers
    state = session.state()
    assert state["position"] == 4
    before = session.net.flat_parameters().copy()
    session.goto(0)
    session.step("batch", 4)
    assert np.array_equal(session.net.flat_parameters(), before)


def test_the_paths_through_dropout_close_with_their_mask_factors():
    session = Session(config(dropout=[0.25, 0.5], hidden=[2, 3]))
    session.step("batch", 2)
    chain = session.chain(0, 1, 0)
    paths = chain["paths"]
    assert not paths.get("normalised") and len(paths["mask_factors"]) == 2
    assert abs(paths["sum"] - chain["gradient"]) <= 1e-12 * max(1e-300, abs(chain["gradient"]))


def test_a_normalised_chain_is_counted_bigger():
    plain = budget.chain_bytes([2, 64, 64, 1], 0, 1000)
    normalised = budget.chain_bytes([2, 64, 64, 1], 0, 1000, normalization=["batch", None, None])
    assert normalised - plain >= 12 * 64 * 1000 * 8


# ---------------------------------------------------------------------------- what it gives
def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_the_command_and_the_code_carry_the_new_layers(tmp_path, monkeypatch):
    session = Session({**LAYERS, "activations": ["tanh", "tanh", "sigmoid"]})
    session.step("epoch", 2)
    monkeypatch.chdir(tmp_path)
    equivalents = session.commands()
    command = equivalents["cli"]
    assert command, equivalents["cli_note"]
    words = shlex.split(command)
    for flag, value in [("--dropout", "0.5,0.25"), ("--normalization", "batch,layer"),
                        ("--l1", "0.01"), ("--clip-norm", "0.5"), ("--clip-value", "0.05")]:
        assert words[words.index(flag) + 1] == value, command
    (tmp_path / equivalents["data_file"]).write_text(session.data_csv())
    code, out, err = _run_cli(words[1:])
    assert code == 0, err
    model = load(tmp_path / "playground.npz")
    assert model.dropout == session.net.dropout
    assert np.array_equal(model.flat_parameters(), session.net.flat_parameters())
    python = equivalents["python"]
    assert "dropout=[0.5, 0.25], normalization=['batch', 'layer']" in python
    assert "l1=0.01, clip_norm=0.5, clip_value=0.05" in python
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(python, "snippet", "exec"), namespace)
    assert np.array_equal(namespace["net"].flat_parameters(), session.net.flat_parameters())


def test_a_plain_run_names_none_of_them():
    session = Session(config(activations=["tanh", "tanh", "sigmoid"]))
    session.step("epoch", 1)
    equivalents = session.commands()
    for word in ("--dropout", "--normalization", "--l1", "--clip"):
        assert word not in equivalents["cli"]
    assert "dropout" not in equivalents["python"] and "clip" not in equivalents["python"]


class _Files:
    """The server's uploaded files as a session sees them: one model file."""

    def __init__(self, path):
        self.file = path

    def path(self, key):
        return str(self.file) if key == "model0" else None

    def name(self, key):
        return "model.npz"


def test_a_model_file_brings_its_batch_statistics(tmp_path):
    trained = Session(LAYERS)
    trained.step("epoch", 2)
    (tmp_path / "model.npz").write_bytes(trained.model_bytes())
    model = load(tmp_path / "model.npz")
    assert model.normalization == ["batch", "layer", None]
    session = Session({**LAYERS, "model": "model0"}, _Files(tmp_path / "model.npz"))
    assert np.array_equal(session.net.flat_parameters(), model.flat_parameters())
    statistics = session.net.running_statistics()
    assert len(statistics) == len(model.running_statistics()) == 2  # batch norm's mean, var
    for mine, theirs in zip(statistics, model.running_statistics()):
        assert np.array_equal(mine, theirs)
    assert not np.array_equal(session.net.running_means[0], np.zeros(3))  # trained ones


def test_a_batch_shown_row_by_row_is_drawn_with_the_statistics_before_its_update(tmp_path):
    """While a batch is shown row by row its update is not counted yet: the pictures and the
    model download then hold the weights and the running statistics from before it, not the
    weights before and the statistics after."""
    session = Session(LAYERS)
    session.step("batch", 3)
    earlier = session.net.running_statistics()
    session.step("batch", 1)
    after = session.net.running_statistics()
    assert not np.array_equal(earlier[0], after[0])  # the update moved the running mean
    session.goto(3, sample=1)  # update 4's batch, its first row on show
    session.state()
    for shown, before in zip(session.probe.running_statistics(), earlier):
        assert np.array_equal(shown, before)
    (tmp_path / "model.npz").write_bytes(session.model_bytes())
    model = load(tmp_path / "model.npz")
    assert np.array_equal(model.flat_parameters(), session.last["before"])
    for saved, before in zip(model.running_statistics(), earlier):
        assert np.array_equal(saved, before)
    session.goto(4)  # the update counted: the run's own statistics again
    session.state()
    for shown, now in zip(session.probe.running_statistics(), after):
        assert np.array_equal(shown, now)
