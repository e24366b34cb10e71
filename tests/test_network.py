import warnings

import numpy as np
import pytest
from architectures import HIDDEN, networks_and_data
from hypothesis import assume, given, settings

from chainrule import Network, gradcheck
from chainrule.gradcheck import numerical_gradients


def near_kink(net, X, margin=1e-2):
    """True when some relu/leaky_relu sop is too close to 0 for finite differences."""
    layer_input = X
    for weight, bias, name in zip(net.weights, net.biases, net.activations):
        sop = layer_input @ weight + (0 if bias is None else bias)
        if name in ("relu", "leaky_relu", "selu") and np.min(np.abs(sop)) < margin:
            return True
        from chainrule.activations import get_activation

        layer_input = get_activation(name)(sop)
    return False


@settings(max_examples=300)
@given(networks_and_data())
def test_gradients_match_finite_differences(case):
    net, X, Y = case
    assume(not near_kink(net, X))
    errors = gradcheck(net, X, Y)
    assert len(errors) == net.n_layers
    assert max(errors) < 1e-5, (net.sizes, errors)


def test_gradcheck_catches_a_wrong_derivative(monkeypatch):
    """The published slip (sigmoid' taken at the predicted value) must not pass the check."""
    from chainrule import activations

    net = Network([2, 3, 1], seed=0)
    X = np.array([[0.5, -1.0], [1.5, 0.3]])
    Y = np.array([[0.2], [0.9]])
    assert max(gradcheck(net, X, Y)) < 1e-6

    def wrong_backward(self, output_grad, sop, output, out, scratch):
        at_predicted = 1.0 / (1.0 + np.exp(-output))
        np.multiply(output_grad, at_predicted * (1 - at_predicted), out=out)
        return out

    monkeypatch.setattr(activations.Sigmoid, "backward", wrong_backward)
    assert max(gradcheck(net, X, Y)) > 1e-2


def test_tutorial_single_weight_step_matches_the_scalar_formulas_bit_for_bit():
    x, target, w, learning_rate = 0.1, 0.3, 0.5488135039273248, 0.5
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    net.weights[0] = [[w]]

    sop = np.float64(w) * x
    predicted = 1.0 / (1 + np.exp(-1 * sop))
    error = (predicted - target) ** 2
    g1 = 2 * (predicted - target)  # dError/dPredicted
    g2 = predicted * (1.0 - predicted)  # dPredicted/dSop, at the sop
    g3 = x  # dSop/dW
    gradient = g3 * (g2 * g1)

    assert net.predict([[x]])[0, 0] == predicted
    assert net.loss([[x]], [[target]]) == error
    workspace = net.workspace(1)
    with np.errstate(over="ignore"):
        net.forward(np.array([[x]]), workspace)
        _, delta = net.output_delta(np.array([[target]]), workspace)
    assert workspace.output_grads[0][0, 0] == g1
    assert delta[0, 0] == g2 * g1
    weight_grads, bias_grads = net.gradients([[x]], [[target]])
    assert bias_grads == [None]
    assert weight_grads[0][0, 0] == gradient

    net.fit([[x]], [[target]], epochs=1, learning_rate=learning_rate)
    assert net.weights[0][0, 0] == w - learning_rate * gradient


def test_numerical_gradients_agree_on_the_tutorial_example():
    net = Network([1, 1], bias=False, init="uniform", seed=3)
    numeric, _ = numerical_gradients(net, [[0.1]], [[0.3]])
    analytic, _ = net.gradients([[0.1]], [[0.3]])
    np.testing.assert_allclose(analytic[0], numeric[0], rtol=1e-7)


@pytest.mark.parametrize("activation", HIDDEN)
def test_float32_networks_stay_float32(activation):
    net = Network([3, 4, 2], activation=activation, output_activation="softmax",
                  loss="categorical_cross_entropy", dtype="float32", seed=1)
    X = np.random.default_rng(0).normal(size=(5, 3))  # float64 input is converted once
    Y = np.eye(2)[[0, 1, 0, 1, 1]]
    assert all(w.dtype == np.float32 for w in net.weights)
    assert net.predict(X).dtype == np.float32
    weight_grads, bias_grads = net.gradients(X, Y)
    assert all(g.dtype == np.float32 for g in weight_grads + bias_grads)
    net.fit(X, Y, epochs=3, learning_rate=0.1, optimizer="adam", batch_size=2)
    assert all(p.dtype == np.float32 for p in net.parameters())
    workspace = net.workspace(2)
    assert all(buffer.dtype == np.float32 for buffer in workspace.sops + workspace.deltas)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "pair", [("sigmoid", "binary_cross_entropy"), ("softmax", "categorical_cross_entropy"),
             ("sigmoid", "squared_error"), ("tanh", "mse"), ("softmax", "squared_error")]
)
def test_saturation_raises_no_warning_and_stays_finite(dtype, pair):
    output, loss = pair
    net = Network([1, 2], activation=output, loss=loss, bias=False, dtype=dtype)
    net.weights[0] = [[1.0, -1.0]]
    X = np.array([[-1e4], [-800.0], [-50.0], [0.0], [50.0], [800.0], [1e4]])
    Y = np.tile([1.0, 0.0], (7, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predicted = net.predict(X)
        error = net.loss(X, Y)
        weight_grads, _ = net.gradients(X, Y)
    assert np.isfinite(predicted).all() and np.isfinite(error)
    assert np.isfinite(weight_grads[0]).all()
    if output == "sigmoid":
        assert predicted[0, 0] == 0.0 and predicted[-1, 0] == 1.0
        assert predicted[0, 1] == 1.0 and predicted[-1, 1] == 0.0


def test_sigmoid_is_exact_in_the_tails():
    from chainrule.activations import sigmoid

    sop = np.array([-1e4, -745.2, -700.0, -40.0, 0.0, 40.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = sigmoid(sop)
    assert values[0] == 0.0 and values[-1] == 1.0 and values[4] == 0.5
    np.testing.assert_allclose(values[2:4], np.exp(sop[2:4]), rtol=1e-12)


def test_cross_entropy_from_logits_is_exact_where_probabilities_underflow():
    net = Network([1, 1], activation="sigmoid", loss="binary_cross_entropy", bias=False)
    net.weights[0] = [[1.0]]
    # sigmoid(-800) underflows to 0; the loss for target 1 is still log(1 + e^800) = 800.
    assert net.loss([[-800.0]], [[1.0]]) == pytest.approx(800.0)


def test_weights_are_settable_and_checked():
    net = Network([2, 3, 1], bias=[True, False], seed=0)
    net.weights[1] = np.ones((3, 1))
    assert net.predict([[0.0, 0.0]]).shape == (1, 1)
    net.weights[0][0, 0] = 5.0
    assert net.weights[0][0, 0] == 5.0
    assert net.biases[1] is None
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(3, 1\)"):
        net.weights[1] = np.ones((1, 3))
    with pytest.raises(ValueError, match="no bias"):
        net.biases[1] = np.ones(1)
    with pytest.raises(ValueError, match="non-finite"):
        net.weights[0] = np.full((2, 3), np.nan)


def test_same_seed_same_network_and_shapes():
    a = Network([4, 5, 3], seed=7, init="he")
    b = Network([4, 5, 3], seed=7, init="he")
    assert all(np.array_equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert [w.shape for w in a.weights] == [(4, 5), (5, 3)]
    assert a.predict(np.zeros((6, 4))).shape == (6, 3)


def test_uniform_init_is_the_tutorials_rand():
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    assert net.weights[0][0, 0] == np.random.default_rng(0).random()
    assert 0 <= net.weights[0][0, 0] < 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sizes": [3]}, "at least two entries"),
        ({"sizes": [3, 0, 1]}, "positive integer"),
        ({"sizes": [2, 1.5]}, "positive integer"),
        ({"sizes": [2, 1], "activation": "mish"}, "unknown activation 'mish'"),
        ({"sizes": [2, 1], "loss": "hinge"}, "unknown loss 'hinge'"),
        ({"sizes": [2, 1], "init": "zeros"}, "unknown init 'zeros'"),
        ({"sizes": [2, 3, 2], "activation": "softmax"}, "layer 0's"),
        ({"sizes": [2, 1], "output_activation": "softmax"}, "single output"),
        ({"sizes": [2, 1], "activation": "relu", "loss": "binary_cross_entropy"},
         "needs an output activation"),
        ({"sizes": [2, 3, 1], "activation": ["relu"]}, "1 entries but the network has 2"),
        ({"sizes": [2, 1], "dtype": "int32"}, "dtype must be"),
    ],
)
def test_bad_construction_is_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Network(**kwargs)


@pytest.mark.parametrize(
    "X, Y, message",
    [
        (np.ones((3, 3)), np.ones((3, 1)), "X has 3 columns, expected 2"),
        (np.ones((3, 2)), np.ones((3, 2)), "Y has 2 columns, expected 1"),
        (np.ones((3, 2)), np.ones((4, 1)), "X has 3 samples but Y has 4"),
        (np.array([[1.0, np.nan]]), np.ones((1, 1)), r"non-finite value \(nan\) at \[0, 1\]"),
        (np.ones((1, 2)), np.array([[np.inf]]), r"Y holds a non-finite value \(inf\)"),
        (np.ones(2), np.ones((1, 1)), "X must be 2-D"),
        (np.ones((0, 2)), np.ones((0, 1)), "X is empty"),
        ([[1, 2], [3]], np.ones((2, 1)), "rectangular"),
        (np.array([["a", "b"]]), np.ones((1, 1)), "real numbers"),
    ],
)
def test_bad_data_is_a_clear_value_error(X, Y, message):
    net = Network([2, 1])
    with pytest.raises(ValueError, match=message):
        net.gradients(X, Y)


def test_cross_entropy_rejects_targets_it_cannot_take():
    net = Network([2, 3], activation="softmax", loss="categorical_cross_entropy")
    with pytest.raises(ValueError, match="row 1 sums to 2"):
        net.loss(np.ones((2, 2)), [[1, 0, 0], [1, 1, 0]])
    binary = Network([2, 1], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]; Y\[0, 0\] = 2"):
        binary.loss(np.ones((1, 2)), [[2.0]])


def test_one_dimensional_data_is_one_column_for_one_input():
    net = Network([1, 1], seed=0)
    assert net.predict([0.1, 0.2, 0.3]).shape == (3, 1)


def test_has_bias_holds_the_booleans_and_bias_is_its_old_name(tmp_path):
    """``has_bias`` says which layers have a bias (``biases`` holds the arrays); ``bias`` reads
    the same list, read-only; the keyword is ``bias=`` or ``has_bias=``, and a saved model keeps
    its spec key "bias"."""
    import pickle

    from chainrule import load

    net = Network([2, 3, 1], bias=[True, False], seed=0)
    assert net.has_bias == [True, False] and net.bias == net.has_bias
    assert net.biases[0] is not None and net.biases[1] is None
    assert Network([2, 3, 1], has_bias=[True, False]).has_bias == [True, False]
    with pytest.raises(ValueError, match="not both"):
        Network([2, 1], bias=False, has_bias=False)
    with pytest.raises(AttributeError):
        net.bias = [True, True]
    assert net.spec()["bias"] == [True, False] and "has_bias" not in net.spec()
    net.save(tmp_path / "model.npz")
    assert load(str(tmp_path / "model.npz")).has_bias == [True, False]
    state = net.__getstate__()
    state["bias"] = state.pop("has_bias")  # a network pickled before the rename
    old = Network.__new__(Network)
    old.__setstate__(state)
    assert old.has_bias == [True, False]
    assert pickle.loads(pickle.dumps(net)).has_bias == [True, False]
