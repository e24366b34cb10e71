"""The chain panel's data (chainrule.playground.chains) for networks with dropout and
normalisation, the new activations, the penalties and clipping."""

import json

import numpy as np
import pytest
from test_playground_session import config

from chainrule import Network
from chainrule.explain import explain, next_masks
from chainrule.optimizers import get_optimizer
from chainrule.playground.chains import _clipping, _first_rows, _penalties, output_factors, paths
from chainrule.playground.session import Session
from chainrule.reference import ACTIVATIONS, backprop
from chainrule.training.step import Descent


def _net(**layers):
    net = Network([3, 4, 3, 2], activation="tanh", seed=2, **layers)
    rng = np.random.default_rng(2)
    return net, rng.normal(size=(5, 3)), rng.random((5, 2))


@pytest.mark.parametrize("layer, source, to", [(0, 1, 2), (0, None, 3), (1, 2, 0), (2, 0, 1)])
def test_the_paths_through_dropout_carry_each_mask_factor(layer, source, to):
    net, X, Y = _net(dropout=[0.5, 0.25])
    masks = next_masks(net, len(X))
    values = backprop(net, X, Y, masks=masks)
    weight, bias = (None, to) if source is None else ((source, to), None)
    explained = explain(net, X, Y, layer, weight, bias=bias, masks=masks)
    out = paths(net, values, X, layer, source, to, 3)
    assert out["sum"] == pytest.approx(explained.gradient, rel=1e-12, abs=1e-15)
    assert len(out["mask_factors"]) == net.n_layers - 1 - layer
    for at, factors in zip(range(layer, net.n_layers - 1), out["mask_factors"]):
        assert set(np.ravel(factors)) <= {0.0, 1.0 / (1.0 - net.dropout[at])}


def test_the_paths_through_normalisation_are_not_products():
    net, X, Y = _net(normalization=["batch", None])
    values = backprop(net, X, Y)
    assert paths(net, values, X, 0, 1, 2, 3) == {"count": 3 * 2, "limit": 64,
                                                 "normalised": True}
    assert "normalised" not in paths(net, values, X, 1, 1, 2, 3)  # above the normalised layer


def test_a_cut_layered_explanation_keeps_its_terms_per_row():
    net, X, Y = _net(dropout=[0.5, 0.0], normalization=["batch", "layer"])
    data = _first_rows(explain(net, X, Y, 0, (1, 2)), 2)
    json.dumps(data)
    assert [len(row) for row in data["forward"]["layers"][0]["mask"]] == [4, 4]
    through = data["backward"][-1]["through_layer"]
    assert len(through["dError_dZ"]) == 2 and len(through["dropout"]["factor"]) == 2
    norm = through["normalization"]
    assert len(norm["dsop"]) == 2 and len(norm["xhat"]) == 2 and norm["M"] == 5
    layer_one = next(d for d in data["backward"] if d["layer"] == 1)
    layer_norm = layer_one["through_layer"]["normalization"]
    assert layer_norm["kind"] == "layer" and len(layer_norm["mean"]) == 2


@pytest.mark.parametrize("activation", ["elu", "selu", "gelu", "gelu_tanh", "softplus", "silu"])
def test_the_output_factors_of_the_new_activations(activation):
    net = Network([2, 3, 2], activation=activation, output_activation=activation, seed=1)
    X, Y = np.array([[0.3, -0.8], [1.2, 0.1]]), np.array([[0.2, 0.6], [0.9, 0.1]])
    values = backprop(net, X, Y)
    out = output_factors(net, values, Y, 2)
    assert out["g2_formula"] == ACTIVATIONS[activation][2]
    np.testing.assert_allclose(out["g1g2"], out["delta"], rtol=1e-14)
    explained = explain(net, X, Y, 0, (1, 2))
    weight_grads, _ = net.gradients(X, Y)
    assert explained.gradient == pytest.approx(weight_grads[0][1, 2], rel=1e-12)


def test_the_penalties_terms():
    terms = _penalties({"l2": 0.1, "l1": 0.01}, True, -0.5)
    assert terms["l2"] == {"l2": 0.1, "term": 0.1 * -0.5}
    assert terms["l1"] == {"l1": 0.01, "sign": -1.0, "term": -0.01}
    bias = _penalties({"l2": 0.1, "l1": 0.01}, False, -0.5)
    assert bias["l2"]["term"] == 0.0 and bias["l1"]["term"] == 0.0
    assert _penalties({"l2": 0.0, "l1": 0.0}, True, 0.0)["l1"]["sign"] == 0.0


@pytest.mark.parametrize("clip_norm, clip_value", [(0.05, None), (None, 0.01), (0.05, 0.004),
                                                   (1e9, None)])
def test_the_clipping_is_the_steps(clip_norm, clip_value):
    """The gradient the optimizer receives, from the chain's terms, is the one the step's
    Descent (penalties, then clipping by norm, then by value) leaves in the gradient buffer."""
    net, X, Y = _net(normalization=["batch", None])
    applied = {"l2": 0.3, "l1": 0.02, "clip_norm": clip_norm, "clip_value": clip_value}
    values = backprop(net, X, Y)
    layer, i, j = 1, 2, 0
    value = float(net.weights[layer][i, j])
    explained = explain(net, X, Y, layer, (i, j)).gradient
    terms = _penalties(applied, True, value)
    out = _clipping(net, values, applied, explained + terms["l2"]["term"]
                    + terms["l1"]["term"])
    net.gradients(X, Y)
    descent = Descent(net, get_optimizer("gd"), 0.3, 0.0, l1=0.02, clip_norm=clip_norm,
                      clip_value=clip_value)
    descent(0.0)  # the gradient buffer now holds what the optimizer received
    assert out["gradient"] == pytest.approx(float(net.weight_grads[layer][i, j]), rel=1e-10)
    if clip_norm is not None:
        assert out["norm"] == pytest.approx(descent.last_norm, rel=1e-10)
        assert (out["factor"] < 1.0) == (clip_norm < 1.0)


@pytest.mark.parametrize("optimizer", ["adamw", "nadam", "amsgrad", "adadelta"])
def test_a_session_chain_with_the_new_optimizers_and_penalties(optimizer):
    session = Session(config(optimizer=optimizer, l2=0.01))
    session.step("batch", 3)
    chain = session.chain(0, 1, source=0)
    assert chain["l2"]["l2"] == 0.01 and chain["l1"]["term"] == 0.0
    assert chain["clipping"]["factor"] == 1.0 and chain["clipping"]["norm"] is None
    assert chain["engine_relative_difference"] < 1e-10
    update = chain["update"]
    assert update["optimizer"] == optimizer and update["terms"][-1]["name"] == "p"
    assert update["terms"][-1]["value"] == pytest.approx(update["after"], rel=1e-12)
