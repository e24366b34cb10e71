"""One step of gradient descent after the gradient: L2, the divergence check, the update.

Every way of training takes its steps through :class:`Descent`: the local loop (through its
gradient source, :meth:`chainrule.sources.GradientSource.step`) and each mini-batch of a Dask
block's visit, on the worker that holds the block. So weight decay, the rule that a loss has
diverged and the update exist once.
"""

from __future__ import annotations

import sys

import numpy as np

from ..engine import Engine
from ..optimizers import Optimizer

__all__ = ["Descent", "add_l2"]


def add_l2(net: Engine, l2: float, scratch: list[np.ndarray]) -> float:
    """Weight decay on the gradients just computed: add ``l2 * w`` to each weight gradient
    (biases are not penalised) and return the penalty ``l2 / 2 * sum(w^2)`` to add to the loss.
    ``scratch`` holds one buffer shaped like each weight."""
    xp, penalty = net.xp, 0.0
    for weight, grad, buffer in zip(net.weights, net.weight_grads, scratch):
        xp.multiply(weight, l2, out=buffer)
        xp.add(grad, buffer, out=grad)
        penalty += float(xp.vdot(weight, weight))
    return 0.5 * l2 * penalty


class Descent:
    """The step that follows a batch's gradient (in ``net.flat_gradients()``)::

        error    = error + l2 / 2 * sum(w^2),  gradient += l2 * w    (when l2 > 0)
        diverged = not error <= loss_limit                            (NaN, inf, exploding)
        w        = optimizer(w, gradient, learning_rate)              (unless diverged)

    ``learning_rate`` is the epoch's (the loop sets it as each epoch begins) and
    ``loss_limit`` the divergence limit (``divergence_factor`` times the first loss, set after
    the first step; until then only NaN diverges).
    """

    def __init__(self, net: Engine, optimizer: Optimizer, l2: float = 0.0,
                 learning_rate: float = 0.0, loss_limit: float = sys.float_info.max) -> None:
        self.net, self.optimizer, self.l2 = net, optimizer, l2
        self.learning_rate, self.loss_limit = learning_rate, loss_limit
        self._parameters, self._gradients = [net.flat_parameters()], [net.flat_gradients()]
        self._l2_scratch = [net.xp.empty_like(w) for w in net.weights] if l2 else None

    def __call__(self, error: float) -> float:
        """Finish the step of a batch whose loss was ``error``; return the loss with L2. A
        returned loss above :attr:`loss_limit` (or NaN) made no update."""
        if self._l2_scratch is not None:
            error += add_l2(self.net, self.l2, self._l2_scratch)
        if error <= self.loss_limit:
            self.optimizer.step(self._parameters, self._gradients, self.learning_rate)
        return error

    def diverged(self, error: float) -> bool:
        return not error <= self.loss_limit
