"""Each loss owns its output delta: the chain rule, or the combined form where it applies."""

import numpy as np
import pytest

from chainrule.activations import ACTIVATIONS
from chainrule.losses import LOSSES

PAIRS = [("squared_error", "sigmoid"), ("squared_error", "identity"), ("squared_error", "tanh"),
         ("squared_error", "softmax"), ("mse", "relu"), ("mse", "softmax"),
         ("binary_cross_entropy", "sigmoid"), ("categorical_cross_entropy", "softmax"),
         ("categorical_cross_entropy", "sigmoid")]


def chain(loss, activation, sop, predicted, target):
    """g1 * g2 written out: dError/dPredicted through the activation's derivative."""
    g1 = loss.predicted_deriv(predicted, target, np.empty_like(predicted))
    if activation.couples_neurons:
        return np.einsum("ik,ikj->ij", g1, activation.jacobian(predicted))
    return g1 * activation.derivative(sop, predicted)


@pytest.mark.parametrize("loss_name, activation_name", PAIRS)
def test_output_delta_is_the_chain_rule_whichever_form_computes_it(loss_name, activation_name):
    loss, activation = LOSSES[loss_name], ACTIVATIONS[activation_name]
    rng = np.random.default_rng(0)
    sop = rng.normal(size=(5, 3))
    if loss_name == "categorical_cross_entropy":
        target = rng.dirichlet(np.ones(3), size=5)
    else:
        target = rng.random((5, 3))
    out, scratch = np.empty_like(sop), np.empty_like(sop)
    predicted, by_product = loss.forward_output(activation, sop, out, scratch)
    predicted = predicted.copy()
    output_grad, delta = np.empty_like(sop), np.empty_like(sop)
    error = loss.output_delta(activation, predicted, target, sop, by_product, output_grad, delta,
                              scratch)
    np.testing.assert_allclose(delta, chain(loss, activation, sop, predicted, target),
                               rtol=1e-9, atol=1e-15)
    assert error == pytest.approx(loss.value(predicted, target), rel=1e-12)
    combined = loss.combines_with(activation)
    assert combined == (loss.combined_activation == activation_name)
    if combined:  # the loss says so itself, and the delta is (predicted - target) / n
        np.testing.assert_allclose(delta, (predicted - target) / 5, rtol=1e-15)
