import numpy as np
import pytest

from chainrule import tutorial


@pytest.mark.parametrize(
    "x, learning_rate, iterations",
    [([0.1], 0.5, 10000), ([0.1], 0.01, 2000), ([0.1, 0.4], 0.01, 3000), ([0.1, 0.4], 0.5, 3000)],
)
def test_network_fit_matches_the_scalar_reference_at_every_iteration(x, learning_rate, iterations):
    weights = tutorial.initial_weights(len(x), seed=0)
    scalar = tutorial.run_scalar(x, 0.3, learning_rate, iterations, weights)
    network = tutorial.run_network(x, 0.3, learning_rate, iterations, weights)
    np.testing.assert_allclose(network.weights, scalar.weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(network.predicted, scalar.predicted, rtol=0, atol=1e-12)
    np.testing.assert_allclose(network.error, scalar.error, rtol=0, atol=1e-12)


def test_scalar_reference_uses_the_tutorials_formulas():
    sop = 0.05
    assert tutorial.sigmoid(sop) == 1.0 / (1.0 + np.exp(-sop))
    assert tutorial.error(0.5, 0.3) == pytest.approx(0.04)
    assert tutorial.error_predicted_deriv(0.5, 0.3) == pytest.approx(0.4)
    assert tutorial.activation_sop_deriv(0.0) == 0.25
    assert tutorial.sop_w_deriv(0.1) == 0.1
    assert tutorial.update_w(1.0, 2.0, 0.5) == 0.0


def test_published_slip_changes_the_trajectory_but_not_the_direction():
    weights = [0.5]
    correct = tutorial.run_scalar([0.1], 0.3, 0.5, 10000, weights)
    published = tutorial.run_scalar([0.1], 0.3, 0.5, 10000, weights, as_published=True)
    # Same w0 = 0.5 as the reference notes: the known end points of both runs.
    assert correct.weights[-1, 0] == pytest.approx(-8.398548592600, abs=1e-9)
    assert abs(correct.predicted[-1] - published.predicted[-1]) > 1e-4
    # sigmoid' > 0 in both, so both move the weight the same way at every step
    assert np.all(np.sign(np.diff(correct.weights[:, 0])) == np.sign(
        np.diff(published.weights[:, 0])))


def test_first_iteration_within_tolerance():
    run = tutorial.run_scalar([0.1], 0.3, 0.5, 60000, [0.5])
    first = run.first_within(0.3, 1e-3)
    assert first is not None
    assert abs(run.predicted[first - 1] - 0.3) < 1e-3 <= abs(run.predicted[first - 2] - 0.3)
    assert tutorial.run_scalar([0.1], 0.3, 0.5, 100, [0.5]).first_within(0.3, 1e-3) is None
    summary = run.summary([0.1], 0.3, 1e-3)
    assert summary["first_iteration_within_tolerance"] == first
    assert summary["final_error"] == pytest.approx((summary["final_predicted"] - 0.3) ** 2)
