"""The step-by-step driver: training one update, one epoch at a time, and looking at it."""

import copy

import numpy as np
import pytest

from chainrule import Network, reference
from chainrule.sources import LocalData
from chainrule.training import Trainer


def problem(n=23):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 3))
    Y = np.eye(3)[rng.integers(0, 3, n)]
    return X, Y


def network():
    return Network([3, 5, 4, 3], activation=["tanh", "relu", "softmax"],
                   loss="categorical_cross_entropy", seed=4)


SETTINGS = [dict(batch_size=None, optimizer="gd"), dict(batch_size=5, optimizer="adam"),
            dict(batch_size=1, optimizer="momentum", schedule="exponential", l2=1e-3)]


def assert_same(a, b):
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("settings", SETTINGS)
def test_stepping_by_hand_is_fit_bit_for_bit(settings):
    X, Y = problem()
    fitted = network()
    history = fitted.fit(X, Y, epochs=4, learning_rate=0.05, validation_data=(X[:5], Y[:5]),
                         **settings)
    stepped = network()
    trainer = stepped.trainer(X, Y, epochs=4, learning_rate=0.05,
                              validation_data=(X[:5], Y[:5]), **settings)
    records = []
    while (record := trainer.step()) is not None:
        records.append(record)
    trainer.finish()
    assert len(records) == history.updates == trainer.history.updates
    assert sum(r.epoch_ended for r in records) == 4
    per_epoch = trainer.n_batches
    assert [(r.epoch, r.batch) for r in records] == [
        (e, b) for e in range(4) for b in range(per_epoch)]
    assert_same(fitted, stepped)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        assert trainer.history[key] == history[key], key
    assert records[-1].logs["loss"] == history["loss"][-1]


def test_epochs_by_hand_are_fit_bit_for_bit():
    X, Y = problem()
    fitted, driven = network(), network()
    history = fitted.fit(X, Y, epochs=3, learning_rate=0.1, batch_size=4, optimizer="adam")
    trainer = driven.trainer(X, Y, epochs=3, learning_rate=0.1, batch_size=4, optimizer="adam")
    logs = [trainer.run_epoch() for _ in range(3)]
    assert [entry["loss"] for entry in logs] == history["loss"]
    assert trainer.finished and trainer.step() is None
    assert_same(fitted, driven)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("first", [True, False])
def test_a_watched_step_shows_everything_the_step_computed(settings, first):
    X, Y = problem()
    net = network()
    trainer = net.trainer(X, Y, epochs=2, learning_rate=0.1, **settings)
    if not first:
        trainer.step()  # the weights have moved
    before = copy.deepcopy(net)
    record = trainer.step(watch=True)
    rows = record.rows
    np.testing.assert_array_equal(record.inputs, X[rows])
    np.testing.assert_array_equal(record.targets, Y[rows])
    expected = reference.backprop(before, X[rows], Y[rows])
    l2 = settings.get("l2", 0.0)
    penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in before.weights)
    assert record.loss == pytest.approx(expected["error"] + penalty, rel=1e-12)
    for layer in range(net.n_layers):
        for name in ("sops", "outputs", "deltas"):
            np.testing.assert_allclose(getattr(record, name)[layer], expected[name][layer],
                                       rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(record.weight_grads[layer],
                                   expected["weight_grads"][layer] + l2 * before.weights[layer],
                                   rtol=1e-12, atol=1e-15)
        weight_change, bias_change = record.update[layer]
        np.testing.assert_array_equal(weight_change, net.weights[layer] - before.weights[layer])
        np.testing.assert_array_equal(bias_change, net.biases[layer] - before.biases[layer])
        if settings["optimizer"] == "gd":  # the tutorial's update: -learning_rate * gradient
            np.testing.assert_allclose(weight_change, -0.1 * record.weight_grads[layer],
                                       rtol=1e-12)
    # Watching changes nothing: the run goes on exactly as an unwatched one.
    unwatched = network()
    plain = unwatched.trainer(X, Y, epochs=2, learning_rate=0.1, **settings)
    for _ in range(1 if first else 2):
        plain.step()
    trainer.run()
    plain.run()
    assert_same(net, unwatched)


def test_watching_the_tutorials_network_and_editing_a_weight():
    """The tutorial's network: a watched step, then a weight edited by hand between steps, is
    taken up; the run equals one given its source explicitly."""
    X, Y = [[0.1]], [[0.3]]
    runs = []
    for engine in (False, True):
        net = Network([1, 1], bias=False, init="uniform", seed=0)
        source = LocalData(net, X, Y) if engine else None
        trainer = Trainer(net, X, Y, source=source, epochs=20, learning_rate=0.5)
        trainer.step()
        record = trainer.step(watch=True)
        assert record.sops[0].shape == (1, 1) and record.deltas[0].shape == (1, 1)
        net.weights[0][0, 0] = 2.0  # edited by hand between steps
        trainer.step()
        runs.append((float(net.weights[0][0, 0]), trainer.run()["loss"]))
    assert runs[0] == runs[1]


def test_a_watched_step_on_the_tutorials_network_stays_after_state_dict_and_finish():
    """A watched step changes nothing: state_dict and finish see the weights it left, as
    after unwatched steps."""
    runs = []
    for watch in (False, True):
        net = Network([1, 1], bias=False, init="uniform", seed=0)
        trainer = Trainer(net, [[0.1]], [[0.3]], epochs=5, learning_rate=0.5)
        for _ in range(3):
            trainer.step(watch=watch)
        state = trainer.state_dict()
        trainer.finish()
        runs.append((state["parameters"].tolist(), net.flat_parameters().tolist()))
    assert runs[0] == runs[1] and runs[0][0] == runs[0][1]
    untrained = Network([1, 1], bias=False, init="uniform", seed=0)
    assert runs[0][0] != untrained.flat_parameters().tolist()


@pytest.mark.parametrize("settings", SETTINGS)
def test_state_dict_mid_epoch_continues_bit_for_bit(settings):
    X, Y = problem()
    straight = network()
    history = straight.fit(X, Y, epochs=3, learning_rate=0.05, **settings)
    first = network()
    trainer = first.trainer(X, Y, epochs=3, learning_rate=0.05, **settings)
    for _ in range(7):
        trainer.step()
    state = copy.deepcopy(trainer.state_dict())
    resumed = network()  # a fresh network, as in a new process
    other = resumed.trainer(X, Y, epochs=3, learning_rate=0.05, **settings)
    other.load_state_dict(state)
    resumed_history = other.run()
    assert_same(straight, resumed)
    assert resumed_history["loss"] == history["loss"]
    assert resumed_history.updates == history.updates


@pytest.mark.parametrize("schedule", ["exponential", "inverse_time", "cosine"])
def test_state_dict_mid_epoch_keeps_the_epochs_learning_rate(schedule):
    """Resumed inside a later epoch, the run goes on at that epoch's scheduled rate."""
    X, Y = problem()
    settings = dict(epochs=4, learning_rate=0.05, batch_size=3, optimizer="gd",
                    schedule=schedule)
    straight = network()
    straight.fit(X, Y, **settings)
    first = network()
    trainer = first.trainer(X, Y, **settings)
    for _ in range(2 * trainer.n_batches + 1):
        trainer.step()
    resumed = network()
    other = resumed.trainer(X, Y, **settings)
    other.load_state_dict(copy.deepcopy(trainer.state_dict()))
    other.run()
    assert_same(straight, resumed)


def test_load_state_dict_refuses_another_run():
    X, Y = problem()
    state = network().trainer(X, Y, epochs=2, learning_rate=0.1, optimizer="adam").state_dict()
    with pytest.raises(ValueError, match="optimizer 'adam'"):
        network().trainer(X, Y, epochs=2, learning_rate=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"made for a network with sizes=\[3, 5, 4, 3\]"):
        Network([3, 4, 3], output_activation="softmax", loss="categorical_cross_entropy").trainer(
            X, Y, epochs=2, learning_rate=0.1, optimizer="adam").load_state_dict(state)
    for change, message in [({"learning_rate": 0.2}, "learning_rate=0.1, this run asks for 0.2"),
                            ({"batch_size": 4}, "batch_size=None"),
                            ({"l2": 0.1}, "l2=0.0"), ({"schedule": "cosine"}, "schedule")]:
        settings = {"learning_rate": 0.1, "optimizer": "adam", **change}
        with pytest.raises(ValueError, match=message):
            network().trainer(X, Y, epochs=2, **settings).load_state_dict(state)
    other = X.copy()
    other[0, 0] += 1.0
    with pytest.raises(ValueError, match="other training data"):
        network().trainer(other, Y, epochs=2, learning_rate=0.1,
                          optimizer="adam").load_state_dict(state)
    longer = network().trainer(X, Y, epochs=9, learning_rate=0.1, optimizer="adam")
    longer.load_state_dict(state)  # more epochs: the point of resuming
    assert longer.run().epochs == 9
