"""The training loop with dropout and normalisation: divergence puts back the running statistics
with the weights, batch normalisation's 1-row batches are refused before any step, and the
network's loss takes sample weights."""

import re
import warnings

import numpy as np
import pytest
from epoch_states import EpochStates

from chainrule import Network


def regression(rows=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    return X, X @ np.array([[1.0], [-2.0], [0.5]])


def batch_normalised(**options):
    return Network([3, 8, 1], activation="relu", output_activation="identity", loss="mse",
                   normalization="batch", seed=1, **options)


def test_a_diverged_run_keeps_the_last_good_weights_and_running_statistics():
    X, Y = regression()
    net, record = batch_normalised(), EpochStates()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = net.fit(X, Y, epochs=50, learning_rate=0.5, batch_size=8, optimizer="gd",
                          callbacks=[record], on_divergence="warn", progress=False)
    assert history.diverged
    assert "kept the weights from the start of epoch 3" in history.stopped_reason
    parameters, statistics = record.states[1]  # the end of epoch 2: where epoch 3 started
    np.testing.assert_array_equal(net.flat_parameters(), parameters)
    assert len(statistics) == 2
    for kept, saved in zip(net.running_statistics(), statistics):
        np.testing.assert_array_equal(kept, saved)
    # the epoch that diverged had moved them (every training pass does): they were put back
    assert not np.array_equal(record.states[0][1][0], statistics[0])


def test_the_last_updates_divergence_puts_the_statistics_back_too():
    """Divergence found after the run's last update (on the weights it left) restores the
    copy of the weights and statistics taken when the epoch began."""
    from chainrule.training import Trainer

    X, Y = regression()
    net = batch_normalised()
    trainer = Trainer(net, X, Y, epochs=1, learning_rate=0.01, batch_size=8, optimizer="gd",
                      on_divergence="warn", progress=False)
    start = net.flat_parameters().copy(), net.running_statistics()
    while trainer.step() is not None and not trainer.finished:
        pass
    net.weights[-1] = np.full_like(net.weights[-1], 1e300)  # the last update "exploded"
    with pytest.warns(Warning, match="diverged in its last update"):
        trainer.finish()
    np.testing.assert_array_equal(net.flat_parameters(), start[0])
    for kept, saved in zip(net.running_statistics(), start[1]):
        np.testing.assert_array_equal(kept, saved)


@pytest.mark.parametrize("rows, batch_size, words", [
    (41, 8, "41 samples in batches of 8 leave a last batch of 1 row (41 % 8 = 1)"),
    (40, 1, "batch_size=1 gives batches of 1 row"),
    (1, None, "full batch on 1 sample gives batches of 1 row"),
])
def test_batch_normalisation_refuses_a_batch_of_one_row_before_any_step(rows, batch_size,
                                                                          words):
    X, Y = regression(rows)
    net = batch_normalised()
    before = net.flat_parameters().copy()
    with pytest.raises(ValueError, match="at least 2 rows in every training batch") as caught:
        net.fit(X, Y, epochs=2, batch_size=batch_size, progress=False)
    assert words in str(caught.value)
    np.testing.assert_array_equal(net.flat_parameters(), before)


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_a_last_batch_of_two_rows_gets_the_references_gradient(normalization):
    """42 rows in batches of 8 leave a last batch of 2 rows: its step's gradient is the
    reference engine's on those 2 rows, from the weights the step started from."""
    from chainrule import reference
    from chainrule.training import Trainer

    X, Y = regression(42)
    net = Network([3, 8, 1], activation="tanh", output_activation="identity", loss="mse",
                  normalization=normalization, seed=1)
    trainer = Trainer(net, X, Y, epochs=1, batch_size=8, shuffle=False, learning_rate=0.01,
                      optimizer="gd", progress=False)
    for _ in range(5):
        trainer.step()
    before = net.copy()
    step = trainer.step(watch=True)
    assert len(step.inputs) == 2
    np.testing.assert_array_equal(step.inputs, X[40:])
    expected = reference.backprop(before, X[40:], Y[40:])
    assert step.loss == pytest.approx(expected["error"], rel=1e-12)
    for found, wanted in zip(step.weight_grads, expected["weight_grads"]):
        np.testing.assert_allclose(found, wanted, rtol=1e-10, atol=1e-14)
    for found, wanted in zip(net.gamma_grads, expected["gamma_grads"]):
        if wanted is not None:
            np.testing.assert_allclose(found, wanted, rtol=1e-10, atol=1e-14)
    assert trainer.finished


def test_batch_norm_on_inputs_far_from_0_is_not_a_false_divergence():
    """After one full-batch step on inputs offset by 1e5, the running statistics are far
    from the batch's, so the evaluation loss is ~1e9 times the first loss: the check of the
    last update takes the training-mode loss (batch statistics) instead, and the weights
    the run made stay."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)) + 1e5, rng.normal(size=(40, 1))
    net = Network([3, 8, 1], activation="relu", output_activation="identity", loss="mse",
                  normalization="batch", seed=0)
    statistics = net.running_statistics()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = net.fit(X, Y, epochs=1, progress=False, on_divergence="warn")
    assert not history.diverged
    assert history.stopped_reason == "reached the maximum number of epochs (1)"
    assert net.loss(X, Y) > 1e6 * history["loss"][0]  # what the old check compared
    assert not np.array_equal(net.running_statistics()[0], statistics[0])  # the step's


def test_the_last_updates_check_moves_neither_the_statistics_nor_the_generator():
    from chainrule.training import Trainer

    X, Y = regression(40)
    net = Network([3, 8, 1], activation="relu", output_activation="identity", loss="mse",
                  normalization="batch", dropout=0.5, seed=2)
    trainer = Trainer(net, X, Y, epochs=1, batch_size=8, learning_rate=0.01, progress=False)
    while trainer.step() is not None and not trainer.finished:
        pass
    statistics, state = net.running_statistics(), net.rng.bit_generator.state
    history = trainer.finish()
    assert not history.diverged
    assert net.rng.bit_generator.state == state
    for now, then in zip(net.running_statistics(), statistics, strict=True):
        np.testing.assert_array_equal(now, then)


def test_the_command_line_refuses_it_in_one_line(tmp_path, capsys):
    from chainrule.cli import main

    code = main(["train", "--dataset", "iris", "--normalization", "batch", "--batch-size", "1",
                 "--epochs", "1", "--no-progress", "--out", str(tmp_path / "m.npz")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    # (the library's batch_size=1, or its flag's spelling)
    assert re.search(r"(batch_size=|--batch-size )1 gives batches of 1 row", error)
    assert not (tmp_path / "m.npz").exists()


def test_loss_and_evaluate_take_sample_weights():
    X, Y = regression(12)
    net = batch_normalised()
    weights = np.random.default_rng(4).uniform(0, 2, size=12)
    predicted = net.predict(X)
    per_sample = np.sum((predicted - Y) ** 2, axis=1)  # mse: one output, so the mean is it
    expected = float(weights @ per_sample / weights.sum())
    assert net.loss(X, Y, sample_weight=weights) == pytest.approx(expected, rel=1e-12)
    loss, out = net.evaluate(X, Y, sample_weight=weights)
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(out, predicted)
    assert net.loss(X, Y, sample_weight=np.ones(12)) == pytest.approx(net.loss(X, Y),
                                                                       rel=1e-12)
    with pytest.raises(ValueError, match="one weight per sample"):
        net.loss(X, Y, sample_weight=np.ones(5))
