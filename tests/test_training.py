import math
import signal
import warnings

import numpy as np
import pytest

from chainrule import Network
from chainrule.callbacks import Callback
from chainrule.exceptions import DivergenceError, DivergenceWarning
from chainrule.optimizers import Adam, Momentum
from chainrule.schedules import get_schedule

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def tiny_problem():
    """One layer, 2 inputs, 1 identity output, squared error: gradients easy to write by hand."""
    net = Network([2, 1], activation="identity", bias=False, seed=0)
    net.weights[0] = [[0.5], [-0.25]]
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    Y = np.array([[1.0], [0.0]])
    return net, X, Y


def hand_gradient(w, X, Y):
    # error = mean over samples of (x.w - y)^2  =>  gradient = 2/n * X^T (Xw - y)
    return 2.0 / len(X) * X.T @ (X @ w - Y)


@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_optimizers_follow_their_hand_computed_trajectory(name):
    net, X, Y = tiny_problem()
    lr, mu, rho, eps, b1, b2 = 0.1, 0.9, 0.9, 1e-8, 0.9, 0.999
    w = net.weights[0].copy()
    v = np.zeros_like(w)
    s = np.zeros_like(w)
    m = np.zeros_like(w)
    for t in range(1, 4):
        g = hand_gradient(w, X, Y)
        if name == "gd":
            w = w - lr * g
        elif name == "momentum":
            v = mu * v - lr * g
            w = w + v
        elif name == "nesterov":
            v = mu * v - lr * g
            w = w + mu * v - lr * g
        elif name == "adagrad":
            s = s + g * g
            w = w - lr * g / (np.sqrt(s) + eps)
        elif name == "rmsprop":
            s = rho * s + (1 - rho) * g * g
            w = w - lr * g / (np.sqrt(s) + eps)
        else:
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            w = w - lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
    history = net.fit(X, Y, epochs=3, learning_rate=lr, optimizer=name)
    assert history.updates == 3
    np.testing.assert_allclose(net.weights[0], w, rtol=1e-12, atol=1e-15)


def test_optimizer_objects_carry_hyperparameters():
    net, X, Y = tiny_problem()
    w0 = net.weights[0].copy()
    net.fit(X, Y, epochs=2, learning_rate=0.1, optimizer=Momentum(momentum=0.5))
    g = hand_gradient(w0, X, Y)
    v = -0.1 * g
    w1 = w0 + v
    v = 0.5 * v - 0.1 * hand_gradient(w1, X, Y)
    np.testing.assert_allclose(net.weights[0], w1 + v, rtol=1e-12)
    with pytest.raises(ValueError, match="beta1"):
        Adam(beta1=1.5)


def test_xor_is_learned_for_nine_of_ten_seeds():
    """Documented default for XOR: 2-3-1 sigmoid with bias, full-batch gd, lr 2, 5000 epochs."""
    learned = 0
    for seed in range(10):
        net = Network([2, 3, 1], seed=seed)
        net.fit(XOR_X, XOR_Y, epochs=5000, learning_rate=2.0)
        learned += np.all((net.predict(XOR_X) > 0.5) == (XOR_Y > 0.5))
    assert learned >= 9


def test_divergence_is_caught_and_finite_weights_kept():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    Y = X @ np.array([[1.0], [-2.0], [0.5]])
    net = Network([3, 4, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    with pytest.warns(DivergenceWarning, match="learning_rate=1000") as caught:
        history = net.fit(X, Y, epochs=200, learning_rate=1e3)
    assert caught[0].filename == __file__  # the warning points at the user's call
    assert history.diverged and "diverged at epoch 3" in history.stopped_reason
    assert history.epochs == 2
    assert all(np.isfinite(p).all() for p in net.parameters())
    # The weights kept are the last ones whose loss was recorded: epoch 2's start.
    assert net.loss(X, Y) == pytest.approx(history["loss"][-1], rel=1e-12)
    net2 = Network([3, 4, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    with pytest.raises(DivergenceError, match="learning_rate"):
        net2.fit(X, Y, epochs=200, learning_rate=1e3, on_divergence="raise")
    assert all(np.isfinite(p).all() for p in net2.parameters())


def test_divergence_in_mini_batches_keeps_finite_weights():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 2))
    Y = X.sum(axis=1, keepdims=True) * 100
    net = Network([2, 8, 1], activation="relu", output_activation="identity", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = net.fit(X, Y, epochs=50, learning_rate=10.0, batch_size=8)
    assert history.diverged
    assert all(np.isfinite(p).all() for p in net.parameters())


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    Y = (X[:, :1] > 0).astype(float)
    X_val = rng.normal(size=(20, 2))
    Y_val = 1.0 - (X_val[:, :1] > 0)  # opposite rule: validation loss rises as training learns

    class Snapshots(Callback):
        def __init__(self):
            self.states = []

        def on_epoch_end(self, trainer, epoch, logs):
            self.states.append(trainer.net.get_state())

    snapshots = Snapshots()
    net = Network([2, 4, 1], seed=0)
    history = net.fit(X, Y, epochs=500, learning_rate=1.0, validation_data=(X_val, Y_val),
                      early_stopping=5, callbacks=[snapshots])
    assert "early stopping" in history.stopped_reason
    best = int(np.argmin(history["val_loss"]))
    assert history.epochs == best + 1 + 5
    for kept, saved in zip(net.get_state(), snapshots.states[best]):
        np.testing.assert_array_equal(kept, saved)
    assert net.loss(X_val, Y_val) == pytest.approx(min(history["val_loss"]))


def test_target_loss_stops_at_the_first_epoch_that_meets_it():
    reference = Network([2, 3, 1], seed=1)
    full = reference.fit(XOR_X, XOR_Y, epochs=3000, learning_rate=2.0)
    target = full["loss"][1200]
    first = next(i for i, value in enumerate(full["loss"]) if value <= target)
    net = Network([2, 3, 1], seed=1)
    history = net.fit(XOR_X, XOR_Y, epochs=3000, learning_rate=2.0, target_loss=target)
    assert history.epochs == first + 1
    assert "target reached" in history.stopped_reason


def test_tolerance_rule_stops_once_every_prediction_is_close():
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    history = net.fit([[0.1]], [[0.3]], epochs=100000, learning_rate=0.5, tolerance=1e-3)
    assert "target reached" in history.stopped_reason
    assert abs(net.predict([[0.1]])[0, 0] - 0.3) < 1e-3
    assert history.epochs < 100000
    previous = Network([1, 1], bias=False, init="uniform", seed=0)
    previous.fit([[0.1]], [[0.3]], epochs=history.epochs - 1, learning_rate=0.5)
    assert abs(previous.predict([[0.1]])[0, 0] - 0.3) >= 1e-3


def test_full_batch_equals_mini_batch_of_the_whole_set():
    """batch_size=None is the full batch in order; batch_size=n is the mini-batch path (one
    shuffled batch, gathered) over the whole set: the same gradients up to the order of the
    additions."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 3))
    Y = rng.random((25, 2))
    a = Network([3, 4, 2], seed=5)
    b = Network([3, 4, 2], seed=5)
    gathered = []
    original = b.compute_gradients

    def spy(inputs, targets, observe=None):
        gathered.append(inputs.copy())
        return original(inputs, targets, observe)

    b.compute_gradients = spy
    a.fit(X, Y, epochs=20, learning_rate=0.3, optimizer="adam")
    b.fit(X, Y, epochs=20, learning_rate=0.3, optimizer="adam", batch_size=25)
    assert len(gathered) == 20
    assert not np.array_equal(gathered[0], X)  # shuffled: the mini-batch path really ran
    np.testing.assert_array_equal(np.sort(gathered[0], axis=0), np.sort(X, axis=0))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_size", [None, 1, 7])
@pytest.mark.parametrize("optimizer", ["gd", "adam", "nesterov"])
def test_same_seed_gives_bit_identical_weights(batch_size, optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    Y = np.eye(3)[rng.integers(0, 3, 30)]

    def train():
        net = Network([4, 6, 3], activation="relu", output_activation="softmax",
                      loss="categorical_cross_entropy", seed=11)
        net.fit(X, Y, epochs=5, learning_rate=0.05, optimizer=optimizer, batch_size=batch_size,
                schedule="cosine", l2=1e-3)
        return net.get_state()

    for p, q in zip(train(), train()):
        np.testing.assert_array_equal(p, q)


def test_mini_batch_and_sgd_visit_every_sample_once_per_epoch():
    X = np.arange(10, dtype=float).reshape(-1, 1)
    Y = np.zeros((10, 1))
    seen = []

    net = Network([1, 1], activation="identity", seed=0)
    original = net.compute_gradients

    def spy(x_batch, y_batch, observe=None):
        seen.append(x_batch[:, 0].copy())
        return original(x_batch, y_batch, observe)

    net.compute_gradients = spy
    history = net.fit(X, Y, epochs=2, learning_rate=0.01, batch_size=3)
    assert history.updates == 8
    first_epoch = np.concatenate(seen[:4])
    assert sorted(first_epoch) == list(range(10))
    assert not np.array_equal(first_epoch, np.arange(10))  # shuffled
    seen.clear()
    net.fit(X, Y, epochs=1, learning_rate=0.01, batch_size=1, shuffle=False)
    assert [s[0] for s in seen] == list(range(10))


def test_history_records_losses_accuracy_and_learning_rates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    net = Network([2, 5, 2], activation="tanh", output_activation="softmax",
                  loss="categorical_cross_entropy", seed=0)
    history = net.fit(X, Y, epochs=30, learning_rate=0.5, batch_size=8, schedule="step",
                      validation_data=(X[:10], Y[:10]))
    assert history.epochs == 30 and history.updates == 30 * 5
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate", "time"):
        assert len(history[key]) == 30, key
    assert history["learning_rate"][0] == 0.5 and history["learning_rate"][10] == 0.25
    assert history["accuracy"][-1] > 0.9
    assert history["loss"][-1] < history["loss"][0]
    assert np.all(np.diff(history["time"]) >= 0)


def test_l2_adds_its_gradient():
    net, X, Y = tiny_problem()
    w0 = net.weights[0].copy()
    history = net.fit(X, Y, epochs=1, learning_rate=0.1, l2=0.5)
    expected = w0 - 0.1 * (hand_gradient(w0, X, Y) + 0.5 * w0)
    np.testing.assert_allclose(net.weights[0], expected, rtol=1e-13)
    error = np.mean(np.sum((X @ w0 - Y) ** 2, axis=1)) + 0.25 * np.sum(w0**2)
    assert history["loss"][0] == pytest.approx(error, rel=1e-13)


@pytest.mark.parametrize(
    "name, settings, formula",
    [
        ("constant", {}, lambda lr, e, n: lr),
        ("step", {"drop": 0.5, "every": 10}, lambda lr, e, n: lr * 0.5 ** (e // 10)),
        ("exponential", {"decay": 0.9}, lambda lr, e, n: lr * 0.9**e),
        ("inverse_time", {"decay": 0.1}, lambda lr, e, n: lr / (1 + 0.1 * e)),
        ("cosine", {"minimum": 0.01},
         lambda lr, e, n: 0.01 + (lr - 0.01) * (1 + math.cos(math.pi * e / n)) / 2),
    ],
)
def test_schedules_follow_their_formulas_and_reach_training(name, settings, formula):
    schedule = get_schedule(name, **settings)
    rates = [schedule(0.1, epoch, 50) for epoch in range(50)]
    assert rates == pytest.approx([formula(0.1, epoch, 50) for epoch in range(50)], rel=1e-15)
    assert rates[0] == pytest.approx(0.1)
    net, X, Y = tiny_problem()
    history = net.fit(X, Y, epochs=50, learning_rate=0.1, schedule=schedule)
    assert history["learning_rate"] == rates


def test_ctrl_c_stops_cleanly_after_the_current_step():
    class PressCtrlC(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 4:
                signal.raise_signal(signal.SIGINT)

    net = Network([2, 3, 1], seed=0)
    history = net.fit(XOR_X, XOR_Y, epochs=100, learning_rate=1.0, callbacks=[PressCtrlC()])
    assert "interrupted" in history.stopped_reason
    assert history.epochs == 5 and history.updates == 5
    reference = Network([2, 3, 1], seed=0)
    reference.fit(XOR_X, XOR_Y, epochs=5, learning_rate=1.0)
    for p, q in zip(net.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p, q)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_an_epoch_stops_after_the_current_step(monkeypatch):
    from chainrule.engine import Engine

    X = np.random.default_rng(0).random((20, 2))
    Y = (X[:, :1] > 0.5).astype(float)
    compute, calls = Engine.compute_gradients, []

    def pressed_at_the_13th(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 13:
            signal.raise_signal(signal.SIGINT)
        return compute(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "compute_gradients", pressed_at_the_13th)
    net = Network([2, 3, 1], seed=0)
    history = net.fit(X, Y, epochs=5, batch_size=5, learning_rate=0.1)
    assert "during an epoch" in history.stopped_reason
    assert history.updates == 13 and history.epochs == 3  # the 4th epoch is not recorded
    monkeypatch.setattr(Engine, "compute_gradients", compute)
    stepped = Network([2, 3, 1], seed=0)
    trainer = stepped.trainer(X, Y, epochs=5, batch_size=5, learning_rate=0.1)
    for _ in range(13):
        trainer.step()
    for p, q in zip(net.parameters(), stepped.parameters()):
        np.testing.assert_array_equal(p, q)


def test_the_options_table_is_what_check_options_checks():
    from chainrule.training import OPTIONS, check_options

    assert [option.name for option in OPTIONS] == list(check_options(epochs=1))
    for option in OPTIONS:
        if not option.required:
            option.check(option.default)  # every default passes its own rule
        given = {"epochs": 1}
        if option.type in ("int", "float"):
            with pytest.raises(ValueError, match=option.name):
                check_options(**{**given, option.name: -1})
        if option.choices and option.name != "optimizer":
            with pytest.raises(ValueError):
                check_options(**{**given, option.name: "no such choice"})
    assert check_options(epochs=3, batch_size=None)["batch_size"] is None
    with pytest.raises(TypeError, match="training needs epochs"):
        check_options()


def test_one_sample_histories_keep_the_prediction_of_every_epoch():
    from chainrule.callbacks import Callback

    generic_net = Network([1, 1], bias=False, init="uniform", seed=0)
    fast_net = Network([1, 1], bias=False, init="uniform", seed=0)
    generic = generic_net.fit([[0.1]], [[0.3]], epochs=20, learning_rate=0.5,
                              callbacks=[Callback()])
    fast = fast_net.fit([[0.1]], [[0.3]], epochs=20, learning_rate=0.5)
    assert len(fast.predicted) == len(generic.predicted) == 20
    assert fast.predicted == generic.predicted
    # The prediction of epoch k is the one whose error is the loss of epoch k.
    np.testing.assert_allclose((np.array(fast.predicted) - 0.3) ** 2, fast["loss"], rtol=1e-12)
    two = Network([2, 1], seed=0).fit(XOR_X, XOR_Y, epochs=3, learning_rate=0.1)
    assert two.predicted == []


def test_history_plot_writes_a_png(tmp_path):
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    history = net.fit([[0.1]], [[0.3]], epochs=50, learning_rate=0.5, record_predictions=True)
    path = tmp_path / "curve.png"
    history.plot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_stopped_in_its_first_epoch_plots_an_empty_curve(tmp_path):
    """Ctrl-C during the first epoch keeps the update but records no epoch: the command line
    still writes the model and its (empty) curve."""
    net = Network([2, 3, 1], seed=0)
    trainer = net.trainer(np.zeros((8, 2)), np.zeros((8, 1)), epochs=5, batch_size=2,
                          progress=False)
    trainer.step()
    trainer.interrupted = True
    history = trainer.run()
    assert history.epochs == 0 and history.updates == 2  # the step under way is finished
    path = tmp_path / "curve.png"
    history.plot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"epochs": 5, "batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 5, "batch_size": 5}, "batch_size 5 is larger than the data"),
        ({"epochs": 5, "learning_rate": 0}, "learning_rate must be a finite number > 0"),
        ({"epochs": 5, "learning_rate": float("nan")}, "learning_rate must be a finite"),
        ({"epochs": 5, "learning_rate": -1}, "learning_rate"),
        ({"epochs": 5, "optimizer": "sgdx"}, "unknown optimizer 'sgdx'"),
        ({"epochs": 5, "schedule": "warmup"}, "unknown schedule 'warmup'"),
        ({"epochs": 5, "validation_data": (np.ones((2, 3)), np.ones((2, 1)))},
         "X_val has 3 columns, expected 2"),
        ({"epochs": 5, "validation_data": (np.ones((2, 2)), np.ones((3, 1)))},
         "X_val has 2 samples but Y_val has 3"),
        ({"epochs": 5, "early_stopping": 3}, "needs validation_data"),
        ({"epochs": 5, "on_divergence": "ignore"}, "on_divergence"),
    ],
)
def test_bad_fit_arguments_are_clear_value_errors(kwargs, message):
    net = Network([2, 1])
    with pytest.raises(ValueError, match=message):
        net.fit(XOR_X, XOR_Y, **kwargs)


@pytest.mark.parametrize("batch_size", [None, 40])
def test_batches_larger_than_a_slice_give_the_same_training(batch_size, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(97, 3))
    Y = np.eye(4)[rng.integers(0, 4, 97)]

    def train(rows_per_slice):
        net = Network([3, 5, 4], activation="relu", output_activation="softmax",
                      loss="categorical_cross_entropy", seed=1)
        net.rows_per_slice = rows_per_slice
        history = net.fit(X, Y, epochs=4, learning_rate=0.1, batch_size=batch_size,
                          validation_data=(X[:30], Y[:30]))
        return net, history

    whole, whole_history = train(1000)
    sliced, sliced_history = train(7)
    for p, q in zip(whole.parameters(), sliced.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(sliced_history[key], whole_history[key], rtol=1e-12)
    assert max(sliced._workspaces) <= 7  # slices of 7 rows (and the remainders), never 97


def test_validation_data_takes_the_held_out_rows_weights():
    """``(X_val, Y_val, sample_weight_val)``: ``val_loss`` is their weighted mean."""
    from chainrule import Network
    from chainrule.engine import Engine

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(12, 2)), rng.random((12, 1))
    X_val, Y_val = rng.normal(size=(5, 2)), rng.random((5, 1))
    weights = np.array([0.0, 1.0, 2.0, 0.5, 3.0])
    net = Network([2, 3, 1], loss="mse", seed=0)
    history = net.fit(X, Y, epochs=2, validation_data=(X_val, Y_val, weights), progress=False)
    assert history.history["val_loss"][-1] == Engine.evaluate(net, X_val, Y_val, weights)[0]
    assert history.history["val_loss"][-1] != net.loss(X_val, Y_val)
    with pytest.raises(ValueError, match="sample_weight_val"):
        net.fit(X, Y, epochs=1, validation_data=(X_val, Y_val, -weights), progress=False)
