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
=========  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import ArrayModuleUser

__all__ = [
    "OPTIMIZERS",
    "GD",
    "Adagrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
]


class Optimizer(ArrayModuleUser):
    """Base class. Subclasses name their state buffers in ``state_names``."""

    name = ""
    state_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.state: dict[str, list[np.ndarray]] = {}
        self.steps = 0
        self._scratch: list[np.ndarray] = []

    def hyperparameters(self) -> dict[str, float]:
        """The settings that define the optimizer (saved with checkpoints)."""
        return {}

    def bind(self, params: Sequence[np.ndarray],
             scratch: Sequence[np.ndarray] | None = None, xp: Any = None) -> None:
        """Allocate the state (zeros) for ``params``; ``scratch`` (buffers shaped like them,
        free between steps) saves allocating scratch buffers; ``xp`` is the array module to
        compute with (the network's)."""
        if xp is not None:
            self.xp = xp
        xp = self.xp
        self.state = {name: [xp.zeros_like(p) for p in params] for name in self.state_names}
        self._scratch = list(scratch) if scratch is not None else [xp.empty_like(p)
                                                                   for p in params]
        self.steps = 0

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], lr: float) -> None:
        """Update every parameter in place from its gradient."""
        self.steps += 1
        for index, (param, grad) in enumerate(zip(params, grads)):
            self._update(index, param, grad, lr, self._scratch[index])

    def _update(self, index, param, grad, lr, scratch) -> None:
        raise NotImplementedError

    def terms(self, param: float, grad: float, lr: float, state: dict[str, float],
              steps: int) -> list[tuple[str, str, float]]:
        """One parameter's update, written out: ``(name, formula, value)`` for each term, the
        last being the new value of ``p``. ``state`` holds this parameter's state before the
        update (``{name: value}`` for each of ``state_names``) and ``steps`` counts updates,
        this one included. The values are computed with float64 scalars in the order of
        :meth:`step`'s array operations, so they equal what :meth:`step` does to the
        parameter."""
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({settings})"


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
        self.momentum = _fraction(momentum, "momentum")

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
        self.eps = _positive(eps, "eps")

    def hyperparameters(self):
        return {"eps": self.eps}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        sum_squares = self.state["sum_squares"][index]
        xp.multiply(grad, grad, out=scratch)
        xp.add(sum_squares, scratch, out=sum_squares)
        _scaled_step(xp, param, grad, sum_squares, lr, self.eps, scratch)

    def terms(self, param, grad, lr, state, steps):
        g = np.float64(grad)
        s = np.float64(state["sum_squares"]) + g * g
        return [("s before", "the sum of squared gradients so far",
                 float(state["sum_squares"])), ("s", "s + g^2", float(s)),
                *_scaled_terms(param, g, s, lr, self.eps)]


class RMSprop(Optimizer):
    """RMSprop: ``s = rho * s + (1 - rho) * g^2``; ``p = p - lr * g / (sqrt(s) + eps)``."""

    name = "rmsprop"
    state_names = ("mean_square",)

    def __init__(self, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__()
        self.rho = _fraction(rho, "rho")
        self.eps = _positive(eps, "eps")

    def hyperparameters(self):
        return {"rho": self.rho, "eps": self.eps}

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        mean_square = self.state["mean_square"][index]
        xp.multiply(mean_square, self.rho, out=mean_square)
        xp.multiply(grad, grad, out=scratch)
        xp.multiply(scratch, 1.0 - self.rho, out=scratch)
        xp.add(mean_square, scratch, out=mean_square)
        _scaled_step(xp, param, grad, mean_square, lr, self.eps, scratch)

    def terms(self, param, grad, lr, state, steps):
        g, before = np.float64(grad), np.float64(state["mean_square"])
        s = before * np.float64(self.rho) + (g * g) * np.float64(1.0 - self.rho)
        return [("s before", "the running mean of g^2", float(before)),
                ("s", f"rho * s + (1 - rho) * g^2  (rho = {self.rho!r})", float(s)),
                *_scaled_terms(param, g, s, lr, self.eps)]


class Adam(Optimizer):
    """Adam with the published bias correction (see the module docstring)."""

    name = "adam"
    state_names = ("first_moment", "second_moment")

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__()
        self.beta1 = _fraction(beta1, "beta1")
        self.beta2 = _fraction(beta2, "beta2")
        self.eps = _positive(eps, "eps")

    def hyperparameters(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def bind(self, params, scratch=None, xp=None):
        super().bind(params, scratch, xp)
        self._second_scratch = [self.xp.empty_like(p) for p in params]

    def step(self, params, grads, lr):
        self.steps += 1
        self._first_correction = 1.0 - self.beta1**self.steps
        self._second_correction = 1.0 - self.beta2**self.steps
        for index, (param, grad) in enumerate(zip(params, grads)):
            self._update(index, param, grad, lr, self._scratch[index])

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        first = self.state["first_moment"][index]
        second = self.state["second_moment"][index]
        xp.multiply(first, self.beta1, out=first)
        xp.multiply(grad, 1.0 - self.beta1, out=scratch)
        xp.add(first, scratch, out=first)
        xp.multiply(second, self.beta2, out=second)
        xp.multiply(grad, grad, out=scratch)
        xp.multiply(scratch, 1.0 - self.beta2, out=scratch)
        xp.add(second, scratch, out=second)
        # scratch = sqrt(v_hat) + eps; denominator = m_hat / scratch
        xp.divide(second, self._second_correction, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.add(scratch, self.eps, out=scratch)
        step = self._second_scratch[index]
        xp.divide(first, self._first_correction, out=step)
        xp.divide(step, scratch, out=step)
        xp.multiply(step, lr, out=step)
        xp.subtract(param, step, out=param)

    def terms(self, param, grad, lr, state, steps):
        g = np.float64(grad)
        b1, b2 = np.float64(self.beta1), np.float64(self.beta2)
        m = np.float64(state["first_moment"]) * b1 + g * np.float64(1.0 - self.beta1)
        v = np.float64(state["second_moment"]) * b2 + (g * g) * np.float64(1.0 - self.beta2)
        first_correction = 1.0 - self.beta1**steps
        second_correction = 1.0 - self.beta2**steps
        denominator = np.sqrt(v / np.float64(second_correction)) + np.float64(self.eps)
        m_hat = m / np.float64(first_correction)
        step = (m_hat / denominator) * np.float64(lr)
        return [
            ("m before", "the first moment after the previous update",
             float(state["first_moment"])),
            ("v before", "the second moment after the previous update",
             float(state["second_moment"])),
            ("m", f"b1 * m + (1 - b1) * g  (b1 = {self.beta1!r})", float(m)),
            ("v", f"b2 * v + (1 - b2) * g^2  (b2 = {self.beta2!r})", float(v)),
            ("t", "the update's number", float(steps)),
            ("m_hat", "m / (1 - b1^t)", float(m_hat)),
            ("v_hat", "v / (1 - b2^t)", float(v / np.float64(second_correction))),
            ("lr * m_hat / (sqrt(v_hat) + eps)", f"the step  (eps = {self.eps!r})", float(step)),
            ("p", "p - lr * m_hat / (sqrt(v_hat) + eps)", float(np.float64(param) - step)),
        ]


def _scaled_step(xp, param, grad, accumulated, lr, eps, scratch) -> None:
    """``param -= lr * grad / (sqrt(accumulated) + eps)``, using ``scratch``."""
    xp.sqrt(accumulated, out=scratch)
    xp.add(scratch, eps, out=scratch)
    xp.divide(grad, scratch, out=scratch)
    xp.multiply(scratch, lr, out=scratch)
    xp.subtract(param, scratch, out=param)


def _scaled_terms(param, grad, accumulated, lr, eps) -> list[tuple[str, str, float]]:
    """The terms of ``_scaled_step`` for one parameter."""
    denominator = np.sqrt(accumulated) + np.float64(eps)
    step = (grad / denominator) * np.float64(lr)
    return [("sqrt(s) + eps", f"eps = {eps!r}", float(denominator)),
            ("lr * g / (sqrt(s) + eps)", "the step", float(step)),
            ("p", "p - lr * g / (sqrt(s) + eps)", float(np.float64(param) - step))]


def _fraction(value: Any, name: str) -> float:
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def _positive(value: Any, name: str) -> float:
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (GD, Momentum, Nesterov, Adagrad, RMSprop, Adam)
}


def get_optimizer(spec: str | Optimizer, **hyperparameters: Any) -> Optimizer:
    """A fresh optimizer from its name (with optional hyper-parameters), or the object given."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, str) and spec in OPTIMIZERS:
        return OPTIMIZERS[spec](**hyperparameters)
    raise ValueError(f"unknown optimizer {spec!r}; expected one of: {', '.join(OPTIMIZERS)}")
