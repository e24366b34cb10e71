"""explain through dropout, batch and layer normalisation: the gradient is the engine's, every
line written out with numbers closes, and each term is the one the reference computes."""

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dropout_normalization import layered_networks

from chainrule import Network
from chainrule.cli import main
from chainrule.explain import explain, next_masks
from chainrule.reference import backprop

_NUMERIC = re.compile(r"^[-+*/^()0-9.e sqrt]+$")


def closing_lines(text: str) -> list[tuple[str, float, float]]:
    """Every line ``... = expression = result`` whose expression is numbers only: ``(line,
    the expression recomputed from the digits shown, the result shown)``."""
    found = []
    for line in text.splitlines():
        parts = line.strip().split(" = ")
        if len(parts) < 2:
            continue
        expression = parts[-2].strip().removeprefix("= ").strip()
        result = parts[-1].strip()
        if not (_NUMERIC.match(expression) and re.search(r"\d", expression)
                and re.fullmatch(r"-?[0-9.]+(e[-+]?\d+)?", result)):
            continue
        value = eval(expression.replace("^", "**"), {"sqrt": math.sqrt})  # numbers only
        # A bound on the rounding of the digits shown: every number and operator made positive.
        bound = eval(re.sub(r"(?<!e)-", "+", expression).replace("^", "**"),
                     {"sqrt": lambda v: math.sqrt(abs(v))})
        found.append((line, value, float(result), abs(bound)))
    return found


def assert_lines_close(text: str) -> int:
    checked = closing_lines(text)
    for line, value, result, bound in checked:
        assert value == pytest.approx(result, rel=1e-8, abs=1e-8 * max(bound, 1e-300)), line
    return len(checked)


def _parameters(net, rng):
    """A weight, a bias (if any), a gamma and a beta (if any) of each layer."""
    for layer in range(net.n_layers):
        n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
        j = int(rng.integers(n_out))
        yield layer, {"weight": (int(rng.integers(n_in)), j)}
        if net.biases[layer] is not None:
            yield layer, {"bias": j}
        if net.gammas[layer] is not None:
            yield layer, {"gamma": j}
            yield layer, {"beta": j}


@settings(max_examples=40, deadline=None)
@given(case=layered_networks(max_width=4, max_samples=5), pick=st.integers(0, 2**31))
def test_explained_gradients_are_the_engines_and_every_line_closes(case, pick):
    net, X, Y = case
    with np.errstate(all="ignore"):
        weight_grads, bias_grads = net.gradients(X, Y)
    masks = net.dropout_masks()
    gamma_grads = [None if g is None else g.copy() for g in net.gamma_grads]
    beta_grads = [None if g is None else g.copy() for g in net.beta_grads]
    rng = np.random.default_rng(pick)
    for layer, asked in _parameters(net, rng):
        weight = asked.pop("weight", None)
        with np.errstate(all="ignore"):
            explained = net.explain(X, Y, layer, weight, masks=masks, **asked)
        if weight is not None:
            expected = weight_grads[layer][weight]
        else:
            (kind, j), = asked.items()
            expected = {"bias": bias_grads, "gamma": gamma_grads,
                        "beta": beta_grads}[kind][layer][j]
        scale = max(1.0, float(np.max(np.abs(weight_grads[layer]))))
        assert explained.gradient == pytest.approx(expected, rel=1e-9, abs=1e-12 * scale)
        text = str(explained)
        if np.all(np.isfinite(explained.terms)) and np.max(np.abs(X)) < 1e6:
            assert_lines_close(text)
        json.dumps(explained.to_dict())


def _layered(seed=3, n=4, kinds=("batch", "layer"), dropout=(0.5, 0.25)):
    net = Network([3, 4, 3, 2], activation="tanh", normalization=list(kinds),
                  dropout=list(dropout), seed=seed)
    rng = np.random.default_rng(seed)
    for gamma, beta in zip(net.gammas, net.betas):
        if gamma is not None:
            gamma[...] = rng.uniform(0.5, 2.0, gamma.shape)
            beta[...] = rng.normal(size=beta.shape)
    return net, rng.normal(size=(n, 3)), rng.random((n, 2))


def test_the_default_masks_are_those_the_next_training_pass_draws():
    net, X, Y = _layered()
    state = net.rng.bit_generator.state
    drawn = next_masks(net, len(X))
    explained = net.explain(X, Y, 0, (1, 2))
    assert net.rng.bit_generator.state == state  # the network's generator is left alone
    weight_grads, _ = net.gradients(X, Y)
    for ours, engines in zip(drawn, net.dropout_masks()):
        assert (ours is None) == (engines is None)
        if ours is not None:
            np.testing.assert_array_equal(ours, engines)
    assert explained.gradient == pytest.approx(weight_grads[0][1, 2], rel=1e-12)


def test_each_term_is_the_references():
    """dsop from the terms shown is the reference's delta; dError/dZ, the mask factor and the
    activation's derivative are its values; the factor is 0 or 1 / (1 - p)."""
    net, X, Y = _layered(n=5)
    masks = next_masks(net, len(X))
    values = backprop(net, X, Y, masks=masks)
    explained = explain(net, X, Y, 0, (0, 1), masks=masks)
    hidden = [delta for delta in explained.derivation if delta.layer < net.n_layers - 1]
    assert len(hidden) == net.sizes[2] + 1
    for delta in hidden:
        terms, at, j = delta.layer_terms, delta.layer, delta.neuron
        np.testing.assert_array_equal(terms.norm.dsop, values["deltas"][at][:, j])
        np.testing.assert_array_equal(delta.value, values["deltas"][at][:, j])
        np.testing.assert_array_equal(terms.z_grad, values["z_grads"][at][:, j])
        np.testing.assert_array_equal(terms.norm.xhat, values["xhats"][at][:, j])
        assert set(terms.mask_factor) <= {0.0, 1.0 / (1.0 - net.dropout[at])}
        np.testing.assert_array_equal(terms.mask, masks[at][:, j])
    batch = explained.delta.layer_terms.norm
    assert batch.kind == "batch" and batch.mean.ndim == 0 and batch.size == len(X)
    assert batch.mean == pytest.approx(np.mean(values["sops"][0][:, 1]), rel=1e-14)
    assert batch.var == pytest.approx(np.var(values["sops"][0][:, 1]), rel=1e-12)
    layer_norm = hidden[0].layer_terms.norm
    assert layer_norm.kind == "layer" and layer_norm.mean.shape == (len(X),)
    assert layer_norm.size == net.sizes[2]


def test_the_text_shows_the_mask_the_normalisation_and_its_backward_terms():
    net, X, Y = _layered(n=3)
    explained = net.explain(X, Y, 0, (2, 1))
    text = str(explained)
    forward, backward = text.split("Backward pass")
    assert "layer 0 (tanh, batch normalisation, dropout 0.5)" in forward
    assert "layer 1 (tanh, layer normalisation, dropout 0.25)" in forward
    norm = explained.delta.layer_terms.norm
    for shown in (f"mean = sum of sop / M = {norm.mean:.10g}",
                  f"std = sqrt(var + 1e-05) = {norm.std:.10g}",
                  f"gamma = {norm.gamma:.10g}, beta = {norm.beta:.10g}",
                  "its factor mask / (1 - 0.5) = ", "1 / (1 - p) = 2: kept"):
        assert shown in forward
    for shown in ("dOutput/dActivated = mask[0][:, 1] / (1 - 0.5)",
                  "dError/dActivated[0][1] = dError/dOutput * mask / (1 - p)",
                  "dActivated/dZ = 1 - tanh(z)^2", "dError/dXhat = dError/dZ * gammas[0][1]",
                  "dError/dVar = sum(dError/dXhat * (sop - mean)) * (-1/2) / std^3",
                  f"dError/dVar = sum(dError/dXhat * (sop - mean)) * (-1/2) / std^3 = "
                  f"{norm.dvar:.10g}",
                  f"sum(sop - mean) / M = {norm.dmean:.10g}",
                  "dError/dSop[0][1] = dError/dXhat / std + dError/dVar * 2 * (sop - mean) / M"
                  " + dError/dMean / M"):
        assert shown in backward
    assert assert_lines_close(text) > 30


def test_gamma_and_beta_are_explained_through_dz():
    net, X, Y = _layered(n=4)
    masks = next_masks(net, len(X))
    net.gradients(X, Y)
    for kind, grads in (("gamma", net.gamma_grads), ("beta", net.beta_grads)):
        explained = net.explain(X, Y, 1, **{kind: 2}, masks=masks)
        assert explained.parameter == f"{kind}s[1][2]" and explained.kind == kind
        assert explained.gradient == pytest.approx(grads[1][2], rel=1e-12)
        np.testing.assert_array_equal(explained.chain_grad, explained.delta.layer_terms.z_grad)
        text = str(explained)
        assert "gradient = sum over the samples of dError/dZ[1][2] * g3" in text
        assert ("g3 = dZ[1][2]/dGamma = xhat[1][2]" if kind == "gamma"
                else "g3 = dZ[1][2]/dBeta = 1") in text
        assert_lines_close(text)
    with pytest.raises(ValueError, match="not normalised"):
        Network([2, 3, 1]).explain([[0.1, 0.2]], [[0.3]], 0, gamma=0)
    with pytest.raises(ValueError, match="one of weight, bias, gamma or beta"):
        net.explain(X, Y, 0, (0, 0), gamma=1)


def test_the_data_carries_the_layers_terms():
    net, X, Y = _layered(n=3)
    data = json.loads(json.dumps(net.explain(X, Y, 0, (0, 0)).to_dict()))
    first = data["forward"]["layers"][0]
    assert first["normalization"] == "batch" and first["dropout"] == 0.5
    assert len(first["mask"]) == 3 and len(first["z"]) == 3 and len(first["activated"]) == 3
    assert "normalization" not in data["forward"]["layers"][2]  # the output layer: plain
    through = data["backward"][-1]["through_layer"]
    assert set(through) == {"dropout", "activated", "dActivated_dZ", "dError_dZ",
                            "normalization"}
    assert set(through["dropout"]) == {"rate", "mask", "factor", "dError_dActivated"}
    assert {"mean", "var", "std", "xhat", "z", "gamma", "beta", "dxhat", "dvar", "dmean",
            "dsop", "sum_dxhat_centred", "sum_dxhat", "sum_centred", "M", "eps"} <= set(
        through["normalization"])
    assert through["normalization"]["dsop"] == data["dError_dSop"]["value"]


def test_a_plain_network_in_a_layered_ones_place_keeps_its_text():
    plain = Network([2, 3, 1], seed=0)
    text = str(plain.explain([[0.1, 0.4]], [[0.3]], 0, (1, 2)))
    assert "dOutput/dSop = sigmoid(sop) * (1 - sigmoid(sop))" in text
    assert "normalisation" not in text and "mask" not in text
    assert "through_layer" not in plain.explain([[0.1, 0.4]], [[0.3]], 0, (1, 2)).to_dict()[
        "backward"][-1]


def test_the_command_line_explains_a_model_with_batch_normalisation(tmp_path, capsys):
    net = Network([4, 3, 3], activation="tanh", output_activation="softmax",
                  loss="categorical_cross_entropy", normalization=["batch"], seed=5)
    path = tmp_path / "bn.json"
    net.save(path)
    batch = ["--dataset", "iris", "--sample", "48", "--rows", "4"]
    code = main(["explain", "--model", str(path), *batch, "--layer", "0", "--weight", "1,2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "layer 0 (tanh, batch normalisation)" in out
    for term in ("mean = sum of sop / M", "std = sqrt(var + 1e-05)", "dError/dXhat",
                 "dError/dVar", "dError/dMean", "dError/dSop[0][2] = dError/dXhat / std"):
        assert term in out
    # A batch from a dataset: the statistics are its rows', and the gradient the engine's.
    code = main(["explain", "--model", str(path), *batch, "--layer", "0", "--weight", "1,2",
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and len(data["forward"]["x"]) == 4
    from chainrule.datasets import load_dataset

    iris = load_dataset("iris")
    X, Y = iris.X[48:52], np.eye(3)[iris.y[48:52].astype(int)]
    assert data["gradient"] == pytest.approx(net.gradients(X, Y)[0][0][1, 2], rel=1e-12)
    assert data["backward"][-1]["through_layer"]["normalization"]["M"] == 4
    code = main(["explain", "--model", str(path), *batch, "--layer", "0", "--gamma", "1",
                 "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["parameter"] == "gammas[0][1]"


@pytest.mark.parametrize("rows", [[], ["--dataset", "iris", "--rows", "1"]])
def test_one_row_of_a_batch_normalised_model_is_refused_in_one_line(tmp_path, capsys, rows):
    """The engine does not train batch normalisation on one row (its variance is 0, no
    gradient reaches the sop through it): explain refuses it too, and says what to ask."""
    net = Network([4, 3, 3], activation="tanh", output_activation="softmax",
                  loss="categorical_cross_entropy", normalization=["batch"], seed=5)
    path = tmp_path / "bn.json"
    net.save(path)
    code = main(["explain", "--model", str(path), *rows, "--layer", "0", "--weight", "1,2"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    error = captured.err.strip()
    assert len(error.splitlines()) == 1
    assert "at least 2 rows" in error and "--rows 2 or more" in error


def test_the_library_refuses_one_row_of_a_batch_normalised_network_as_the_engine_does():
    net = Network([3, 4, 2], normalization="batch", seed=0)
    X, Y = np.array([[0.1, 0.2, 0.3]]), np.array([[0.5, 0.5]])
    with pytest.raises(ValueError, match="at least 2 rows per batch"):
        net.gradients(X, Y)
    with pytest.raises(ValueError, match="at least 2 rows per batch in training.*2 rows or "
                                         "more"):
        net.explain(X, Y, 0, (0, 1))
    layer = Network([3, 4, 2], normalization="layer", seed=0)  # one row is fine there
    assert layer.explain(X, Y, 0, (0, 1)).gradient == pytest.approx(
        layer.gradients(X, Y)[0][0][0, 1], rel=1e-12)
