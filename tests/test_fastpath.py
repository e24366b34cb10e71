import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule import Network, fastpath
from chainrule.callbacks import Callback
from chainrule.exceptions import DivergenceWarning


class Nothing(Callback):
    """Any callback makes training take the generic loop."""


def train(activation, loss, bias, weight, x, target, lr, schedule, epochs, generic):
    net = Network([1, 1], activation=activation, loss=loss, bias=bias, seed=0)
    net.weights[0] = [[weight]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = net.fit([[x]], [[target]], epochs=epochs, learning_rate=lr, schedule=schedule,
                          callbacks=[Nothing()] if generic else ())
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
def test_fast_path_is_bit_for_bit_the_generic_engine(activation, loss, bias, weight, x, target,
                                                     lr, schedule):
    fast, fast_history = train(activation, loss, bias, weight, x, target, lr, schedule, 40, False)
    slow, slow_history = train(activation, loss, bias, weight, x, target, lr, schedule, 40, True)
    for p, q in zip(fast.parameters(), slow.parameters()):
        np.testing.assert_array_equal(p, q)
    assert fast_history["loss"] == slow_history["loss"]
    assert fast_history["learning_rate"] == slow_history["learning_rate"]
    assert fast_history.updates == slow_history.updates
    assert fast_history.stopped_reason == slow_history.stopped_reason


def test_fast_path_handles_divergence_like_the_generic_loop():
    fast, fast_history = train("identity", "squared_error", True, 1.0, 2.0, 0.5, 50.0, None, 100,
                               False)
    slow, slow_history = train("identity", "squared_error", True, 1.0, 2.0, 0.5, 50.0, None, 100,
                               True)
    assert fast_history.diverged and slow_history.diverged
    assert fast_history.stopped_reason == slow_history.stopped_reason
    assert fast_history["loss"] == slow_history["loss"]
    for p, q in zip(fast.parameters(), slow.parameters()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize(
    "change",
    [dict(sizes=[2, 1]), dict(optimizer="adam"), dict(l2=0.1), dict(samples=2),
     dict(dtype="float32"), dict(activation="relu")],
)
def test_fast_path_only_where_it_is_exact(change):
    from chainrule.training import Trainer

    sizes = change.get("sizes", [1, 1])
    samples = change.get("samples", 1)
    net = Network(sizes, activation=change.get("activation", "sigmoid"),
                  dtype=change.get("dtype", "float64"))
    trainer = Trainer(net, np.ones((samples, sizes[0])), np.full((samples, 1), 0.3), epochs=3,
                      learning_rate=0.1, optimizer=change.get("optimizer", "gd"),
                      batch_size=None, shuffle=True, schedule=None, l2=change.get("l2", 0.0),
                      validation_data=None, callbacks=(), progress=False, target_loss=None,
                      tolerance=None, early_stopping=None, on_divergence="warn",
                      divergence_factor=1e8, record_predictions=False, checkpoint=None,
                      checkpoint_every=1)
    assert not fastpath.applies(trainer)
