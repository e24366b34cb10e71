"""The fast engine equals the reference engine (plain NumPy, one screen) on random networks."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_network import HIDDEN, OUTPUT_PAIRS, targets_for

from chainrule import Network, reference


def assert_rel(fast, ref, what, rtol=1e-12):
    fast, ref = np.asarray(fast, dtype=float), np.asarray(ref, dtype=float)
    assert fast.shape == ref.shape, what
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    assert float(np.max(np.abs(fast - ref), initial=0.0)) <= rtol * scale, what


@settings(max_examples=200)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=4),
    n_inputs=st.integers(1, 5),
    n_samples=st.integers(1, 7),
    pair=st.sampled_from(OUTPUT_PAIRS),
    hidden_activation=st.sampled_from(HIDDEN),
    bias=st.lists(st.booleans(), min_size=5, max_size=5),
    init=st.sampled_from(["xavier", "he", "uniform"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_fast_engine_equals_the_reference(hidden, n_inputs, n_samples, pair, hidden_activation,
                                          bias, init, seed):
    loss, output = pair
    n_outputs = 3 if output == "softmax" else (seed % 3) + 1
    sizes = [n_inputs, *hidden, n_outputs]
    net = Network(sizes, activation=hidden_activation, output_activation=output,
                  bias=bias[: len(sizes) - 1], loss=loss, init=init, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_inputs))
    Y = targets_for(loss, output, rng, n_samples, n_outputs)
    with np.errstate(over="ignore"):
        expected = reference.backprop(net, X, Y)
        workspace = net.workspace(n_samples)
        net.forward(X, workspace)
        error, delta = net.output_delta(Y, workspace)
        net.backward(X, workspace)
    assert error == expected["error"] or abs(error - expected["error"]) <= 1e-12 * abs(
        expected["error"])
    for layer in range(net.n_layers):
        assert_rel(workspace.sops[layer], expected["sops"][layer], ("sop", layer))
        assert_rel(workspace.outputs[layer], expected["outputs"][layer], ("output", layer))
        assert_rel(workspace.deltas[layer], expected["deltas"][layer], ("delta", layer))
        assert_rel(net.weight_grads[layer], expected["weight_grads"][layer], ("dW", layer))
        if net.bias[layer]:
            assert_rel(net.bias_grads[layer], expected["bias_grads"][layer], ("db", layer))
        else:
            assert net.bias_grads[layer] is None and expected["bias_grads"][layer] is None
    assert delta is workspace.deltas[-1]


def test_the_reference_fits_on_one_screen():
    import inspect

    source = inspect.getsource(reference.backprop)
    assert len(source.splitlines()) <= 40
