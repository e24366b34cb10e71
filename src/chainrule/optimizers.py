"""Optimizers: how a gradient becomes an update of the parameters, in place.

Every optimizer is bound to the list of parameter arrays once (:meth:`Optimizer.bind`), which
allocates its state and one scratch buffer per parameter; :meth:`Optimizer.step` then updates
all parameters without allocating. The learning rate is passed to each step, so schedules can
change it. With ``p`` a parameter, ``g = dError/dp`` and ``lr`` the learning rate:

=========  ==================================================================================
gd         ``p = p - lr * g`` (the tutorial's ``update_w``)
momentum   ``v = momentum * v - lr * g``;  ``p = p + v``
nesterov   ``v = momentum * v - lr * g``;  ``p = p + momentum * v - lr * g`` (look-ahead form)
adagrad    ``s = s + g^2``;  ``p = p - lr * g / (sqrt(s) + eps)``
rmsprop    ``s = rho * s + (1 - rho) * g^2``;  ``p = p - lr * g / (sqrt(s) + eps)``
adam       ``m = b1 * m + (1 - b1) * g``;  ``v = b2 * v + (1 - b2) * g^2``;
           ``p = p - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
           ``v_hat = v / (1 - b2^t)`` (Kingma & Ba 2015, Algorithm 1)
amsgrad    Adam with ``v_max = max(v_max, v)`` in place of ``v`` in the step
adamw      ``p = p * (1 - lr * weight_decay)``, then Adam's step (decoupled weight decay)
nadam      Adam with Nesterov momentum and PyTorch's ``mu_t`` schedule
adadelta   ``s = rho * s + (1 - rho) * g^2``; ``delta = sqrt(u + eps) / sqrt(s + eps) * g``;
           ``u = rho * u + (1 - rho) * delta^2``; ``p = p - lr * delta`` (Zeiler 2012)
=========  ==================================================================================

Adam and its variants are in :mod:`chainrule.adam_family` (their formulas in full there), the
base class in :mod:`chainrule.optimizer_base`. The new ones follow PyTorch's ``torch.optim``
(``Adam(amsgrad=True)``, ``AdamW``, ``NAdam``, ``Adadelta``) and ``benchmarks/torch_oracle.py``
holds 50 updates of each to 1e-10 of it. Adadelta's ``lr`` is PyTorch's multiplier of the step,
whose default there is 1.0: the ``learning_rate`` training passes (0.01 by default) is that
multiplier, so ask for ``learning_rate=1.0`` to have PyTorch's Adadelta.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .adam_family import Adam, AdamW, AMSGrad, NAdam
from .optimizer_base import (
    Optimizer,
    check_fraction,
    check_positive,
    scaled_step,
    scaled_terms,
)

__all__ = [
    "OPTIMIZERS",
    "GD",
    "AMSGrad",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "NAdam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
]


class GD(Optimizer):
    """Plain gradient descent: ``p = p - lr * g``."""

    name = "gd"

    def step(self, params, grads, lr):
        # The base class's loop, inlined: for a tiny network the call per parameter shows.
        self.steps += 1
        xp = self.xp
        for param, grad, scratch in zip(params, grads, self._scratch):
            xp.multiply(grad, lr, out=scratch)
            xp.subtract(param, scratch, out=param)

    def terms(self, param, grad, lr, state, steps):
        p, g, lr = np.float64(param), np.float64(grad), np.float64(lr)
        step = g * lr
        return [("lr * g", "learning_rate * gradient", float(step)),
                ("p", "p - lr * g", float(p - step))]


class Momentum(Optimizer):
    """Gradient descent with momentum: ``v = momentum * v - lr * g``; ``p = p + v``."""

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = check_fraction(momentum, "momentum")

    def hyperparameters(self):
        return {"momentum": self.momentum}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        velocity = self.state["velocity"][index]
        xp.multiply(velocity, self.momentum, out=velocity)
        xp.multiply(grad, lr, out=scratch)
        xp.subtract(velocity, scratch, out=velocity)
        xp.add(param, velocity, out=param)

    def _velocity_terms(self, param, grad, lr, state):
        v, g, lr = np.float64(state["velocity"]), np.float64(grad), np.float64(lr)
        step = g * lr
        velocity = v * np.float64(self.momentum) - step
        return step, velocity, [
            ("v before", "the velocity after the previous update", float(v)),
            ("lr * g", "learning_rate * gradient", float(step)),
            ("v", f"momentum * v - lr * g  (momentum = {self.momentum!r})", float(velocity)),
        ]

    def terms(self, param, grad, lr, state, steps):
        step, velocity, terms = self._velocity_terms(param, grad, lr, state)
        return [*terms, ("p", "p + v", float(np.float64(param) + velocity))]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient: ``p = p + momentum * v - lr * g`` after updating ``v``."""

    name = "nesterov"

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        velocity = self.state["velocity"][index]
        xp.multiply(velocity, self.momentum, out=velocity)
        xp.multiply(grad, lr, out=scratch)
        xp.subtract(velocity, scratch, out=velocity)
        xp.subtract(param, scratch, out=param)
        xp.multiply(velocity, self.momentum, out=scratch)
        xp.add(param, scratch, out=param)

    def terms(self, param, grad, lr, state, steps):
        step, velocity, terms = self._velocity_terms(param, grad, lr, state)
        look_ahead = velocity * np.float64(self.momentum)
        new = (np.float64(param) - step) + look_ahead
        return [*terms, ("momentum * v", "the look-ahead", float(look_ahead)),
                ("p", "p - lr * g + momentum * v", float(new))]


class Adagrad(Optimizer):
    """Adagrad: ``s = s + g^2``; ``p = p - lr * g / (sqrt(s) + eps)``."""

    name = "adagrad"
    state_names = ("sum_squares",)

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"eps": self.eps}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        sum_squares = self.state["sum_squares"][index]
        xp.multiply(grad, grad, out=scratch)
        xp.add(sum_squares, scratch, out=sum_squares)
        scaled_step(xp, param, grad, sum_squares, lr, self.eps, scratch)

    def terms(self, param, grad, lr, state, steps):
        g = np.float64(grad)
        s = np.float64(state["sum_squares"]) + g * g
        return [("s before", "the sum of squared gradients so far",
                 float(state["sum_squares"])), ("s", "s + g^2", float(s)),
                *scaled_terms(param, g, s, lr, self.eps)]


class RMSprop(Optimizer):
    """RMSprop: ``s = rho * s + (1 - rho) * g^2``; ``p = p - lr * g / (sqrt(s) + eps)``."""

    name = "rmsprop"
    state_names = ("mean_square",)

    def __init__(self, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__()
        self.rho = check_fraction(rho, "rho")
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"rho": self.rho, "eps": self.eps}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        mean_square = self.state["mean_square"][index]
        xp.multiply(mean_square, self.rho, out=mean_square)
        xp.multiply(grad, grad, out=scratch)
        xp.multiply(scratch, 1.0 - self.rho, out=scratch)
        xp.add(mean_square, scratch, out=mean_square)
        scaled_step(xp, param, grad, mean_square, lr, self.eps, scratch)

    def terms(self, param, grad, lr, state, steps):
        g, before = np.float64(grad), np.float64(state["mean_square"])
        s = before * np.float64(self.rho) + (g * g) * np.float64(1.0 - self.rho)
        return [("s before", "the running mean of g^2", float(before)),
                ("s", f"rho * s + (1 - rho) * g^2  (rho = {self.rho!r})", float(s)),
                *scaled_terms(param, g, s, lr, self.eps)]


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, PyTorch's ``Adadelta``): ``s = rho * s + (1 - rho) * g^2``;
    ``delta = sqrt(u + eps) / sqrt(s + eps) * g``; ``u = rho * u + (1 - rho) * delta^2``;
    ``p = p - lr * delta``, ``u`` the running mean of the squared updates. PyTorch's defaults
    (``rho = 0.9``, ``eps = 1e-6``); ``lr`` multiplies the step (PyTorch's default 1.0)."""

    name = "adadelta"
    state_names = ("mean_square", "mean_square_update")
    second_scratch = True

    def __init__(self, rho: float = 0.9, eps: float = 1e-6) -> None:
        super().__init__()
        self.rho = check_fraction(rho, "rho")
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"rho": self.rho, "eps": self.eps}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        mean_square = self.state["mean_square"][index]
        mean_update = self.state["mean_square_update"][index]
        delta = self._second_scratch[index]
        xp.multiply(mean_square, self.rho, out=mean_square)
        xp.multiply(grad, grad, out=scratch)
        xp.multiply(scratch, 1.0 - self.rho, out=scratch)
        xp.add(mean_square, scratch, out=mean_square)
        xp.add(mean_square, self.eps, out=scratch)
        xp.sqrt(scratch, out=scratch)                      # sqrt(s + eps)
        xp.add(mean_update, self.eps, out=delta)
        xp.sqrt(delta, out=delta)
        xp.divide(delta, scratch, out=delta)
        xp.multiply(delta, grad, out=delta)                # delta
        xp.multiply(mean_update, self.rho, out=mean_update)
        xp.multiply(delta, delta, out=scratch)
        xp.multiply(scratch, 1.0 - self.rho, out=scratch)
        xp.add(mean_update, scratch, out=mean_update)
        xp.multiply(delta, lr, out=delta)
        xp.subtract(param, delta, out=param)

    def terms(self, param, grad, lr, state, steps):
        g, rho = np.float64(grad), np.float64(self.rho)
        s_before, u_before = np.float64(state["mean_square"]), np.float64(
            state["mean_square_update"])
        s = s_before * rho + (g * g) * np.float64(1.0 - self.rho)
        root_s = np.sqrt(s + np.float64(self.eps))
        root_u = np.sqrt(u_before + np.float64(self.eps))
        delta = (root_u / root_s) * g
        u = u_before * rho + (delta * delta) * np.float64(1.0 - self.rho)
        step = delta * np.float64(lr)
        return [("s before", "the running mean of g^2", float(s_before)),
                ("u before", "the running mean of the squared updates", float(u_before)),
                ("s", f"rho * s + (1 - rho) * g^2  (rho = {self.rho!r})", float(s)),
                ("sqrt(s + eps)", f"eps = {self.eps!r}", float(root_s)),
                ("sqrt(u + eps)", "u before this update", float(root_u)),
                ("delta", "sqrt(u + eps) / sqrt(s + eps) * g", float(delta)),
                ("u", "rho * u + (1 - rho) * delta^2", float(u)),
                ("lr * delta", "the step", float(step)),
                ("p", "p - lr * delta", float(np.float64(param) - step))]


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (GD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AMSGrad, AdamW,
                              NAdam, Adadelta)
}


def get_optimizer(spec: str | Optimizer, **hyperparameters: Any) -> Optimizer:
    """A fresh optimizer from its name (with optional hyper-parameters), or the object given."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, str) and spec in OPTIMIZERS:
        return OPTIMIZERS[spec](**hyperparameters)
    raise ValueError(f"unknown optimizer {spec!r}; expected one of: {', '.join(OPTIMIZERS)}")
