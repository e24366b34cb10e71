"""Dropout, batch and layer normalisation: the engine against the reference on random networks,
gradcheck, training against evaluation, the running statistics, and every surface (spec, copy,
model files, checkpoints, resume bit for bit)."""

import json
import re

import numpy as np
import pytest
from architectures import HIDDEN, OUTPUT_PAIRS, targets_for
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import Network, load, reference
from chainrule.engine.normalization import MOMENTUM
from chainrule.gradcheck import gradcheck
from chainrule.model_header import ModelFileError


def close(fast, ref, rtol=1e-12, floor=0.0):
    """Equal to ``rtol`` relative to the reference's largest entry, or to ``floor``: the size
    of the terms that cancel into it (see :func:`rounding_scales`), whichever is larger."""
    fast, ref = np.asarray(fast, dtype=float), np.asarray(ref, dtype=float)
    scale = max(float(np.max(np.abs(ref), initial=0.0)), floor, 1e-300)
    return fast.shape == ref.shape and float(np.max(np.abs(fast - ref), initial=0.0)) <= \
        rtol * scale


def rounding_scales(net, X, expected):
    """Per layer, the size of the terms each backward value is a sum of (``|A|.T @ |B|`` for a
    product ``A.T @ B``). Normalisation's backward subtracts a group's mean and projection off
    ``dxhat``, and its scale invariance makes ``input.T @ delta`` cancel (exactly 0 with one
    input): there both passes agree to the rounding of those terms, not of the result."""
    scales = {what: [0.0] * net.n_layers for what in ("delta", "dW", "dOutput", "dgamma")}
    magnitude = np.abs(expected["deltas"][-1])
    for layer in range(net.n_layers - 1, -1, -1):
        below = X if layer == 0 else expected["outputs"][layer - 1]
        scales["delta"][layer] = float(np.max(magnitude, initial=0.0))
        scales["dW"][layer] = float(np.max(np.abs(below).T @ magnitude, initial=0.0))
        if layer == 0:
            break
        magnitude = magnitude @ np.abs(net.weights[layer]).T
        scales["dOutput"][layer - 1] = float(np.max(magnitude, initial=0.0))
        magnitude = magnitude * np.abs(expected["derivatives"][layer - 1]) / (
            1.0 - net.dropout[layer - 1])
        if net.gammas[layer - 1] is not None:
            xhat, std = expected["xhats"][layer - 1], expected["stds"][layer - 1]
            scales["dgamma"][layer - 1] = float(np.max(magnitude, initial=0.0)) * len(X) * \
                max(1.0, float(np.max(np.abs(xhat))))
            magnitude = np.full_like(magnitude, 3.0 * np.max(magnitude * np.abs(
                net.gammas[layer - 1]) * np.maximum(1.0, np.abs(xhat)) / std, initial=0.0))
    return scales


@st.composite
def layered_networks(draw, max_width=5, max_inputs=4, max_samples=7, min_batch=2):
    """``(net, X, Y)`` with 1 to 3 hidden layers, each with or without dropout and with batch,
    layer or no normalisation; every hidden activation and (loss, output) pair."""
    hidden = draw(st.lists(st.integers(1, max_width), min_size=1, max_size=3))
    n_hidden = len(hidden)
    dropout = draw(st.lists(st.sampled_from([0.0, 0.25, 0.5]), min_size=n_hidden,
                            max_size=n_hidden))
    kinds = draw(st.lists(st.sampled_from([None, "batch", "layer"]), min_size=n_hidden,
                          max_size=n_hidden))
    n_samples = draw(st.integers(min_batch if "batch" in kinds else 1, max_samples))
    loss, output = draw(st.sampled_from(OUTPUT_PAIRS))
    seed = draw(st.integers(0, 2**32 - 1))
    n_outputs = 3 if output == "softmax" else seed % 3 + 1
    n_inputs = draw(st.integers(1, max_inputs))
    net = Network([n_inputs, *hidden, n_outputs], activation=draw(st.sampled_from(HIDDEN)),
                  output_activation=output, loss=loss, seed=seed, dropout=dropout,
                  normalization=kinds, bias=draw(st.booleans()))
    rng = np.random.default_rng(seed)
    for gamma, beta in zip(net.gammas, net.betas):  # away from 1 and 0, so a slip shows
        if gamma is not None:
            gamma[...] = rng.uniform(0.5, 2.0, gamma.shape)
            beta[...] = rng.normal(size=beta.shape)
    for bias in net.biases:  # away from 0 (where they start): a bias lost before a batch
        if bias is not None:  # norm then shows in its running mean and in evaluation
            bias[...] = rng.normal(2.0, 3.0, bias.shape)
    X = rng.normal(size=(n_samples, n_inputs))
    return net, X, targets_for(loss, output, rng, n_samples, n_outputs)


def differences(net, X, Y):
    """What the engine's training pass gives otherwise than the reference's, given its masks."""
    with np.errstate(over="ignore"):
        workspace = net.workspace(X.shape[0])
        net.forward(X, workspace)
        error, _ = net.output_delta(Y, workspace)
        net.backward(X, workspace)
        expected = reference.backprop(net, X, Y, masks=[
            None if m is None else m.copy() for m in workspace.masks])
    found = [] if close(error, expected["error"]) else ["error"]
    scales = rounding_scales(net, X, expected)
    floors = scales | {"db": [d * len(X) for d in scales["delta"]], "dbeta": scales["dgamma"]}
    for layer in range(net.n_layers):
        pairs = [("sop", [workspace.sop(at) for at in range(net.n_layers)], expected["sops"]),
                 ("output", workspace.outputs, expected["outputs"]),
                 ("delta", workspace.deltas, expected["deltas"]),
                 ("dW", net.weight_grads, expected["weight_grads"])]
        if expected["output_grads"][layer] is not None:
            pairs.append(("dOutput", workspace.output_grads, expected["output_grads"]))
        if net.biases[layer] is not None:
            pairs.append(("db", net.bias_grads, expected["bias_grads"]))
        if net.gammas[layer] is not None:
            pairs += [("dgamma", net.gamma_grads, expected["gamma_grads"]),
                      ("dbeta", net.beta_grads, expected["beta_grads"]),
                      ("z", [n and n.z for n in workspace.norms], expected["zs"])]
        found += [(what, layer) for what, fast, ref in pairs
                  if not close(fast[layer], ref[layer], floor=floors.get(what, [0.0] * (
                      layer + 1))[layer])]
    return found


# The engine against the reference on random layered networks (layered_networks,
# differences): tests/test_reference.py.


@settings(max_examples=60, deadline=None)
@given(layered_networks())
def test_evaluation_equals_the_reference_in_evaluation(case):
    net, X, Y = case
    net.compute_gradients(*net.check_data(X, Y))  # a training step moves the running
    # statistics off 0 and 1 (gradients() does not: tests below)
    with np.errstate(over="ignore"):
        _, outputs = reference.forward(net, X, training=False)
        predicted = net.predict(X)
    assert close(predicted, outputs[-1])


@settings(max_examples=25, deadline=None)
@given(layered_networks(max_width=4, max_inputs=3, max_samples=5, min_batch=3))
def test_gradcheck_passes_with_dropout_and_normalization(case):
    # (Batch norm over 2 rows makes xhat = +-d / sqrt(d^2 + eps): flat but for d near
    # sqrt(eps), where a step of 1e-4 is no longer small; the comparison above covers it.)
    net, X, Y = case
    probe = net.copy()  # gradcheck's float64 copy draws these very masks
    probe.gradients(X, Y)
    with np.errstate(over="ignore"):
        values = reference.backprop(net, X, Y, masks=probe.dropout_masks())
    assume(all(np.min(np.abs(z)) > 1e-2 for z, name in zip(values["zs"], net.activations)
               if name in ("relu", "leaky_relu")))  # finite differences cannot step over a kink
    # Nor can they where a group's spread is near sqrt(eps): xhat bends on that scale there.
    assume(all(np.min(std) > 0.1 for std in values["stds"] if std is not None))
    assert max(gradcheck(net, X, Y)) < 1e-5


def test_a_wrong_normalization_backward_fails_the_comparison_and_gradcheck(monkeypatch):
    from chainrule.engine.normalization import Normalization

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(6, 3)), rng.random((6, 2))
    for kind in ("batch", "layer"):
        net = Network([3, 4, 2], activation="tanh", normalization=kind, seed=1)
        assert differences(net, X, Y) == []
        original = Normalization.backward

        def wrong(self, *args, original=original):
            return original(self, *args) * 1.01

        monkeypatch.setattr(Normalization, "backward", wrong)
        assert differences(net, X, Y) != []
        assert max(gradcheck(net, X, Y)) > 1e-3
        monkeypatch.undo()


# ---------------------------------------------------------------------------- behaviour
def test_evaluation_drops_nothing_and_normalises_with_the_running_statistics():
    """With identity activations predict is the layers by hand: ``x @ W + b``, normalised
    with the running statistics (batch norm), no dropout, no 1 / (1 - p) scaling."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 20)), rng.random((50, 1))
    plain = Network([20, 400, 1], activation="identity", dropout=0.25, seed=0)
    by_hand = (X @ plain.weights[0] + plain.biases[0]) @ plain.weights[1] + plain.biases[1]
    np.testing.assert_allclose(plain.predict(X), by_hand, rtol=1e-12, atol=1e-12)
    net = Network([20, 30, 1], activation="identity", dropout=0.5, normalization="batch",
                  seed=1)
    for _ in range(3):  # training steps move the running statistics off 0 and 1
        net.compute_gradients(X, Y)
    mean, var = net.running_means[0], net.running_vars[0]
    assert not np.allclose(mean, 0.0) and not np.allclose(var, 1.0)
    sop = X @ net.weights[0] + net.biases[0]
    z = (sop - mean) / np.sqrt(var + 1e-5) * net.gammas[0] + net.betas[0]
    np.testing.assert_allclose(net.predict(X), z @ net.weights[1] + net.biases[1],
                               rtol=1e-12, atol=1e-12)


def test_dropout_acts_in_training_only_and_keeps_the_expected_output():
    net = Network([20, 400, 1], activation="identity", dropout=0.25, seed=0)
    X = np.random.default_rng(0).normal(size=(50, 20))
    workspace = net.workspace(50)
    net.forward(X, workspace)
    mask = workspace.masks[0]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - 0.75) < 0.01
    kept = mask == 1.0
    np.testing.assert_allclose(workspace.outputs[0][kept], workspace.sops[0][kept] / 0.75,
                               rtol=1e-15)
    assert np.all(workspace.outputs[0][~kept] == 0.0)


def test_a_seeded_run_with_dropout_replays_bit_for_bit():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(40, 3)), rng.random((40, 2))
    runs = []
    for _ in range(2):
        net = Network([3, 8, 8, 2], dropout=[0.5, 0.2], normalization="batch", seed=7)
        net.fit(X, Y, epochs=3, batch_size=8, learning_rate=0.1)
        runs.append((net.flat_parameters().copy(), net.running_statistics()))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_batch_norm_statistics_in_training_and_evaluation():
    rng = np.random.default_rng(2)
    net = Network([3, 4, 1], activation="identity", normalization="batch", seed=0)
    net.biases[0][...] = [5.0, -3.0, 0.5, 8.0]  # which the centring cancels (not the mean)
    X = rng.normal(size=(10, 3))
    sop = X @ net.weights[0] + net.biases[0]
    workspace = net.workspace(10)
    net.forward(X, workspace)
    norm = workspace.norms[0]
    np.testing.assert_allclose(workspace.sop(0), sop, rtol=1e-14)
    np.testing.assert_allclose(norm.mean, sop.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(norm.var, sop.var(axis=0), rtol=1e-13)
    np.testing.assert_allclose(net.running_means[0], MOMENTUM * sop.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(net.running_vars[0],
                               1 - MOMENTUM + MOMENTUM * sop.var(axis=0, ddof=1), rtol=1e-13)
    # evaluation: the running statistics, row by row the same whatever the batch
    one_row = net.predict(X[:1])
    np.testing.assert_allclose(net.predict(X)[:1], one_row, rtol=1e-14)
    with pytest.raises(ValueError, match="at least 2 rows"):
        net.gradients(X[:1], [[0.5]])


def test_layer_norm_is_the_same_in_training_and_evaluation():
    rng = np.random.default_rng(3)
    net = Network([3, 5, 2], normalization="layer", seed=0)
    X, Y = rng.normal(size=(6, 3)), rng.random((6, 2))
    assert close(net.training_loss(X, Y), net.loss(X, Y), 1e-14)
    workspace = net.workspace(6)
    net.forward(X, workspace)
    xhat = workspace.norms[0].xhat
    np.testing.assert_allclose(xhat.mean(axis=1), 0.0, atol=1e-14)
    assert net.running_statistics() == []


def test_a_batch_larger_than_a_slice_keeps_its_batch_statistics():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(30, 3)), rng.random((30, 2))
    whole = Network([3, 4, 2], normalization="batch", dropout=0.0, seed=0)
    sliced = whole.copy()
    sliced.rows_per_slice = 7
    assert whole.gradients(X, Y)[0][0].tolist() == sliced.gradients(X, Y)[0][0].tolist()
    whole.compute_gradients(X, Y)  # a training step: the running statistics move
    sliced.compute_gradients(X, Y)
    assert np.array_equal(whole.running_means[0], sliced.running_means[0])
    assert not np.array_equal(whole.running_means[0], np.zeros(4))


def test_gradients_change_nothing_and_are_those_of_the_next_training_step():
    """``gradients`` is the training-mode gradient with the masks the next training pass
    draws, from a copy of the generator: neither the generator nor the running statistics
    move, and the training step that follows computes the very same gradient."""
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(10, 3)), rng.random((10, 2))
    net = Network([3, 6, 5, 2], activation="tanh", dropout=[0.5, 0.25],
                  normalization=["batch", "layer"], seed=4)
    state, statistics = net.rng.bit_generator.state, net.running_statistics()
    masks = net.next_masks(len(X))
    weight_grads, bias_grads = net.gradients(X, Y)
    gammas = [None if g is None else g.copy() for g in net.gamma_grads]
    betas = [None if g is None else g.copy() for g in net.beta_grads]
    assert net.rng.bit_generator.state == state
    for now, then in zip(net.running_statistics(), statistics, strict=True):
        np.testing.assert_array_equal(now, then)
    for used, drawn in zip(net.dropout_masks(), masks):
        np.testing.assert_array_equal(used, drawn)
    expected = reference.backprop(net, X, Y, masks=masks)
    for found, wanted in zip([*weight_grads, *gammas[:2], *betas[:2]],
                             [*expected["weight_grads"], *expected["gamma_grads"][:2],
                              *expected["beta_grads"][:2]]):
        np.testing.assert_allclose(found, wanted, rtol=1e-9, atol=1e-13)
    assert net.training_loss(X, Y) == pytest.approx(expected["error"], rel=1e-12)
    assert net.rng.bit_generator.state == state  # training_loss draws from a copy too
    net.compute_gradients(X, Y)  # the next training step: the same masks, the same gradient
    assert [g.tolist() for g in net.weight_grads] == [g.tolist() for g in weight_grads]
    assert [g.tolist() for g in net.bias_grads] == [g.tolist() for g in bias_grads]
    assert net.gamma_grads[0].tolist() == gammas[0].tolist()
    assert net.rng.bit_generator.state != state
    assert not np.array_equal(net.running_statistics()[0], statistics[0])


def test_gamma_and_beta_are_trained_but_not_penalised():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(12, 3)), rng.random((12, 2))
    net = Network([3, 4, 2], normalization="layer", seed=0)
    before = net.gammas[0].copy()
    net.fit(X, Y, epochs=2, learning_rate=0.5, optimizer="adam")
    assert not np.array_equal(net.gammas[0], before)
    plain, decayed = (Network([3, 4, 2], normalization="batch", seed=1) for _ in range(2))
    plain.fit(X, Y, epochs=1, learning_rate=0.5)  # one full-batch step from the same point
    decayed.fit(X, Y, epochs=1, learning_rate=0.5, l2=10.0)
    assert not np.array_equal(plain.weights[0], decayed.weights[0])
    assert np.array_equal(plain.gammas[0], decayed.gammas[0])
    assert np.array_equal(plain.betas[0], decayed.betas[0])


@pytest.mark.parametrize("kwargs, message", [
    ({"dropout": 1.0}, "in \\[0, 1\\)"),
    ({"dropout": -0.1}, "in \\[0, 1\\)"),
    ({"dropout": True}, "in \\[0, 1\\)"),
    ({"dropout": [0.1, 0.2, 0.3]}, "hidden layers only, not the output"),
    ({"dropout": [0.1]}, "1 entries but the network has 2 hidden"),
    ({"normalization": "group"}, "None, 'batch' or 'layer'"),
    ({"normalization": [None, None, "batch"]}, "not the output layer"),
    ({"sizes": [2, 1], "dropout": 0.5}, "this network has none"),
    ({"sizes": [2, 1], "normalization": "layer"}, "this network has none"),
])
def test_bad_layer_options_are_clear_value_errors(kwargs, message):
    kwargs = {"sizes": [2, 3, 3, 1]} | kwargs
    with pytest.raises(ValueError, match=message):
        Network(kwargs.pop("sizes"), **kwargs)


def test_the_plain_spelling_and_its_spec_are_unchanged():
    net = Network([4, 16, 3])
    assert "dropout" not in net.spec() and "normalization" not in net.spec()
    assert net.has_layers is False and net.gammas == [None, None]
    assert Network([4, 16, 3], dropout=[0, None], normalization="none").spec() == net.spec()


# ---------------------------------------------------------------------------- surfaces
def trained(seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(16, 3)), rng.random((16, 2))
    net = Network([3, 5, 4, 2], dropout=[0.3, 0.0], normalization=["batch", "layer"], seed=seed)
    net.fit(X, Y, epochs=2, batch_size=4)
    return net, X, Y


def test_spec_copy_and_pickle_carry_the_layers_and_running_statistics():
    import pickle

    net, X, _ = trained()
    spec = net.spec()
    assert spec["dropout"] == [0.3, 0.0] and spec["normalization"] == ["batch", "layer"]
    assert json.loads(json.dumps(spec)) == spec
    for clone in (net.copy(), pickle.loads(pickle.dumps(net))):
        assert clone.spec() == spec
        assert np.array_equal(clone.flat_parameters(), net.flat_parameters())
        assert all(np.array_equal(a, b) for a, b in
                   zip(clone.running_statistics(), net.running_statistics()))
        assert np.array_equal(clone.predict(X), net.predict(X))
    clone = net.copy()
    clone.running_means[0] += 1.0
    assert not np.array_equal(clone.running_means[0], net.running_means[0])


def test_model_files_carry_the_layers(tmp_path):
    net, X, _ = trained()
    net.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.spec() == net.spec()
    assert np.array_equal(loaded.predict(X), net.predict(X))
    with np.load(tmp_path / "m.npz") as archive:
        assert {"layers.0.gamma", "layers.0.running_var", "layers.1.beta"} <= set(archive.files)
        assert "layers.1.running_mean" not in archive.files


def rewrite(path, edit_header=None, drop=(), add=None):
    """The model file with its header edited and members dropped or added, re-sealed."""
    from chainrule.model_archive import digest

    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays.pop("chainrule.json")))
    if edit_header:
        edit_header(header)
    arrays = {k: v for k, v in arrays.items() if k not in drop} | (add or {})
    header["checksum"] = digest({k: v for k, v in arrays.items() if k.startswith("layers.")},
                                header)
    np.savez(path, **{"chainrule.json": np.array(json.dumps(header))}, **arrays)


@pytest.mark.parametrize("edit, drop, add, message", [
    (lambda h: h["architecture"].update(dropout=[1.5, 0.0]), (), None, "malformed dropout"),
    (lambda h: h["architecture"].update(dropout=[0.1]), (), None, "malformed dropout"),
    (lambda h: h["architecture"].update(normalization=["batch", "group"]), (), None,
     "malformed normalization"),
    (lambda h: h["architecture"].update(normalization="batch"), (), None,
     "malformed normalization"),
    (None, ("layers.0.running_var",), None, "missing"),
    (None, (), {"layers.2.gamma": np.ones(2)}, "unexpected"),
    (None, (), {"layers.0.running_var": -np.ones(5)}, "running_vars\\[0\\]"),
])
def test_malformed_layer_fields_are_refused(tmp_path, edit, drop, add, message):
    net, _, _ = trained()
    path = tmp_path / "m.npz"
    net.save(path)
    rewrite(path, edit, drop, add)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_files_without_the_layer_fields_still_load(tmp_path):
    net = Network([3, 4, 2], seed=0)
    net.save(tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as archive:
        header = json.loads(str(archive["chainrule.json"]))
    assert "dropout" not in header["architecture"]
    assert load(tmp_path / "plain.npz").spec() == net.spec()


def test_a_stopped_and_resumed_run_with_the_layers_ends_bit_identical(tmp_path):
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(24, 3)), rng.random((24, 2))

    def net():
        return Network([3, 6, 5, 2], dropout=[0.4, 0.2], normalization=["batch", "layer"],
                       seed=3)

    whole = net()
    whole.fit(X, Y, epochs=4, batch_size=6, optimizer="adam", learning_rate=0.01)
    first = net()
    first.fit(X, Y, epochs=2, batch_size=6, optimizer="adam", learning_rate=0.01,
              checkpoint=tmp_path / "c.npz")
    resumed = net()
    resumed.fit(X, Y, epochs=4, batch_size=6, optimizer="adam", learning_rate=0.01,
                resume_from=tmp_path / "c.npz")
    assert np.array_equal(resumed.flat_parameters(), whole.flat_parameters())
    assert all(np.array_equal(a, b) for a, b in
               zip(resumed.running_statistics(), whole.running_statistics()))


def early_stopped_run():
    """A run whose validation loss is best at epoch 4 of 7 (targets 0.4 times the training
    ones: predictions pass them on the way), with every epoch's state."""
    from epoch_states import EpochStates

    from chainrule.callbacks import EarlyStopping

    rng = np.random.default_rng(0)
    slopes = np.array([[1.0], [-2.0], [0.5]])
    X, X_val = rng.normal(size=(32, 3)), rng.normal(size=(16, 3))
    net = Network([3, 6, 1], activation="tanh", output_activation="identity", loss="mse",
                  normalization="batch", seed=1)
    record = EpochStates()
    history = net.fit(X, X @ slopes, epochs=40, batch_size=8, learning_rate=0.01,
                      validation_data=(X_val, 0.4 * X_val @ slopes), progress=False,
                      early_stopping=EarlyStopping(patience=3), callbacks=[record])
    assert 0 < history.best_epoch < history.epochs - 1  # neither the first nor the last
    return net, history, record.states[history.best_epoch]


def test_early_stopping_restores_the_best_epochs_weights():
    net, _, (parameters, _) = early_stopped_run()
    np.testing.assert_array_equal(net.flat_parameters(), parameters)


def test_early_stopping_restores_the_best_epochs_running_statistics():
    net, _, (_, statistics) = early_stopped_run()
    assert len(statistics) == 2
    for kept, best in zip(net.running_statistics(), statistics, strict=True):
        np.testing.assert_array_equal(kept, best)


def test_the_command_line_trains_and_saves_them(tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "m.npz"
    assert main(["train", "--dataset", "iris", "--hidden", "8,6", "--dropout", "0.2,0",
                 "--normalization", "batch", "--epochs", "2", "--out", str(out)]) == 0
    net = load(out)
    assert net.dropout == [0.2, 0.0, 0.0] and net.normalization == ["batch", "batch", None]
    assert main(["train", "--dataset", "iris", "--normalization", "group", "--out",
                 str(out)]) == 2
    assert "batch, layer or none" in capsys.readouterr().err


def test_the_estimators_take_them():
    from sklearn.base import clone

    from chainrule.sklearn import GDClassifier

    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=30)
    model = GDClassifier(hidden_layer_sizes=(5, 4), dropout=(0.3, 0.0), normalization="layer",
                         epochs=3, random_state=0).fit(X, y)
    assert model.network_.dropout == [0.3, 0.0, 0.0]
    assert model.network_.normalization == ["layer", "layer", None]
    assert clone(model).get_params()["dropout"] == (0.3, 0.0)
    assert model.predict(X).shape == (30,)


def test_the_dask_path_refuses_batch_normalization_with_global_batching():
    from chainrule.distributed import DaskBlocks

    net = Network([3, 4, 2], normalization="batch")
    with pytest.raises(ValueError, match="does not train batch normalisation yet with "
                                         "batching='global'"):
        DaskBlocks(net, np.zeros((4, 3)), np.zeros((4, 2)))


@pytest.mark.parametrize("other, field", [
    ({"dropout": [0.1, 0.2]}, "dropout=[0.5, 0.2]"),
    ({"normalization": ["layer", "layer"]}, "normalization=['batch', 'layer']"),
    ({"normalization": None}, "normalization=['batch', 'layer']"),
    ({"dropout": 0.0}, "dropout=[0.5, 0.2]"),
])
def test_a_state_refuses_to_resume_into_another_architecture(other, field):
    from chainrule.training import Trainer

    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(12, 3)), rng.random((12, 2))
    layers = {"dropout": [0.5, 0.2], "normalization": ["batch", "layer"]}
    net = Network([3, 4, 4, 2], seed=0, **layers)
    first = Trainer(net, X, Y, epochs=2, batch_size=4, progress=False)
    first.run_epoch()
    state = first.state_dict()
    assert state["network"] == net.spec()
    changed = Network([3, 4, 4, 2], seed=0, **(layers | other))
    with pytest.raises(ValueError, match=re.escape(f"made for a network with {field}")):
        Trainer(changed, X, Y, epochs=2, batch_size=4, progress=False).load_state_dict(state)
    same = Trainer(Network([3, 4, 4, 2], seed=0, **layers), X, Y, epochs=2, batch_size=4,
                   progress=False)
    same.load_state_dict(state)  # the same network resumes
    assert same.epoch == 1
    if "dropout" in other:  # a state from before the architecture was saved: not checked
        older = {k: v for k, v in state.items() if k != "network"}
        resumed = Trainer(changed, X, Y, epochs=2, batch_size=4, progress=False)
        resumed.load_state_dict(older)
        assert resumed.epoch == 1


def test_a_checkpoint_file_refuses_another_dropout(tmp_path):
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(12, 3)), rng.random((12, 1))
    path = tmp_path / "c.npz"
    Network([3, 4, 1], dropout=0.5, seed=0).fit(X, Y, epochs=1, checkpoint=path,
                                                progress=False)
    with pytest.raises(ValueError, match="dropout"):
        Network([3, 4, 1], dropout=0.1, seed=0).fit(X, Y, epochs=2, resume_from=path,
                                                    progress=False)
