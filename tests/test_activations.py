"""Each activation's derivative is defined once; backward is the chain rule through it."""

import math
import tracemalloc

import numpy as np
import pytest

from chainrule.activations import ACTIVATIONS, LeakyReLU, get_activation, softmax
from chainrule.smooth_activations import GELU_C, GELU_K, SELU_ALPHA, SELU_SCALE

ELEMENT_WISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "selu", "gelu",
                "gelu_tanh", "softplus", "silu"]
SMOOTH = ["elu", "selu", "gelu", "gelu_tanh", "softplus", "silu"]


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


def _phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


#: Each new activation at a few sops, from its formula one number at a time (math's functions).
FORMULAS = {
    "elu": lambda z: z if z > 0 else math.expm1(z),
    "selu": lambda z: SELU_SCALE * (z if z > 0 else SELU_ALPHA * math.expm1(z)),
    "gelu": lambda z: z * _phi(z),
    # z (1 + tanh(u)) / 2 written z / (1 + exp(-2u)): the same number, without the cancellation
    "gelu_tanh": lambda z: z / (1 + math.exp(-2 * GELU_K * (z + GELU_C * z**3))),
    "softplus": lambda z: math.log1p(math.exp(z)) if z < 30 else z + math.log1p(math.exp(-z)),
    "silu": lambda z: z / (1 + math.exp(-z)),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_the_new_activations_follow_their_formulas(name):
    sop = np.array([[-9.0, -3.5, -1.0, -1e-8, 0.0, 1e-8, 0.7, 2.0, 9.0, 40.0]])
    expected = [FORMULAS[name](float(z)) for z in sop[0]]
    np.testing.assert_allclose(ACTIVATIONS[name](sop)[0], expected, rtol=2e-14, atol=1e-300)


def test_the_kinks_take_pytorch_s_side_and_swish_is_silu():
    sop = np.array([[0.0]])
    elu, selu = ACTIVATIONS["elu"], ACTIVATIONS["selu"]
    assert elu.derivative(sop, elu(sop))[0, 0] == 1.0
    assert selu.derivative(sop, selu(sop))[0, 0] == SELU_SCALE * SELU_ALPHA  # z <= 0's branch
    assert get_activation("swish") is get_activation("silu")
    assert get_activation("swish").name == "silu"  # what model files store


@pytest.mark.parametrize("name", SMOOTH)
def test_the_new_activations_stay_finite_and_saturate(name):
    """Far from 0 every new activation is finite, 0 (or -1, -scale * alpha) on the left and the
    sop itself (SELU: times scale) on the right, with slope 1 (SELU: scale)."""
    function, scale = ACTIVATIONS[name], SELU_SCALE if name == "selu" else 1.0
    sop = np.array([[-800.0, -50.0, 50.0, 800.0]])
    with np.errstate(over="ignore"):  # as the engine calls them: exp(800) is inf
        output = function(sop)
        derivative = function.derivative(sop, output)
    assert np.all(np.isfinite(output)) and np.all(np.isfinite(derivative))
    np.testing.assert_allclose(output[0, 2:], scale * sop[0, 2:], rtol=1e-15)
    np.testing.assert_allclose(derivative[0, 2:], scale, rtol=1e-15)
    assert np.all(np.abs(derivative[0, :2]) < 1e-20)


@pytest.mark.parametrize("name", SMOOTH)
def test_the_training_path_allocates_nothing(name):
    """forward and backward write into the buffers they are given (the engine's), however
    many buffers their derivative needs."""
    function = ACTIVATIONS[name]
    rng = np.random.default_rng(3)
    sop, output_grad = rng.normal(size=(200, 50)) * 3, rng.normal(size=(200, 50))
    out, scratch, delta = (np.empty_like(sop) for _ in range(3))
    with np.errstate(over="ignore"):
        function.forward(sop, out, scratch)
        function.backward(output_grad, sop, out, delta, scratch)  # warm
        tracemalloc.start()
        try:
            function.forward(sop, out, scratch)
            function.backward(output_grad, sop, out, delta, scratch)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < sop.nbytes / 10


@pytest.mark.parametrize("name", [*SMOOTH, "swish"])
def test_model_files_keep_the_new_activations_by_name(tmp_path, name):
    from chainrule import Network, load

    net = Network([3, 4, 2], activation=name, output_activation=name, loss="mse", seed=0)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = load(path)
    assert loaded.activations == net.activations == [get_activation(name).name] * 2
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
