"""Divergence: when a loss has gone wrong, and the weights to go back to.

A step's loss diverged when it is NaN, infinite or above ``divergence_factor`` times the
run's first loss (the limit :class:`~chainrule.training.step.Descent` checks). Training then
stops and keeps good weights: a copy of the weights (and of batch normalisation's running
statistics, which every training pass moves, the diverging one too) taken at the start of an
epoch. Two copies
alternate, so the one from before the current epoch is always there (a large network's
full-batch copies are taken every tenth epoch only: they would cost a noticeable share of each
step). The run's last update is checked after it, on the weights it left, as a next step
would check them (:meth:`Divergence.check_last_update`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

from ..engine import Engine

__all__ = ["Divergence"]


class Divergence:
    """The first loss, the limit it sets, and the copies of the weights to go back to."""

    def __init__(self, net: Engine, factor: float, every: int = 1) -> None:
        self.net, self.factor, self.every = net, factor, every
        #: The loss of the run's first step (``None`` before it).
        self.first_loss: float | None = None
        #: The loss above which a step has diverged.
        self.limit = sys.float_info.max
        self._copies: list[np.ndarray | None] = [None, None]
        self._statistics: list[list[np.ndarray] | None] = [None, None]  # running means, vars
        self._epochs: list[int | None] = [None, None]
        self._newest = 1  # the copy written last (so the first goes into copy 0)

    def set_first_loss(self, loss: float | None) -> float:
        """Remember the first loss; return the limit above which a loss has diverged."""
        self.first_loss = loss
        if loss is not None:
            self.first_loss = max(loss, np.finfo(np.float64).tiny)
            self.limit = min(self.factor * self.first_loss, sys.float_info.max)
        return self.limit

    # ------------------------------------------------------------------ the copies
    def snapshot(self, epoch: int) -> None:
        """Keep a copy of the weights and running statistics epoch ``epoch`` starts from
        (every ``every`` epochs), over the older of the two copies (buffers made once)."""
        if epoch % self.every:
            return
        older, xp = 1 - self._newest, self.net.xp
        parameters, statistics = self.net.flat_parameters(), _running(self.net)
        if self._copies[older] is None:
            self._copies[older] = xp.empty_like(parameters)
            self._statistics[older] = [xp.empty_like(a) for a in statistics]
        xp.copyto(self._copies[older], parameters)
        for copy, live in zip(self._statistics[older], statistics, strict=True):
            xp.copyto(copy, live)
        self._epochs[older], self._newest = epoch, older

    def restore(self, latest_good_epoch: int) -> int | None:
        """Put back the newest copy (weights and running statistics) taken at or before
        ``latest_good_epoch``; return its epoch (``None`` when there is none)."""
        candidates = [(e, i) for i, e in enumerate(self._epochs)
                      if e is not None and e <= max(latest_good_epoch, 0)]
        if not candidates:
            return None
        epoch, index = max(candidates)
        self.net.xp.copyto(self.net.flat_parameters(), self._copies[index])
        for live, copy in zip(_running(self.net), self._statistics[index], strict=True):
            self.net.xp.copyto(live, copy)
        return epoch

    def forget(self) -> None:
        """Drop the copies (the weights were changed by hand: they no longer lead here)."""
        self._epochs = [None, None]

    # ------------------------------------------------------------------ what happened
    def at_step(self, error: float, epoch: int, first_step: bool, learning_rate: float) -> str:
        """A step's loss (before its update) diverged: restore good weights; the message.
        When the step is its epoch's first, the weights the epoch started from produced the
        bad loss, so only a copy from an earlier epoch is good."""
        restored = self.restore(epoch - 1 if first_step else epoch)
        kept = "the initial weights" if restored is None or restored < 0 \
            else f"the weights from the start of epoch {restored + 1}"
        return (f"training diverged at epoch {epoch + 1}: the loss {_what(error)} with "
                f"learning_rate={learning_rate:g}; stopped and kept {kept}. "
                "Try a smaller learning rate.")

    def check_last_update(self, loss: Callable[[], float | None], l2: float, last_epoch: int,
                          learning_rate: float) -> str | None:
        """Divergence shows in the loss a step computes before its update, so the run's last
        update is checked here: weights that are not finite, or a loss on the training data
        (``loss()``, L2 added here; ``None`` where the data is not at hand) that is NaN,
        infinite or exploding (finite weights can still overflow a layer), go back to the copy
        taken at the start of epoch ``last_epoch``. Returns the message, or ``None``."""
        if self.first_loss is None:  # no update was made
            return None
        net, xp = self.net, self.net.xp
        flat = net.flat_parameters()
        value: float | None = math.nan
        with np.errstate(all="ignore"):
            finite = math.isfinite(float(xp.add.reduce(flat))) or bool(xp.isfinite(flat).all())
            if finite:
                value = loss()
                if value is not None and l2:
                    value += 0.5 * l2 * sum(float(xp.vdot(w, w)) for w in net.weights)
        if finite and (value is None or value <= self.limit):
            return None
        restored = self.restore(last_epoch)
        kept = "the initial weights" if restored is None \
            else f"the weights from the start of epoch {restored + 1}"
        what = "the weights became non-finite" if not finite else f"the loss {_what(value)}"
        return (f"training diverged in its last update (epoch {last_epoch + 1}): {what} with "
                f"learning_rate={learning_rate:g}; stopped and kept {kept}. "
                "Try a smaller learning rate.")


def _running(net: Engine) -> list[np.ndarray]:
    """Batch normalisation's running statistics themselves (not copies), in
    :meth:`~chainrule.engine.Engine.running_statistics`' order."""
    return [a for pair in zip(net.running_means, net.running_vars) for a in pair
            if a is not None]


def _what(loss: float) -> str:
    if math.isnan(loss):
        return "became NaN"
    if math.isinf(loss):
        return "became infinite"
    return f"exploded to {loss:.3g}"
