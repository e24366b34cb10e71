import gc
import re
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule import Network

PAIRS = [("squared_error", "sigmoid"), ("mse", "identity"), ("squared_error", "softmax"),
         ("binary_cross_entropy", "sigmoid"), ("categorical_cross_entropy", "softmax"),
         ("categorical_cross_entropy", "sigmoid")]


@given(
    hidden=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_inputs=st.integers(1, 3),
    n_samples=st.integers(1, 4),
    pair=st.sampled_from(PAIRS),
    activation=st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu", "identity"]),
    seed=st.integers(0, 2**31),
)
def test_explained_gradient_equals_backpropagation(hidden, n_inputs, n_samples, pair,
                                                   activation, seed):
    loss, output = pair
    n_outputs = 3 if output == "softmax" else 2
    net = Network([n_inputs, *hidden, n_outputs], activation=activation,
                  output_activation=output, loss=loss, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_inputs))
    if loss == "categorical_cross_entropy":
        Y = rng.dirichlet(np.ones(n_outputs), size=n_samples)
    else:
        Y = rng.random((n_samples, n_outputs))
    weight_grads, bias_grads = net.gradients(X, Y)
    for layer in range(net.n_layers):
        n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
        i, j = rng.integers(n_in), rng.integers(n_out)
        explained = net.explain(X, Y, layer, (i, j))
        assert explained.gradient == pytest.approx(weight_grads[layer][i, j], rel=1e-12,
                                                   abs=1e-14)
        by_bias = net.explain(X, Y, layer, bias=j)
        assert by_bias.gradient == pytest.approx(bias_grads[layer][j], rel=1e-12, abs=1e-14)


def test_output_weight_chain_is_the_tutorials_g1_g2_g3():
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    w = net.weights[0][0, 0]
    explanation = net.explain([[0.1]], [[0.3]], 0, (0, 0))
    g1, g2 = explanation.delta.factors
    predicted = 1 / (1 + np.exp(-0.1 * w))
    assert g1.name == "g1 = dError/dPredicted"
    assert g1.value[0] == pytest.approx(2 * (predicted - 0.3))
    assert g2.name == "g2 = dPredicted/dSop" and g2.value[0] == pytest.approx(
        predicted * (1 - predicted))
    assert explanation.sop_weight_deriv.value[0] == 0.1
    text = str(explanation)
    assert "dError/dPredicted" in text and "gradient" in text
    data = explanation.to_dict()
    assert data["parameter"] == "weights[0][0, 0]"
    assert data["gradient"] == pytest.approx(explanation.gradient)


def test_hidden_weight_sums_over_every_next_neuron():
    net = Network([2, 3, 2], seed=4)
    explanation = net.explain([[0.1, 0.4]], [[0.3, 0.7]], 0, (1, 2))
    paths = explanation.delta.paths
    assert [p["to_neuron"] for p in paths] == [0, 1]
    total = sum(p["weight"] * p["next"].value[0] for p in paths)
    derivative = explanation.delta.factors[0].value[0]
    assert explanation.delta.value[0] == pytest.approx(derivative * total)


@pytest.mark.parametrize(
    "layer, weight, bias, message",
    [(2, (0, 0), None, "layer 2 is outside"), (0, (5, 0), None, "from_neuron 5"),
     (0, (0, 9), None, "to_neuron 9"), (0, "x", None, "pair"), (1, None, 0, "has no bias")],
)
def test_explain_rejects_indices_outside_the_network(layer, weight, bias, message):
    net = Network([2, 3, 1], bias=[True, False])
    with pytest.raises(ValueError, match=message):
        net.explain([[0.1, 0.2]], [[0.3]], layer, weight, bias=bias)


def test_the_text_shows_the_forward_pass_then_the_chain_from_the_top_down():
    net = Network([2, 3, 2, 1], activation="tanh", output_activation="sigmoid", seed=1)
    text = str(net.explain([[0.1, 0.4]], [[0.3]], 0, (1, 2)))
    forward, backward = text.split("Backward pass")
    predicted = net.predict([[0.1, 0.4]])[0, 0]
    assert "x = [0.1, 0.4]" in forward and f"predicted = sigmoid(sop[2]) = [{predicted:.10g}]" \
        in forward
    assert "sop[1] = output[0] @ weights[1] + biases[1]" in forward
    # Derived as a person derives it: the output layer first, then layer 1, then layer 0.
    order = [backward.index(f"layer {layer}, neuron") for layer in (2, 1, 0)]
    assert order == sorted(order)
    assert "g1 = dError/dPredicted" in backward and "g3 = dSop[0][2]/dWeight" in backward
    assert "dError/dOutput[0][2] = sum over k of weights[1][2, k] * dError/dSop[1][k]" in backward
    numbers = re.findall(r"\d\.\d+(?:e-?\d+)?", text)
    assert all(len(n.split("e")[0].replace(".", "").lstrip("0")) <= 10 for n in numbers)


def test_a_batch_shows_values_per_sample_and_the_mean():
    net = Network([2, 2, 1], seed=3)
    X, Y = [[0.1, 0.4], [0.9, -0.2], [0.5, 0.5]], [[0.3], [0.8], [0.1]]
    explanation = net.explain(X, Y, 0, (0, 1))
    text = str(explanation)
    assert "a batch of 3 samples" in text and "(here n = 3)" in text
    # The 1/n is said once, where it enters; the gradient is the sum of the rows' terms.
    assert text.count("1/n") == 1 and "1/n enters once, in g1" in " ".join(text.split())
    terms = explanation.terms
    assert explanation.per_sample_gradient == pytest.approx(3 * terms, rel=1e-12)
    shown = " + ".join(f"({t:.10g})" if t < 0 else f"{t:.10g}" for t in terms)
    assert f"= {shown} = {explanation.gradient:.10g}" in text
    assert terms.sum() == pytest.approx(explanation.gradient, rel=1e-12)
    assert explanation.per_sample_gradient.shape == (3,)
    assert np.mean(explanation.per_sample_gradient) == pytest.approx(explanation.gradient,
                                                                     rel=1e-12)
    single = [net.explain([x], [y], 0, (0, 1)).gradient for x, y in zip(X, Y)]
    np.testing.assert_allclose(explanation.per_sample_gradient, single, rtol=1e-12)
    data = explanation.to_dict()
    assert data["forward"]["x"] == X and len(data["forward"]["layers"]) == 2
    assert [(d["layer"], d["neuron"]) for d in data["backward"]] == [(1, 0), (0, 1)]
    assert data["per_sample_gradient"] == pytest.approx(single)
    assert data["terms"] == pytest.approx(list(terms))


def _number(text: str) -> float:
    return float(text.strip("()"))


@pytest.mark.parametrize("layer, weight, bias", [(0, (1, 2), None), (1, (2, 0), None),
                                                 (2, (0, 0), None), (1, None, 1)])
def test_the_forward_pass_shows_the_parameter_and_what_feeds_its_neuron(layer, weight, bias):
    """The parameter's own value, the weights and bias feeding its neuron, and that neuron's sop
    written as their sum of products, each number the network's and the sum closing to the
    sop shown."""
    net = Network([2, 3, 2, 1], activation="tanh", output_activation="sigmoid", seed=7)
    X = [[0.1, -0.4]]
    explanation = net.explain(X, [[0.3]], layer, weight, bias=bias)
    text = str(explanation)
    forward = text.split("Backward pass")[0]
    to = weight[1] if bias is None else bias
    column, b = net.weights[layer][:, to], net.biases[layer][to]
    value = b if bias is not None else net.weights[layer][weight]
    assert explanation.value == value
    np.testing.assert_array_equal(explanation.incoming, column)
    assert explanation.incoming_bias == b
    assert text.splitlines()[0].endswith(f"whose value is {value:.10g}")
    if bias is None:
        assert (f"which the weight explained feeds (weights[{layer}][{weight[0]}, {to}] = "
                f"{value:.10g})") in forward
    else:
        assert f"whose bias is explained (biases[{layer}][{to}] = {value:.10g})" in forward
    shown = "[" + ", ".join(f"{w:.10g}" for w in column) + "]"
    assert f"weights[{layer}][:, {to}] = {shown}; biases[{layer}][{to}] = {b:.10g}" in forward
    source = "x" if layer == 0 else f"output[{layer - 1}]"
    names = " + ".join(f"{source}[{i}] * weights[{layer}][{i}, {to}]" for i in range(len(column)))
    assert f"sop[{layer}][{to}] = {names} + biases[{layer}][{to}]" in forward
    # The numbers written out close to the sop shown (to the 10 digits shown).
    line = next(line for line in forward.splitlines()
                if line.strip().startswith("= ") and " * " in line)
    *products, result = line.strip()[2:].split(" = ")
    terms = products[0].split(" + ")
    total = sum(_number(t.split(" * ")[0]) * _number(t.split(" * ")[1]) for t in terms[:-1])
    total += _number(terms[-1])
    sop = explanation.sops[layer][0, to]
    assert float(result) == pytest.approx(sop, rel=1e-9)
    assert total == pytest.approx(sop, rel=1e-8, abs=1e-9)
    inputs = np.asarray(X[0]) if layer == 0 else explanation.outputs[layer - 1][0]
    assert [_number(t.split(" * ")[0]) for t in terms[:-1]] == pytest.approx(inputs, rel=1e-9)
    data = explanation.to_dict()
    assert data["value"] == value and data["incoming"] == {"weights": list(column), "bias": b}


def test_a_neuron_without_bias_and_a_wide_layer_read_plainly():
    net = Network([20, 2, 1], bias=[False, True], seed=0)
    X = np.linspace(-1, 1, 20).reshape(1, -1)
    explanation = net.explain(X, [[0.3]], 0, (15, 1))
    text = str(explanation)
    assert "; no bias" in text and "biases[0][1]" not in text
    assert "x[10] * weights[0][10, 1] + ... + x[19] * weights[0][19, 1]\n" in text
    assert explanation.incoming_bias is None and explanation.to_dict()["incoming"]["bias"] is None
    assert f"(weights[0][15, 1] = {net.weights[0][15, 1]:.10g})" in text


def test_a_bias_and_a_softmax_read_plainly():
    net = Network([2, 3], output_activation="softmax", seed=0)
    text = str(net.explain([[0.5, -1.0]], [[0.2, 0.3, 0.5]], 0, bias=1))
    assert "g3 = dSop[0][1]/dBias = 1\n" in text and "= 1 = 1" not in text
    assert "sum over the outputs m of g1[m] * g2[m]" in text


def test_a_chain_keeps_each_layer_once_and_is_freed_when_dropped():
    """A chain holds the reference's five arrays of every layer (sop, output, delta,
    dError/dOutput, dOutput/dSop) and one product per path, not a layer's values per neuron;
    and nothing of it waits for the cycle collector once it is dropped."""
    net = Network([2, 64, 64, 2], seed=0)
    rng = np.random.default_rng(0)
    rows = 2000
    X, Y = rng.normal(size=(rows, 2)), rng.random((rows, 2))
    paths = 64 + 64 * 2  # from the neuron of layer 0, and from each neuron of layer 1
    needed = 8 * rows * (5 * sum(net.sizes[1:]) + paths)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        explanation = net.explain(X, Y, 0, (0, 0))
        peak = tracemalloc.get_traced_memory()[1]
        derived = weakref.ref(explanation.derivation[0])
        del explanation
        assert derived() is None
        assert tracemalloc.get_traced_memory()[0] < needed / 100
    finally:
        tracemalloc.stop()
        gc.enable()
    assert peak < 2 * needed


@pytest.mark.parametrize("seed", range(4))
def test_every_line_written_out_with_numbers_closes(seed):
    """Each line ``... = expression = result`` whose expression is numbers only gives, from
    the digits shown, the result shown (see tests/test_explain_layers.py's checker)."""
    from test_explain_layers import assert_lines_close

    net = Network([3, 4, 2], activation="tanh", seed=seed)
    rng = np.random.default_rng(seed)
    for X in (rng.normal(size=(1, 3)), rng.normal(size=(3, 3))):
        Y = rng.random((len(X), 2))
        assert assert_lines_close(str(net.explain(X, Y, 0, (1, 2)))) >= 1
        assert assert_lines_close(str(net.explain(X, Y, 1, bias=0))) >= 1
