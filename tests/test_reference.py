"""The fast engine equals the reference engine (plain NumPy, maths of its own) on random networks,
the reference equals finite differences, and a wrong derivative in the engine breaks the first."""

import ast
import inspect

import numpy as np
import pytest
from architectures import networks_and_data, targets_for
from hypothesis import assume, given, settings
from test_dropout_normalization import differences as layered_differences
from test_dropout_normalization import layered_networks

from chainrule import Network, reference, reference_layers, reference_maths
from chainrule.activations import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from chainrule.gradcheck import gradcheck, numerical_gradients, relative_error
from chainrule.losses import (
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    Loss,
    MeanSquaredError,
    SquaredError,
)
from chainrule.smooth_activations import ELU, GELU, SELU, SiLU, Softplus, TanhGELU


def close(fast, ref, rtol=1e-12):
    fast, ref = np.asarray(fast, dtype=float), np.asarray(ref, dtype=float)
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    return fast.shape == ref.shape and float(np.max(np.abs(fast - ref), initial=0.0)) <= \
        rtol * scale


def differences(net, X, Y):
    """What the engine's forward and backward pass give otherwise than the reference's."""
    with np.errstate(over="ignore"):
        expected = reference.backprop(net, X, Y)
        workspace = net.workspace(X.shape[0])
        net.forward(X, workspace)
        error, delta = net.output_delta(Y, workspace)
        net.backward(X, workspace)
    assert delta is workspace.deltas[-1]
    found = [] if close(error, expected["error"]) else ["error"]
    for layer in range(net.n_layers):
        pairs = [("sop", [workspace.sop(at) for at in range(net.n_layers)], expected["sops"]),
                 ("output", workspace.outputs, expected["outputs"]),
                 ("delta", workspace.deltas, expected["deltas"]),
                 ("dW", net.weight_grads, expected["weight_grads"])]
        if expected["output_grads"][layer] is not None:  # not formed for a combined pair
            pairs.append(("dOutput", workspace.output_grads, expected["output_grads"]))
        if net.biases[layer] is not None:
            pairs.append(("db", net.bias_grads, expected["bias_grads"]))
        else:
            assert net.bias_grads[layer] is None and expected["bias_grads"][layer] is None
        found += [(what, layer) for what, fast, ref in pairs if not close(fast[layer], ref[layer])]
    return found


@settings(max_examples=200)
@given(networks_and_data(max_width=6, max_inputs=5, max_samples=7))
def test_fast_engine_equals_the_reference(case):
    assert differences(*case) == []


def reference_against_finite_differences(net, X, Y):
    """The largest relative error, per layer, of the reference's gradients against central
    finite differences of the loss (gradcheck's own comparison)."""
    with np.errstate(over="ignore"):
        expected = reference.backprop(net, X, Y)
    numeric_w, numeric_b = numerical_gradients(net, X, Y)
    resolution = 2e6 * np.finfo(np.float64).eps * abs(expected["error"]) / 1e-4
    errors = []
    for layer in range(net.n_layers):
        ours = [expected["weight_grads"][layer].ravel()]
        theirs = [numeric_w[layer].ravel()]
        if numeric_b[layer] is not None:
            ours.append(expected["bias_grads"][layer])
            theirs.append(numeric_b[layer])
        errors.append(relative_error(np.concatenate(ours), np.concatenate(theirs), resolution))
    return errors


@settings(max_examples=25)
@given(networks_and_data(max_width=4, max_inputs=3, max_samples=4))
def test_the_reference_equals_finite_differences(case):
    net, X, Y = case
    sops, _ = reference.forward(net, X)  # finite differences cannot step over a relu's kink
    assume(all(np.min(np.abs(sop)) > 1e-2 for sop, name in zip(sops, net.activations)
               if name in ("relu", "leaky_relu", "selu")))
    assert max(reference_against_finite_differences(net, X, Y)) < 1e-5


def scaled(cls, method, written=None, factor=1.01):
    """``cls.method`` with what it writes (its result, or its argument ``written``) 1% off."""
    original = getattr(cls, method)

    def wrong(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        array = result if written is None else args[written]
        array *= factor
        return result
    return wrong


def sigmoid_at_its_output(self, sop, output, out=None):
    """The published tutorial's slip: the sigmoid's derivative taken at f(sop), not at sop."""
    again = 1.0 / (1.0 + np.exp(-output))
    if out is None:
        out = np.empty_like(output)
    out[...] = again * (1.0 - again)
    return out


#: The engine's class and method broken, how (a replacement, or which argument the method
#: writes, None for its result, to put 1% off), the network (hidden activation, output, loss).
BROKEN = {
    "sigmoid, the published slip": (Sigmoid, "derivative", sigmoid_at_its_output,
                                    ("sigmoid", "sigmoid", "squared_error")),
    "sigmoid": (Sigmoid, "derivative", None, ("sigmoid", "identity", "mse")),
    "tanh": (Tanh, "derivative", None, ("tanh", "identity", "squared_error")),
    "relu": (ReLU, "derivative", None, ("relu", "identity", "squared_error")),
    "leaky_relu": (LeakyReLU, "derivative", None, ("leaky_relu", "identity", "mse")),
    "identity": (Identity, "backward", None, ("identity", "sigmoid", "squared_error")),
    "softmax's Jacobian": (Softmax, "backward", None, ("tanh", "softmax", "squared_error")),
    "elu": (ELU, "derivative", None, ("elu", "identity", "squared_error")),
    "selu": (SELU, "backward", None, ("selu", "identity", "mse")),
    "gelu": (GELU, "backward", None, ("gelu", "identity", "squared_error")),
    "gelu_tanh": (TanhGELU, "backward", None, ("gelu_tanh", "sigmoid", "squared_error")),
    "softplus": (Softplus, "derivative", None, ("softplus", "identity", "mse")),
    "silu": (SiLU, "backward", None, ("silu", "identity", "squared_error")),
    "gelu at the output": (GELU, "backward", None, ("tanh", "gelu", "mse")),
    "squared_error": (SquaredError, "value_and_predicted_deriv", 2,
                      ("tanh", "sigmoid", "squared_error")),
    "mse": (MeanSquaredError, "value_and_predicted_deriv", 2, ("tanh", "identity", "mse")),
    "categorical_cross_entropy": (CategoricalCrossEntropy, "predicted_deriv", None,
                                  ("tanh", "sigmoid", "categorical_cross_entropy")),
    "binary_cross_entropy with sigmoid": (BinaryCrossEntropy, "output_delta", 6,
                                          ("tanh", "sigmoid", "binary_cross_entropy")),
    "categorical_cross_entropy with softmax": (
        CategoricalCrossEntropy, "output_delta", 6,
        ("relu", "softmax", "categorical_cross_entropy")),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_a_wrong_engine_derivative_fails_the_comparison(monkeypatch, what):
    cls, method, how, (hidden, output, loss) = BROKEN[what]
    n_outputs = 3 if output == "softmax" else 2
    net = Network([3, 4, n_outputs], activation=hidden, output_activation=output, loss=loss,
                  seed=5)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 3))
    Y = targets_for(loss, output, rng, 6, n_outputs)
    assert differences(net, X, Y) == []
    monkeypatch.setattr(cls, method, how if callable(how) else scaled(cls, method, how))
    assert differences(net, X, Y) != []               # the comparison sees it ...
    assert max(gradcheck(net, X, Y)) > 1e-3            # ... as the finite differences do,
    assert max(reference_against_finite_differences(net, X, Y)) < 1e-6  # and agree with it


def test_softmax_s_jacobian_is_its_derivative_and_carries_the_chain():
    rng = np.random.default_rng(0)
    sop, step = rng.normal(size=(4, 3)), 1e-6
    softmax = reference.ACTIVATIONS["softmax"][0]
    jacobian = reference.softmax_jacobian(softmax(sop, None))
    for j in range(3):
        nudge = np.zeros(3)
        nudge[j] = step
        column = (softmax(sop + nudge, None) - softmax(sop - nudge, None)) / (2 * step)
        np.testing.assert_allclose(jacobian[:, :, j], column, atol=1e-9)
    net = Network([2, 3], output_activation="softmax", loss="mse", seed=0)
    X = rng.normal(size=(4, 2))
    values = reference.backprop(net, X, rng.random((4, 3)))
    g1, g2 = values["output_grads"][-1], values["derivatives"][-1]
    np.testing.assert_allclose(np.einsum("ik,ikj->ij", g1, g2), values["deltas"][-1],
                               rtol=1e-12, atol=1e-15)


class Swish(Activation):
    name = "swish"


class Hinge(Loss):
    name = "hinge"


@pytest.mark.parametrize("options, name", [({"activation": Swish()}, "swish"),
                                           ({"loss": Hinge()}, "hinge")])
def test_the_reference_refuses_what_its_tables_lack(options, name):
    net = Network([2, 2, 1], **options)
    with pytest.raises(ValueError, match=f"reference engine has no .*'{name}'"):
        reference.backprop(net, np.zeros((1, 2)), np.zeros((1, 1)))


REFERENCE_MODULES = (reference, reference_maths, reference_layers)


@pytest.mark.parametrize("module", REFERENCE_MODULES, ids=lambda m: m.__name__)
def test_the_reference_takes_no_maths_from_the_engine(module):
    tree = ast.parse(inspect.getsource(module))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    # math: libm's erfc; the reference's own tables, and nothing of the engine's
    assert imported <= {"__future__", "math", "typing", "numpy", "reference_maths",
                        "reference_layers"}
    assert "out=" not in inspect.getsource(module)


def test_the_reference_fits_on_a_screen_or_two():
    assert len(inspect.getsource(reference.backprop).splitlines()) <= 40
    # the algorithm, and each of the two tables it looks up
    for module in REFERENCE_MODULES:
        assert len(inspect.getsource(module).splitlines()) <= 160, module.__name__


@settings(max_examples=100)
@given(networks_and_data(max_width=5, max_inputs=4, max_samples=6))
def test_the_engine_equals_the_reference_with_sample_weights(case):
    net, X, Y = case
    weights = np.random.default_rng(X.shape[0]).uniform(0.0, 3.0, size=X.shape[0])
    with np.errstate(over="ignore"):
        expected = reference.backprop(net, X, Y, weights)
        workspace = net.workspace(X.shape[0])
        net.forward(X, workspace)
        error, _ = net.output_delta(Y, workspace, weights)
        net.backward(X, workspace)
    assert close(error, expected["error"])
    for layer in range(net.n_layers):
        assert close(workspace.deltas[layer], expected["deltas"][layer])
        assert close(net.weight_grads[layer], expected["weight_grads"][layer])
        if net.biases[layer] is not None:
            assert close(net.bias_grads[layer], expected["bias_grads"][layer])


@settings(max_examples=15)
@given(networks_and_data(max_width=4, max_inputs=3, max_samples=4))
def test_gradcheck_checks_the_weighted_loss(case):
    net, X, Y = case
    sops, _ = reference.forward(net, X)
    assume(all(np.min(np.abs(sop)) > 1e-2 for sop, name in zip(sops, net.activations)
               if name in ("relu", "leaky_relu", "selu")))
    weights = np.arange(1.0, X.shape[0] + 1.0)
    assert max(gradcheck(net, X, Y, sample_weight=weights)) < 1e-5


@settings(max_examples=150, deadline=None)
@given(layered_networks())
def test_the_engine_equals_the_reference_with_dropout_and_normalization(case):
    """Dropout (the engine's masks given to the reference), batch and layer normalisation;
    the comparison and its rounding floors: tests/test_dropout_normalization.py."""
    assert layered_differences(*case) == []
