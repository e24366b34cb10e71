"""The base class of the optimizers and the pieces several of them share (see
:mod:`chainrule.optimizers` for the update rules and the registry)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import ArrayModuleUser

__all__ = ["Optimizer", "check_fraction", "check_positive", "scaled_step", "scaled_terms"]


class Optimizer(ArrayModuleUser):
    """Base class. Subclasses name their state buffers in ``state_names``."""

    name = ""
    state_names: tuple[str, ...] = ()
    #: True when a step needs a second scratch buffer per parameter (made by :meth:`bind`).
    second_scratch = False

    def __init__(self) -> None:
        self.state: dict[str, list[np.ndarray]] = {}
        self.steps = 0
        self._scratch: list[np.ndarray] = []
        self._second_scratch: list[np.ndarray] = []

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
        self._second_scratch = [xp.empty_like(p) for p in params] if self.second_scratch else []
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


def scaled_step(xp, param, grad, accumulated, lr, eps, scratch) -> None:
    """``param -= lr * grad / (sqrt(accumulated) + eps)``, using ``scratch``."""
    xp.sqrt(accumulated, out=scratch)
    xp.add(scratch, eps, out=scratch)
    xp.divide(grad, scratch, out=scratch)
    xp.multiply(scratch, lr, out=scratch)
    xp.subtract(param, scratch, out=param)


def scaled_terms(param, grad, accumulated, lr, eps) -> list[tuple[str, str, float]]:
    """The terms of ``scaled_step`` for one parameter."""
    denominator = np.sqrt(accumulated) + np.float64(eps)
    step = (grad / denominator) * np.float64(lr)
    return [("sqrt(s) + eps", f"eps = {eps!r}", float(denominator)),
            ("lr * g / (sqrt(s) + eps)", "the step", float(step)),
            ("p", "p - lr * g / (sqrt(s) + eps)", float(np.float64(param) - step))]


def check_fraction(value: Any, name: str) -> float:
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def check_positive(value: Any, name: str) -> float:
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number
