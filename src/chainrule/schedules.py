"""Learning-rate schedules: the learning rate of each epoch from the initial one.

``epoch`` counts from 0, so every schedule but ``linear_warmup`` starts at the initial
``learning_rate``.

=============  =======================================================================
constant       ``lr``
step           ``lr * drop ** floor(epoch / every)``
exponential    ``lr * decay ** epoch``
inverse_time   ``lr / (1 + decay * epoch)``
cosine         ``minimum + (lr - minimum) * (1 + cos(pi * epoch / epochs)) / 2``
linear_warmup  ``lr * (start + (1 - start) * min(epoch, warmup_epochs) / warmup_epochs)``:
               from ``start * lr`` up to ``lr``, then constant (PyTorch's ``LinearLR`` with
               ``end_factor = 1``)
plateau        the rate so far, times ``factor`` once the monitored loss has not improved
               for more than ``patience`` epochs (PyTorch's ``ReduceLROnPlateau``,
               ``mode="min"``, ``threshold_mode="rel"``): see :class:`Plateau`
=============  =======================================================================

A schedule that learns from the epochs (``plateau``) sees each epoch's record through
:meth:`Schedule.observe`, which the training loop calls at every epoch's end; what it learned is
a function of the records alone, so a checkpoint, which keeps the history, restores it by
:meth:`Schedule.replay`, and a resumed run goes on bit for bit.
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
    "LinearWarmup",
    "Plateau",
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

    def observe(self, logs: dict[str, float]) -> None:
        """The record of the epoch just ended (``loss``, ``learning_rate``, ``val_loss`` with
        validation data, ...); the loop calls this at every epoch's end. Nothing here."""

    def reset(self) -> None:
        """Forget what :meth:`observe` taught (a new run). Nothing here."""

    def replay(self, records: dict[str, list[float]]) -> None:
        """Stand where this schedule stood after the epochs of ``records`` (a history's
        ``{name: one value per epoch}``): :meth:`reset`, then :meth:`observe` each epoch's
        record in turn, with the names recorded in every epoch."""
        self.reset()
        epochs = len(records.get("loss", ()))
        names = [name for name, values in records.items() if len(values) == epochs]
        for epoch in range(epochs):
            self.observe({name: float(records[name][epoch]) for name in names})

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


class LinearWarmup(Schedule):
    """Linear warm-up: ``lr * (start + (1 - start) * min(epoch, warmup_epochs) /
    warmup_epochs)``, from ``start * lr`` at epoch 0 up to ``lr`` at ``warmup_epochs``, then
    constant (PyTorch's ``LinearLR(start_factor=start, end_factor=1.0,
    total_iters=warmup_epochs)`` stepped once an epoch; PyTorch's defaults)."""

    name = "linear_warmup"

    def __init__(self, warmup_epochs: int = 5, start: float = 1.0 / 3.0) -> None:
        if isinstance(warmup_epochs, bool) or int(warmup_epochs) != warmup_epochs \
                or warmup_epochs < 1:
            raise ValueError(f"linear_warmup schedule: warmup_epochs must be an integer >= 1, "
                             f"got {warmup_epochs!r}")
        if not 0 < start <= 1:
            raise ValueError(f"linear_warmup schedule: start must be in (0, 1], got {start!r}")
        self.warmup_epochs, self.start = int(warmup_epochs), float(start)

    def __call__(self, learning_rate, epoch, epochs):
        progress = min(epoch, self.warmup_epochs) / self.warmup_epochs
        return learning_rate * (self.start + (1.0 - self.start) * progress)

    def settings(self):
        return {"warmup_epochs": self.warmup_epochs, "start": self.start}


class Plateau(Schedule):
    """Reduce on plateau, as PyTorch's ``ReduceLROnPlateau(mode="min", threshold_mode="rel",
    cooldown=0, eps=1e-8)``: an epoch improves when its monitored loss is below ``best * (1 -
    threshold)``; after more than ``patience`` epochs in a row without improving, the rate
    becomes ``max(rate * factor, min_lr)`` (kept if that changes it by no more than 1e-8) and
    the count starts again. The monitored loss is ``val_loss`` when the run has validation
    data, else the training ``loss`` as the history records it (the epoch's mean, the L2
    and L1 penalties included, as Keras's ``ReduceLROnPlateau(monitor="loss")`` sees it; the
    validation loss has no penalties). PyTorch's
    defaults. Asking for epoch 0's rate starts afresh (every run begins there), so one object
    serves run after run."""

    name = "plateau"
    #: PyTorch's ``eps``: a reduction smaller than this is not made.
    EPS = 1e-8

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"plateau schedule: factor must be in (0, 1), got {factor!r}")
        if isinstance(patience, bool) or int(patience) != patience or patience < 0:
            raise ValueError(f"plateau schedule: patience must be an integer >= 0, "
                             f"got {patience!r}")
        if not 0 <= threshold < 1:
            raise ValueError(f"plateau schedule: threshold must be in [0, 1), "
                             f"got {threshold!r}")
        if not (math.isfinite(min_lr) and min_lr >= 0):
            raise ValueError(f"plateau schedule: min_lr must be a number >= 0, got {min_lr!r}")
        self.factor, self.patience = float(factor), int(patience)
        self.threshold, self.min_lr = float(threshold), float(min_lr)
        self.reset()

    def reset(self):
        self.best = math.inf
        self.bad_epochs = 0
        self.rate: float | None = None  # the rate after the last epoch observed
        self.observed = 0

    def __call__(self, learning_rate, epoch, epochs):
        if epoch == 0 and self.observed:
            self.reset()
        return learning_rate if self.rate is None else self.rate

    def observe(self, logs):
        loss = logs.get("val_loss", logs["loss"])
        rate = logs["learning_rate"]
        self.observed += 1
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            reduced = max(rate * self.factor, self.min_lr)
            if rate - reduced > self.EPS:
                rate = reduced
            self.bad_epochs = 0
        self.rate = rate

    def settings(self):
        return {"factor": self.factor, "patience": self.patience,
                "threshold": self.threshold, "min_lr": self.min_lr}


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, StepDecay, Exponential, InverseTime, Cosine,
                              LinearWarmup, Plateau)
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
