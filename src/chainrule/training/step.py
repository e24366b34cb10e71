"""One step of gradient descent after the gradient: the penalties, clipping, the divergence
check, the update.

Every way of training takes its steps through :class:`Descent`: the local loop (through its
gradient source, :meth:`chainrule.sources.GradientSource.step`) and each mini-batch of a Dask
block's visit, on the worker that holds the block. So weight decay, L1, clipping, the rule that
a loss has diverged and the update exist once.

The order of a step, PyTorch's where the penalty is a term of the loss (``loss = error +
penalty; loss.backward(); clip_grad_norm_(...) or clip_grad_value_(...); optimizer.step()``)::

    gradient = dError/dParameters                          (the gradient source)
    gradient += l2 * w + l1 * sign(w)                      (weights only, not biases)
    gradient *= clip_norm / (||gradient|| + 1e-6)          (if that factor is below 1)
    gradient  = clamp(gradient, -clip_value, clip_value)
    w = optimizer(w, gradient, learning_rate)
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ..engine import Engine
from ..optimizers import Optimizer

__all__ = ["Descent", "add_l1", "add_l2", "clip_by_norm", "clip_by_value", "penalty"]

#: Added to the global norm before dividing, as ``torch.nn.utils.clip_grad_norm_`` adds it.
CLIP_EPSILON = 1e-6


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


def add_l1(net: Engine, l1: float, scratch: list[np.ndarray]) -> float:
    """The L1 penalty on the gradients just computed: add ``l1 * sign(w)`` to each weight
    gradient (biases are not penalised; ``sign(0) = 0``, the subgradient PyTorch's autograd
    takes of ``|w|`` at 0) and return the penalty ``l1 * sum(|w|)`` to add to the loss.
    ``scratch`` holds one buffer shaped like each weight."""
    xp, penalty = net.xp, 0.0
    for weight, grad, buffer in zip(net.weights, net.weight_grads, scratch):
        xp.abs(weight, out=buffer)
        penalty += float(xp.add.reduce(buffer, axis=None))
        xp.sign(weight, out=buffer)
        xp.multiply(buffer, l1, out=buffer)
        xp.add(grad, buffer, out=grad)
    return l1 * penalty


def penalty(net: Engine, l2: float = 0.0, l1: float = 0.0) -> float:
    """``l2 / 2 * sum(w^2) + l1 * sum(|w|)`` over the weights (not the biases): what the
    penalties add to the loss."""
    xp, total = net.xp, 0.0
    if l2:
        total += 0.5 * l2 * sum(float(xp.vdot(w, w)) for w in net.weights)
    if l1:
        total += l1 * sum(float(xp.add.reduce(xp.abs(w), axis=None)) for w in net.weights)
    return total


def clip_by_norm(gradient: np.ndarray, max_norm: float, xp=np) -> float:
    """Scale the whole gradient (every weight and bias: one flat array) by ``max_norm /
    (norm + 1e-6)`` when that factor is below 1, ``norm = sqrt(sum(gradient^2))`` its global
    2-norm (``torch.nn.utils.clip_grad_norm_``'s rule). Returns the norm before clipping."""
    norm = math.sqrt(float(xp.vdot(gradient, gradient)))
    factor = max_norm / (norm + CLIP_EPSILON)
    if factor < 1.0:
        xp.multiply(gradient, factor, out=gradient)
    return norm


def clip_by_value(gradient: np.ndarray, value: float, xp=np) -> None:
    """Clamp every entry of the gradient into ``[-value, value]`` (``clip_grad_value_``)."""
    xp.clip(gradient, -value, value, out=gradient)


def _weight_shaped(net: Engine) -> list[np.ndarray]:
    """One buffer shaped like each weight: consecutive views of ``net.parameter_scratch()``
    (the weights are part of the flat parameters, so they fit)."""
    flat, views, offset = net.parameter_scratch(), [], 0
    for weight in net.weights:
        views.append(flat[offset:offset + weight.size].reshape(weight.shape))
        offset += weight.size
    return views


class Descent:
    """The step that follows a batch's gradient (in ``net.flat_gradients()``)::

        error    = error + l2 / 2 * sum(w^2) + l1 * sum(|w|)    (weights only)
        gradient += l2 * w + l1 * sign(w)                        (both: the elastic net)
        gradient *= clip_norm / (||gradient|| + 1e-6)            (only if that is below 1)
        gradient  = clamp(gradient, -clip_value, clip_value)
        diverged = not error <= loss_limit                       (NaN, inf, exploding)
        w        = optimizer(w, gradient, learning_rate)         (unless diverged)

    ``learning_rate`` is the epoch's (the loop sets it as each epoch begins) and
    ``loss_limit`` the divergence limit (``divergence_factor`` times the first loss, set after
    the first step; until then only NaN diverges). ``clip_norm`` and ``clip_value`` are
    ``None`` for no clipping. A step allocates nothing: the penalties' scratch is views of
    ``net.parameter_scratch()``, free here (the optimizer's, used only within its update,
    which comes after the penalties are added).
    """

    def __init__(self, net: Engine, optimizer: Optimizer, l2: float = 0.0,
                 learning_rate: float = 0.0, loss_limit: float = sys.float_info.max, *,
                 l1: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        self.net, self.optimizer, self.l2, self.l1 = net, optimizer, l2, l1
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.learning_rate, self.loss_limit = learning_rate, loss_limit
        self._parameters, self._gradients = [net.flat_parameters()], [net.flat_gradients()]
        self._scratch = _weight_shaped(net) if l2 or l1 else None
        #: The global norm of the last step's gradient before clipping (``clip_norm`` only).
        self.last_norm: float | None = None

    def __call__(self, error: float) -> float:
        """Finish the step of a batch whose loss was ``error``; return the loss with the
        penalties. A returned loss above :attr:`loss_limit` (or NaN) made no update."""
        scratch = self._scratch
        if scratch is not None:
            if self.l2:
                error += add_l2(self.net, self.l2, scratch)
            if self.l1:
                error += add_l1(self.net, self.l1, scratch)
        if self.clip_norm is not None:
            self.last_norm = clip_by_norm(self._gradients[0], self.clip_norm, self.net.xp)
        if self.clip_value is not None:
            clip_by_value(self._gradients[0], self.clip_value, self.net.xp)
        if error <= self.loss_limit:
            self.optimizer.step(self._parameters, self._gradients, self.learning_rate)
        return error

    def penalty(self) -> float:
        """What the penalties add to the loss with the current weights."""
        return penalty(self.net, self.l2, self.l1)

    def diverged(self, error: float) -> bool:
        return not error <= self.loss_limit
