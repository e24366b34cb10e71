"""Each activation's derivative is defined once; backward is the chain rule through it."""

import numpy as np
import pytest

from chainrule.activations import ACTIVATIONS, LeakyReLU, softmax

ELEMENT_WISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


def central_difference(function, sop, step=1e-6):
    return (function(sop + step) - function(sop - step)) / (2 * step)


@pytest.mark.parametrize("name", ELEMENT_WISE)
def test_derivative_is_the_slope_at_the_sop(name):
    function = ACTIVATIONS[name]
    sop = np.random.default_rng(0).normal(size=(6, 4)) * 3
    sop[np.abs(sop) < 1e-3] = 0.5  # keep finite differences away from relu's kink
    output = function(sop)
    np.testing.assert_allclose(function.derivative(sop, output),
                               central_difference(function, sop), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENT_WISE)
def test_backward_is_output_grad_times_the_derivative(name):
    function = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    sop = rng.normal(size=(5, 3))
    sop[0, 0] = 0.0  # the kink: relu and leaky_relu take the left slope there
    output_grad = rng.normal(size=(5, 3))
    output = function(sop)
    out, scratch = np.empty_like(sop), np.empty_like(sop)
    result = function.backward(output_grad, sop, output, out, scratch)
    assert result is out  # the delta is where the engine's buffer names say it is
    np.testing.assert_array_equal(result, output_grad * function.derivative(sop, output))
    into = np.empty_like(sop)
    assert function.derivative(sop, output, out=into) is into
    np.testing.assert_array_equal(into, function.derivative(sop, output))


def test_relu_derivative_is_zero_at_the_kink_and_leaky_relu_takes_the_slope():
    sop = np.array([[-1.0, 0.0, 2.0]])
    relu, leaky = ACTIVATIONS["relu"], LeakyReLU(0.2)
    np.testing.assert_array_equal(relu.derivative(sop, relu(sop)), [[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(leaky.derivative(sop, leaky(sop)), [[0.2, 0.2, 1.0]])


def test_softmax_backward_is_its_jacobian_times_output_grad():
    rng = np.random.default_rng(2)
    sop = rng.normal(size=(4, 3))
    output_grad = rng.normal(size=(4, 3))
    output = softmax(sop)
    jacobian = softmax.jacobian(output)
    for k in range(3):  # the Jacobian against finite differences, one output at a time
        shifted = [softmax(sop + step * np.eye(3)[j])[:, k] for j in range(3)
                   for step in (1e-6, -1e-6)]
        numeric = np.stack([(shifted[2 * j] - shifted[2 * j + 1]) / 2e-6 for j in range(3)],
                           axis=1)
        np.testing.assert_allclose(jacobian[:, k, :], numeric, rtol=1e-6, atol=1e-9)
    out, scratch = np.empty_like(sop), np.empty_like(sop)
    result = softmax.backward(output_grad, sop, output, out, scratch)
    assert result is out
    np.testing.assert_allclose(result, np.einsum("ik,ikj->ij", output_grad, jacobian),
                               rtol=1e-13, atol=1e-15)
    with pytest.raises(TypeError, match="jacobian"):
        softmax.derivative(sop, output)
