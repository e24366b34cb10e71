import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule import Network
from chainrule.callbacks import Callback
from chainrule.engine import Engine
from chainrule.exceptions import DivergenceWarning
from chainrule.sources import LocalData
from chainrule.training import Trainer


def train(activation, loss, bias, weight, x, target, lr, schedule, epochs, engine,
          callbacks=()):
    """The tutorial's network trained through the one loop, on the kernel or (``engine``) on
    the fast engine, given explicitly as the gradient source."""
    net = Network([1, 1], activation=activation, loss=loss, bias=bias, seed=0)
    net.weights[0] = [[weight]]
    X, Y = [[x]], [[target]]
    source = LocalData(net, X, Y) if engine else None
    trainer = Trainer(net, X, Y, source=source, epochs=epochs, learning_rate=lr,
                      schedule=schedule, callbacks=callbacks)
    assert trainer.source.name == ("engine" if engine else "one-neuron kernel")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = trainer.run()
    return net, history


@given(
    activation=st.sampled_from(["sigmoid", "tanh", "identity"]),
    loss=st.sampled_from(["squared_error", "mse"]),
    bias=st.booleans(),
    weight=st.floats(-3, 3),
    x=st.floats(-2, 2),
    target=st.floats(0.05, 0.95),
    lr=st.floats(0.001, 2.0),
    schedule=st.sampled_from([None, "exponential"]),
)
def test_kernel_is_bit_for_bit_the_engine(activation, loss, bias, weight, x, target, lr,
                                          schedule):
    fast, fast_history = train(activation, loss, bias, weight, x, target, lr, schedule, 40, False)
    slow, slow_history = train(activation, loss, bias, weight, x, target, lr, schedule, 40, True)
    for p, q in zip(fast.parameters(), slow.parameters()):
        np.testing.assert_array_equal(p, q)
    assert fast_history["loss"] == slow_history["loss"]
    assert fast_history["learning_rate"] == slow_history["learning_rate"]
    assert fast_history.predicted == slow_history.predicted
    assert fast_history.updates == slow_history.updates
    assert fast_history.stopped_reason == slow_history.stopped_reason


def test_fit_takes_the_kernel_and_never_calls_the_engine(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the engine was called on the kernel's network")

    monkeypatch.setattr(Engine, "compute_gradients", forbidden)
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    history = net.fit([[0.1]], [[0.3]], epochs=50, learning_rate=0.5)
    assert history.params["gradient_source"] == "one-neuron kernel"
    assert history.updates == 50 and len(history.predicted) == 50


def test_kernel_handles_divergence_like_the_engine():
    fast, fast_history = train("identity", "squared_error", True, 1.0, 2.0, 0.5, 50.0, None, 100,
                               False)
    slow, slow_history = train("identity", "squared_error", True, 1.0, 2.0, 0.5, 50.0, None, 100,
                               True)
    assert fast_history.diverged and slow_history.diverged
    assert fast_history.stopped_reason == slow_history.stopped_reason
    assert fast_history["loss"] == slow_history["loss"]
    for p, q in zip(fast.parameters(), slow.parameters()):
        np.testing.assert_array_equal(p, q)


def test_callbacks_see_the_kernels_current_weights():
    class Weights(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, trainer, epoch, logs):
            self.seen.append(float(trainer.net.weights[0][0, 0]))

    fast_weights, slow_weights = Weights(), Weights()
    train("sigmoid", "squared_error", False, 0.5, 0.1, 0.3, 0.5, None, 30, False, [fast_weights])
    train("sigmoid", "squared_error", False, 0.5, 0.1, 0.3, 0.5, None, 30, True, [slow_weights])
    assert len(fast_weights.seen) == 30
    assert fast_weights.seen == slow_weights.seen


@pytest.mark.parametrize(
    "change",
    [dict(sizes=[2, 1]), dict(optimizer="adam"), dict(l2=0.1), dict(samples=2),
     dict(dtype="float32"), dict(activation="relu"), dict(batch_size=1)],
)
def test_kernel_only_where_it_is_exact(change):
    sizes = change.get("sizes", [1, 1])
    samples = change.get("samples", 1)
    net = Network(sizes, activation=change.get("activation", "sigmoid"),
                  dtype=change.get("dtype", "float64"))
    history = net.fit(np.ones((samples, sizes[0])), np.full((samples, 1), 0.3), epochs=3,
                      learning_rate=0.1, optimizer=change.get("optimizer", "gd"),
                      l2=change.get("l2", 0.0), batch_size=change.get("batch_size"))
    assert history.params["gradient_source"] == "engine"
    reference = Network([1, 1], seed=0).fit([[1.0]], [[0.3]], epochs=3, learning_rate=0.1)
    assert reference.params["gradient_source"] == "one-neuron kernel"
