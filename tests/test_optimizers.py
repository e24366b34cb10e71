"""AMSGrad, AdamW, NAdam and Adadelta: each step as its terms say, allocation-free, each rule's
own property, and their state through checkpoints (PyTorch agreement: tests/test_torch_oracle)."""

import math
import tracemalloc

import numpy as np
import pytest

from chainrule import Network
from chainrule.optimizers import OPTIMIZERS, AdamW, NAdam, get_optimizer

NEW = ["amsgrad", "adamw", "nadam", "adadelta"]


def _bound(name, size=6, **settings):
    optimizer = get_optimizer(name, **settings)
    param = np.random.default_rng(0).normal(size=size)
    optimizer.bind([param])
    return optimizer, param


@pytest.mark.parametrize("name", NEW)
def test_each_step_is_what_its_terms_say_bit_for_bit(name):
    """The explain/playground table (terms) computes the step's very numbers, over steps whose
    gradients change sign and size."""
    optimizer, param = _bound(name)
    rng = np.random.default_rng(1)
    for _ in range(8):
        grad, lr = rng.normal(size=param.size) * rng.uniform(0.1, 3), 0.05
        expected = []
        for i in range(param.size):
            state = {key: float(buffers[0][i]) for key, buffers in optimizer.state.items()}
            terms = optimizer.terms(float(param[i]), float(grad[i]), lr, state,
                                    optimizer.steps + 1)
            assert terms[-1][0] == "p"
            expected.append(terms[-1][2])
        optimizer.step([param], [grad], lr)
        assert param.tolist() == expected


@pytest.mark.parametrize("name", NEW)
def test_a_step_allocates_nothing(name):
    optimizer, param = _bound(name, size=20_000)
    grad = np.ones_like(param)
    optimizer.step([param], [grad], 0.01)
    tracemalloc.start()
    try:
        optimizer.step([param], [grad], 0.01)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < param.nbytes / 10


def test_amsgrad_divides_by_the_largest_second_moment_so_far():
    optimizer, param = _bound("amsgrad", size=1)
    for g in (5.0, 0.1, 0.1):
        optimizer.step([param], [np.array([g])], 0.01)
    state = optimizer.state
    assert state["max_second_moment"][0][0] > state["second_moment"][0][0]
    assert state["max_second_moment"][0][0] == pytest.approx(0.001 * 25.0)


def test_adamw_decays_every_parameter_by_lr_times_weight_decay():
    """With a zero gradient Adam's step is 0: what is left is the decay, on biases too."""
    optimizer, param = _bound("adamw", weight_decay=0.5)
    before = param.copy()
    optimizer.step([param], [np.zeros_like(param)], 0.1)
    np.testing.assert_array_equal(param, before * (1.0 - 0.1 * 0.5))
    assert AdamW().hyperparameters()["weight_decay"] == 0.01  # PyTorch's default


def test_nadam_makes_its_momentum_product_again_from_the_steps():
    nadam = NAdam()
    assert nadam.mu_product(5) == math.prod(nadam.mu(t) for t in range(1, 6))
    a, pa = _bound("nadam")
    rng = np.random.default_rng(2)
    grads = [rng.normal(size=pa.size) for _ in range(10)]
    for g in grads[:6]:
        a.step([pa], [g], 0.02)
    b, pb = _bound("nadam")
    pb[...] = pa
    for key, buffers in a.state.items():
        b.state[key][0][...] = buffers[0]
    b.steps = a.steps  # as a checkpoint restores it
    for g in grads[6:]:
        a.step([pa], [g], 0.02)
        b.step([pb], [g], 0.02)
    np.testing.assert_array_equal(pa, pb)


def test_adadelta_s_first_step_is_its_formula():
    optimizer, param = _bound("adadelta", size=3)
    before, grad = param.copy(), np.array([0.5, -2.0, 1e-3])
    optimizer.step([param], [grad], 1.0)
    s = 0.1 * grad**2
    np.testing.assert_allclose(before - param, np.sqrt(1e-6) / np.sqrt(s + 1e-6) * grad,
                               rtol=1e-12)  # (before - param loses digits to the subtraction)


@pytest.mark.parametrize("name, settings, message", [
    ("adamw", {"weight_decay": -1.0}, "weight_decay"),
    ("nadam", {"momentum_decay": 0.0}, "momentum_decay"),
    ("adadelta", {"rho": 1.0}, "rho"),
    ("amsgrad", {"beta2": 1.5}, "beta2"),
])
def test_bad_settings_are_refused(name, settings, message):
    with pytest.raises(ValueError, match=message):
        get_optimizer(name, **settings)


def test_the_registry_offers_them_with_their_settings():
    assert set(NEW) <= set(OPTIMIZERS)
    assert OPTIMIZERS["nadam"]().hyperparameters() == {
        "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 0.004}
    assert OPTIMIZERS["adadelta"]().hyperparameters() == {"rho": 0.9, "eps": 1e-6}


@pytest.mark.parametrize("name", NEW)
def test_a_checkpointed_run_resumes_bit_for_bit(tmp_path, name):
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(24, 3)), rng.normal(size=(24, 2))

    def network():
        return Network([3, 6, 2], activation="gelu", loss="mse", seed=1)

    settings = dict(learning_rate=1.0 if name == "adadelta" else 0.02, optimizer=name,
                    batch_size=5)
    straight = network()
    full = straight.fit(X, Y, epochs=10, **settings)
    path = str(tmp_path / "checkpoint.npz")
    network().fit(X, Y, epochs=5, checkpoint=path, checkpoint_every=5, **settings)
    resumed = network()
    history = resumed.fit(X, Y, epochs=10, resume_from=path, **settings)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)
    assert history["loss"] == full["loss"]


def test_the_estimators_and_the_command_line_take_them(tmp_path, capsys):
    from chainrule.cli import main
    from chainrule.sklearn import GDRegressor

    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    y = X[:, 0] - 2 * X[:, 1]
    for optimizer, schedule in (("adamw", "plateau"), ("nadam", "linear_warmup"),
                                ("amsgrad", None), ("adadelta", None)):
        model = GDRegressor(hidden_layer_sizes=(5,), activation="gelu", optimizer=optimizer,
                             schedule=schedule, epochs=5, random_state=0)
        with pytest.warns(Warning):  # 5 epochs do not converge
            model.fit(X, y)
        assert model.history_.params["optimizer"] == optimizer
        assert np.all(np.isfinite(model.predict(X)))
    data = tmp_path / "data.csv"
    data.write_text("a,b,c,y\n" + "\n".join(f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y)))
    out = tmp_path / "model.npz"
    code = main(["train", str(data), "--hidden", "4", "--epochs", "3", "--activation", "selu",
                 "--optimizer", "adamw", "--schedule", "plateau", "--out", str(out),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    from chainrule import load

    assert load(out).activations[0] == "selu"
