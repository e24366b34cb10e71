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


def test_the_print_every_trace_is_the_scalar_reference(capsys):
    import json

    from chainrule.cli import main

    assert main(["tutorial", "--inputs", "0.1,0.4", "--initial-weight", "0.5", "--lr", "0.1",
                 "--iterations", "300", "--print-every", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    trace = report["runs"]["correct"]["trace"]
    assert [step["iteration"] for step in trace] == [1, 51, 101, 151, 201, 251]
    scalar = tutorial.run_scalar([0.1, 0.4], 0.3, 0.1, 300, [0.5, 0.5])
    for step in trace:
        i = step["iteration"] - 1
        assert step["predicted"] == pytest.approx(scalar.predicted[i], rel=1e-12)
        assert step["error"] == pytest.approx(scalar.error[i], rel=1e-12)
        np.testing.assert_allclose(step["gradient"], scalar.gradients[i], rtol=1e-12)
        np.testing.assert_allclose(step["weights"], scalar.weights[i], rtol=1e-12)
    assert main(["tutorial", "--lr", "0.1", "--iterations", "100", "--print-every", "40"]) == 0
    out = capsys.readouterr().out
    assert "iteration 41: predicted" in out and "gradient [" in out


def test_an_unreached_target_says_when_it_would_be_reached(capsys):
    import json

    from chainrule.cli import main

    assert main(["tutorial", "--initial-weight", "0.5", "--iterations", "5000", "--json"]) == 0
    later = json.loads(capsys.readouterr().out)["runs"]["correct"]["reached_later_at"]
    run = tutorial.run_network([0.1], 0.3, 0.5, 12_000, [0.5])
    assert later == run.first_within(0.3, 1e-3) == 11013
    assert main(["tutorial", "--initial-weight", "0.5", "--iterations", "5000"]) == 0
    assert "not reached in 5000 iterations; training on, it is at iteration 11013" in \
        capsys.readouterr().out


@pytest.mark.parametrize("activation, target", [("tanh", -0.5), ("identity", 2.0)])
def test_other_activations_train_through_the_same_network(activation, target, capsys):
    from chainrule.cli import main

    assert main(["tutorial", "--activation", activation, "--target", str(target), "--lr", "0.1",
                 "--iterations", "3000"]) == 0
    assert f"{activation} neuron" in capsys.readouterr().out
    run = tutorial.run_network([0.1], target, 0.1, 3000, [0.5], activation)
    assert abs(run.predicted[-1] - target) < abs(run.predicted[0] - target)
    assert main(["tutorial", "--activation", activation, "--as-published"]) == 2


def test_the_help_gives_every_default(capsys):
    from chainrule.cli import main

    with pytest.raises(SystemExit):
        main(["tutorial", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 0.5)", "(default: 10000)", "(default: 0)", "(default: 0.001)",
                    "(default: 0.3)", "(default: sigmoid)", "|predicted - target|"):
        assert default in text, default
