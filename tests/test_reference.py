"""The fast engine equals the reference engine (plain NumPy, one screen) on random networks."""

import numpy as np
from architectures import networks_and_data
from hypothesis import given, settings

from chainrule import reference


def assert_rel(fast, ref, what, rtol=1e-12):
    fast, ref = np.asarray(fast, dtype=float), np.asarray(ref, dtype=float)
    assert fast.shape == ref.shape, what
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    assert float(np.max(np.abs(fast - ref), initial=0.0)) <= rtol * scale, what


@settings(max_examples=200)
@given(networks_and_data(max_width=6, max_inputs=5, max_samples=7))
def test_fast_engine_equals_the_reference(case):
    net, X, Y = case
    n_samples = X.shape[0]
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
