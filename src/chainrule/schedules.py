"""Learning-rate schedules: the learning rate of each epoch from the initial one.

``epoch`` counts from 0, so every schedule starts at the initial ``learning_rate``.

============  =======================================================================
constant      ``lr``
step          ``lr * drop ** floor(epoch / every)``
exponential   ``lr * decay ** epoch``
inverse_time  ``lr / (1 + decay * epoch)``
cosine        ``minimum + (lr - minimum) * (1 + cos(pi * epoch / epochs)) / 2``
============  =======================================================================
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "Exponential",
    "InverseTime",
    "Schedule",
    "StepDecay",
    "get_schedule",
]


class Schedule:
    """Base class: ``schedule(learning_rate, epoch, epochs)`` gives the epoch's rate."""

    name = ""

    def __call__(self, learning_rate: float, epoch: int, epochs: int) -> float:
        raise NotImplementedError

    def settings(self) -> dict[str, float]:
        return {}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"


class Constant(Schedule):
    name = "constant"

    def __call__(self, learning_rate, epoch, epochs):
        return learning_rate


class StepDecay(Schedule):
    """Multiply the rate by ``drop`` every ``every`` epochs."""

    name = "step"

    def __init__(self, drop: float = 0.5, every: int = 10) -> None:
        if not 0 < drop <= 1:
            raise ValueError(f"step schedule: drop must be in (0, 1], got {drop!r}")
        if int(every) < 1:
            raise ValueError(f"step schedule: every must be >= 1, got {every!r}")
        self.drop, self.every = float(drop), int(every)

    def __call__(self, learning_rate, epoch, epochs):
        return learning_rate * self.drop ** (epoch // self.every)

    def settings(self):
        return {"drop": self.drop, "every": self.every}


class Exponential(Schedule):
    name = "exponential"

    def __init__(self, decay: float = 0.96) -> None:
        if not 0 < decay <= 1:
            raise ValueError(f"exponential schedule: decay must be in (0, 1], got {decay!r}")
        self.decay = float(decay)

    def __call__(self, learning_rate, epoch, epochs):
        return learning_rate * self.decay**epoch

    def settings(self):
        return {"decay": self.decay}


class InverseTime(Schedule):
    name = "inverse_time"

    def __init__(self, decay: float = 0.01) -> None:
        if not decay >= 0:
            raise ValueError(f"inverse_time schedule: decay must be >= 0, got {decay!r}")
        self.decay = float(decay)

    def __call__(self, learning_rate, epoch, epochs):
        return learning_rate / (1.0 + self.decay * epoch)

    def settings(self):
        return {"decay": self.decay}


class Cosine(Schedule):
    """Cosine annealing from ``lr`` at epoch 0 towards ``minimum`` at the last epoch."""

    name = "cosine"

    def __init__(self, minimum: float = 0.0) -> None:
        if not minimum >= 0:
            raise ValueError(f"cosine schedule: minimum must be >= 0, got {minimum!r}")
        self.minimum = float(minimum)

    def __call__(self, learning_rate, epoch, epochs):
        progress = epoch / max(epochs, 1)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.minimum + (learning_rate - self.minimum) * cosine

    def settings(self):
        return {"minimum": self.minimum}


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, StepDecay, Exponential, InverseTime, Cosine)
}


def get_schedule(spec: str | Schedule | None, **settings: Any) -> Schedule:
    """A schedule from its name (``None`` is constant), or the object given."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str) and spec in SCHEDULES:
        return SCHEDULES[spec](**settings)
    raise ValueError(f"unknown schedule {spec!r}; expected one of: {', '.join(SCHEDULES)}")
