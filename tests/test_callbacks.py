"""The stopping rules as callbacks: the target loss, the target accuracy and the tolerance of
:class:`~chainrule.callbacks.TargetReached`, each stopping at the first epoch that meets it."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.callbacks import TargetReached

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def xor_classifier() -> Network:
    return Network([2, 4, 1], activation=["tanh", "sigmoid"], loss="binary_cross_entropy",
                   seed=3)


def test_a_target_accuracy_stops_at_the_first_epoch_that_meets_it():
    full = xor_classifier().fit(XOR_X, XOR_Y, epochs=400, learning_rate=1.0)
    accuracy = full["accuracy"]
    first = next(i for i, value in enumerate(accuracy) if value >= 0.75)
    assert 0 < first < 399  # the rule has epochs to pass over, and one to meet
    history = xor_classifier().fit(XOR_X, XOR_Y, epochs=400, learning_rate=1.0,
                                   callbacks=[TargetReached(accuracy=0.75)])
    assert history.epochs == first + 1
    assert history.stopped_reason.startswith("target reached: accuracy")
    np.testing.assert_array_equal(history["loss"], full["loss"][:first + 1])


def test_the_loss_rule_as_a_callback_is_target_loss():
    full = xor_classifier().fit(XOR_X, XOR_Y, epochs=400, learning_rate=1.0)
    target = full["loss"][150]
    first = next(i for i, value in enumerate(full["loss"]) if value <= target)
    by_callback = xor_classifier().fit(XOR_X, XOR_Y, epochs=400, learning_rate=1.0,
                                       callbacks=[TargetReached(loss=target)])
    by_option = xor_classifier().fit(XOR_X, XOR_Y, epochs=400, learning_rate=1.0,
                                     target_loss=target)
    assert by_callback.epochs == by_option.epochs == first + 1
    assert by_callback.stopped_reason == by_option.stopped_reason


def test_the_first_rule_that_holds_gives_the_reason():
    rule = TargetReached(loss=0.5, accuracy=0.9)
    assert rule.reached(None, {"loss": 0.7, "accuracy": 0.5}) is None
    assert rule.reached(None, {"loss": 0.7, "accuracy": 0.9}) == \
        "target reached: accuracy 0.9 >= 0.9"
    assert rule.reached(None, {"loss": 0.5, "accuracy": 0.95}) == \
        "target reached: loss 0.5 <= 0.5"


def test_reached_alone_does_not_stop():
    class Trainer:
        stopped = None

        def stop(self, reason):
            self.stopped = reason

    trainer, rule = Trainer(), TargetReached(accuracy=0.5)
    assert rule.reached(trainer, {"loss": 1.0, "accuracy": 0.6}) is not None
    assert trainer.stopped is None
    rule.on_epoch_end(trainer, 0, {"loss": 1.0, "accuracy": 0.4})
    assert trainer.stopped is None
    rule.on_epoch_end(trainer, 1, {"loss": 1.0, "accuracy": 0.6})
    assert trainer.stopped == "target reached: accuracy 0.6 >= 0.5"


def test_a_target_accuracy_without_an_accuracy_says_so():
    net = Network([2, 3, 1], activation=["tanh", "identity"], loss="mse", seed=0)
    with pytest.raises(ValueError, match="target accuracy needs the training accuracy"):
        net.fit(XOR_X, XOR_Y, epochs=5, callbacks=[TargetReached(accuracy=0.9)])


@pytest.mark.parametrize("options, message", [
    ({}, "needs a target loss, a target accuracy or a tolerance"),
    ({"accuracy": 1.5}, r"accuracy is a share in \[0, 1\]"),
    ({"accuracy": -0.1}, r"accuracy is a share in \[0, 1\]"),
])
def test_rules_that_cannot_be_met_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        TargetReached(**options)
