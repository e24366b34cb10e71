"""The :class:`Trainer`: the state of one training run, and what a program calls to drive it.

``fit`` is ``Trainer(...).run()``. A program that wants to look at training as it goes calls
:meth:`Trainer.step` or :meth:`Trainer.run_epoch` instead (see ``docs/architecture.md``). The
loop itself is :mod:`chainrule.training.loop`; the step it takes, :mod:`.step`; what happens
when a loss goes wrong, :mod:`.divergence`; saving and resuming, :mod:`.checkpoint`; what a
watched step shows, :mod:`.watch`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..callbacks import Callback, EarlyStopping, TargetReached
from ..engine import Engine
from ..exceptions import DivergenceError, DivergenceWarning, warn_at_caller
from ..history import History
from ..losses import BinaryCrossEntropy, CategoricalCrossEntropy, check_sample_weight
from ..metrics import AccuracyMeter
from ..optimizers import Optimizer
from ..schedules import Schedule
from ..sources import GradientSource, LocalData
from .checkpoint import load_state_dict, state_dict
from .divergence import Divergence
from .loop import interrupt_guard, train
from .options import check_options
from .step import Descent
from .watch import Step, watched_step

__all__ = ["Trainer"]

_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


class Trainer:
    """The state of one training run, and the one loop that drives it.

    ``Trainer(net, X, Y, epochs=..., **options)`` trains on in-memory data (the options are
    :func:`~chainrule.training.fit`'s); ``Trainer(net, source=..., epochs=...)`` on any
    :class:`~chainrule.sources.GradientSource`. ``sample_weight`` (one weight >= 0 per
    sample) makes every batch's error the weighted mean over its rows, ``sum_i w_i e_i /
    sum_i w_i`` (the batch's own sum of weights, as scikit-learn normalises), and the epoch's
    loss the weighted mean over all samples. Then:

    * :meth:`run` trains to the end and returns the :class:`~chainrule.history.History`;
    * :meth:`step` makes one update and returns a :class:`~chainrule.training.Step` (with
      ``watch=True``, filled with every layer's values); :meth:`run_epoch` finishes the
      current epoch;
    * :meth:`state_dict` / :meth:`load_state_dict` save and restore everything needed to go on
      bit for bit (checkpoints write it to a file).

    A network with batch normalisation needs at least 2 rows in every training batch: a
    ``batch_size`` of 1, or one that leaves a last batch of 1 row (``n_samples % batch_size
    == 1``), is a ``ValueError`` here, before any step.
    """

    def __init__(self, net: Engine, X: Any = None, Y: Any = None, *,
                 source: GradientSource | None = None, callbacks: Iterable[Callback] = (),
                 validation_data: tuple[Any, Any] | None = None,
                 early_stopping: int | EarlyStopping | None = None,
                 sample_weight: Any = None, **options: Any) -> None:
        opts = check_options(**options)
        self.net = net
        if source is not None and sample_weight is not None:
            raise ValueError("sample_weight goes to the gradient source when one is given")
        self.source = LocalData(net, X, Y, sample_weight) if source is None else source
        self._take_options(opts)
        self.validation = self._validation(validation_data)
        self.callbacks = self._callbacks(callbacks, opts, early_stopping)
        self._plan_batches()
        self.optimizer.bind([net.flat_parameters()], [net.parameter_scratch()], xp=net.xp)
        self.descent = Descent(net, self.optimizer, self.l2, self.learning_rate, l1=self.l1,
                               clip_norm=self.clip_norm, clip_value=self.clip_value)
        # A large network's full-batch copies are taken every tenth epoch only.
        every = 10 if self.batch_size is None and net.n_parameters > 100_000 else 1
        self.divergence = Divergence(net, self.divergence_factor, every)
        self.classification = isinstance(
            net.loss_function, (CategoricalCrossEntropy, BinaryCrossEntropy))
        self._meter = (AccuracyMeter(net, self.source.Y)
                       if self.classification and self.source.Y is not None else None)
        #: What each epoch adds to ``history.predicted``: with ``record_predictions`` the
        #: predictions on all of the data; for one sample and one output the prediction the
        #: epoch made (the tutorial's curve); else nothing.
        self.prediction_record = (self.source.predictions if self.record_predictions else
                                  self.source.last_prediction
                                  if self.n_samples == 1 and net.n_outputs == 1 else None)
        self.history = self._new_history()
        self._start_position()

    # ------------------------------------------------------------------ __init__'s jobs
    def _take_options(self, opts: dict[str, Any]) -> None:
        n_samples, batch_size = self.source.n_samples, opts["batch_size"]
        if batch_size is not None and batch_size > n_samples:
            raise ValueError(f"batch_size {batch_size} is larger than the data ({n_samples} "
                             "samples)")
        self.n_samples = n_samples
        self.epochs, self.learning_rate = opts["epochs"], opts["learning_rate"]
        self.batch_size, self.shuffle = batch_size, opts["shuffle"]
        self.optimizer: Optimizer = opts["optimizer"]
        self.schedule: Schedule = opts["schedule"]
        self.l2, self.l1 = opts["l2"], opts["l1"]
        self.clip_norm, self.clip_value = opts["clip_norm"], opts["clip_value"]
        self.on_divergence = opts["on_divergence"]
        self.divergence_factor = opts["divergence_factor"]
        self.record_predictions, self.progress = opts["record_predictions"], opts["progress"]

    def _validation(self, data: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(X_val, Y_val)`` checked; a third entry, the held-out rows' weights, goes to
        :attr:`validation_weight` (``val_loss`` is then their weighted mean, as the training
        loss is with ``sample_weight``)."""
        self.validation_weight = None
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError("validation_data must be a pair (X_val, Y_val) or a triple "
                             "(X_val, Y_val, sample_weight_val)")
        X_val, Y_val = self.net.check_data(*data[:2], x_name="X_val", y_name="Y_val")
        if len(data) == 3 and data[2] is not None:
            self.validation_weight = check_sample_weight(data[2], X_val.shape[0],
                                                         self.net.dtype, "sample_weight_val")
        return X_val, Y_val

    def _callbacks(self, given: Iterable[Callback], opts: dict[str, Any],
                   early_stopping: int | EarlyStopping | None) -> list[Callback]:
        callbacks = list(given)
        for callback in callbacks:
            if not all(callable(getattr(callback, hook, None)) for hook in _HOOKS):
                raise ValueError(f"callbacks must be Callback objects (on_train_begin, "
                                 f"on_epoch_end, on_train_end), got {callback!r}")
        if opts["target_loss"] is not None or opts["tolerance"] is not None:
            callbacks.append(TargetReached(loss=opts["target_loss"],
                                           tolerance=opts["tolerance"]))
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                early_stopping = EarlyStopping(patience=early_stopping)
            if early_stopping.monitor.startswith("val_") and self.validation is None:
                raise ValueError("early_stopping needs validation_data to monitor val_loss")
            callbacks.append(early_stopping)
        return callbacks

    def _plan_batches(self) -> None:
        """The rows of each step: the source's own plan (it batches the data itself), or
        batches of ``batch_size`` rows through the sample order (reshuffled in place each
        epoch, mini-batches with shuffle only)."""
        n, size = self.n_samples, self.batch_size
        plan = self.source.plan(size)
        if plan is None:
            starts = list(range(0, n, n if size is None else size))
            self._rows = [stop - start for start, stop in zip(starts, [*starts[1:], n])]
            if self.net.couples_rows:  # (a source with its own plan checks its batches)
                check_batch_rows(n, size)
        else:
            starts = [0, *np.cumsum(plan[:-1]).tolist()]
            self._rows = plan  # the source may reorder it in place at each epoch's start
        self._starts, self._stops = starts, [*starts[1:], n]
        self.n_batches = len(starts)
        self.order: np.ndarray | None = (np.arange(n) if size is not None and self.shuffle
                                         and plan is None else None)

    def _new_history(self) -> History:
        history = History()
        history.params = {
            "epochs": self.epochs, "learning_rate": self.learning_rate,
            "optimizer": self.optimizer.name,
            "optimizer_settings": self.optimizer.hyperparameters(), "batch_size": self.batch_size,
            "shuffle": self.shuffle, "schedule": self.schedule.name,
            "schedule_settings": self.schedule.settings(), "l2": self.l2,
            "l1": self.l1, "clip_norm": self.clip_norm, "clip_value": self.clip_value,
            "n_samples": self.n_samples, "gradient_source": self.source.name,
            "sample_weight": self.source.weighted,
            "loss": self.net.loss_name,
        }
        return history

    def _start_position(self) -> None:
        #: Epochs completed; the batch the current epoch goes on with.
        self.epoch, self.batch = 0, 0
        self.interrupted = False
        self._stop_signal: int | None = None  # the signal that set ``interrupted``, if one
        self.stopped_reason: str | None = None
        self._diverged_message: str | None = None
        self._started = self._finished = False
        self._epoch_error = 0.0
        self._last_error = float("nan")
        self._bar = None
        self._start_time = 0.0

    # ------------------------------------------------------------------ control
    def stop(self, reason: str) -> None:
        """Ask training to end after the current step (used by callbacks and Ctrl-C)."""
        if self.stopped_reason is None:
            self.stopped_reason = reason

    @property
    def finished(self) -> bool:
        """Whether training is over: every epoch done, or stopped."""
        return self.stopped_reason is not None or self.epoch >= self.epochs

    @property
    def first_loss(self) -> float | None:
        """The loss of the run's first step (``None`` before it)."""
        return self.divergence.first_loss

    @property
    def X(self) -> np.ndarray | None:
        """The training inputs (in-memory sources)."""
        return self.source.X

    @property
    def Y(self) -> np.ndarray | None:
        """The training targets (in-memory sources)."""
        return self.source.Y

    # ------------------------------------------------------------------ the driver
    def run(self) -> History:
        """Train until the last epoch or a stopping rule; return the history."""
        with interrupt_guard(self):
            train(self)
        return self.finish()

    def run_epoch(self) -> dict[str, float]:
        """Run the rest of the current epoch (all of it, if none of it has run yet); return the
        epoch's record (``loss``, ``learning_rate``, ``time``, and what else is recorded)."""
        train(self, until_epoch_end=True)
        return {k: v[-1] for k, v in self.history.history.items() if v}

    def step(self, watch: bool = False) -> Step | None:
        """Make one update (on the next batch) and return what it did; ``None`` once training
        is over. ``watch=True`` fills the :class:`~chainrule.training.Step` with copies of
        everything the step computed; without it the step costs what a step of :meth:`run`
        costs."""
        if self.finished:
            return None
        return watched_step(self, watch)

    def finish(self) -> History:
        """End the run: say why it stopped, run the callbacks' ``on_train_end``, raise
        :class:`~chainrule.exceptions.DivergenceError` when asked to. Returns the history."""
        self.begin()
        if self._finished:
            return self.history
        self._finished = True
        if self._bar is not None:
            self._bar.close()
        if not self.history.diverged:
            last = self.epoch - 1 if self.batch == 0 else self.epoch  # the last update's epoch
            message = self.divergence.check_last_update(
                self._penalised_loss, 0.0, last, self.descent.learning_rate)
            if message is not None:
                self.stopped_reason = None  # divergence is the reason, whatever else ended it
                self.report_divergence(message)
        if self.stopped_reason is None:
            self.stopped_reason = f"reached the maximum number of epochs ({self.epochs})"
        self.history.stopped_reason = self.stopped_reason
        for callback in self.callbacks:
            callback.on_train_end(self)
        if self._diverged_message is not None and self.on_divergence == "raise":
            raise DivergenceError(self._diverged_message)
        return self.history

    def begin(self) -> None:
        """Once per run, before its first step: the source's preparation, the clock, the
        progress bar and the callbacks' ``on_train_begin``."""
        if self._started:
            return
        self._started = True
        self.source.start(self.batch_size)
        self._start_time = time.perf_counter() - (self.history.last("time") or 0.0)
        self._bar = self._progress_bar()
        for callback in self.callbacks:
            callback.on_train_begin(self)

    def report_divergence(self, message: str) -> None:
        """Training diverged: stop, mark the history, warn (``on_divergence="warn"``)."""
        self._diverged_message = message
        self.stop(message)
        self.history.diverged = True
        if self.on_divergence == "warn":
            warn_at_caller(message, DivergenceWarning)

    def _penalised_loss(self) -> float | None:
        """The loss on the training data with the penalties (``None``: data not at hand), for
        the check of the run's last update. With batch normalisation it is taken in training
        mode, each batch on its own statistics, nothing moved
        (:meth:`~chainrule.sources.LocalData.training_mode_loss`): the divergence limit comes
        from a training step's loss, and the evaluation loss on the running statistics is
        not comparable with it (after one step on inputs far from 0 it can be 1e9 times it)."""
        value = self.source.loss()
        return None if value is None else value + self.descent.penalty()

    def _progress_bar(self):
        show = self.progress
        if show is None:
            show = sys.stderr.isatty()
        if not show:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warn_at_caller("progress bars need tqdm (pip install tqdm)", UserWarning)
            return None
        return tqdm(total=self.epochs, initial=self.epoch, unit="epoch", leave=True)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run bit for bit (see
        :func:`chainrule.training.checkpoint.state_dict`)."""
        return state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s result; a ``ValueError`` says what does not fit
        this run (see :func:`chainrule.training.checkpoint.load_state_dict`)."""
        load_state_dict(self, state)


def check_batch_rows(n_samples: int, batch_size: int | None) -> None:
    """Batch normalisation's variance over one row is 0: refuse, before training, batches of
    ``batch_size`` (``None``: all ``n_samples`` rows) that include a batch of 1 row."""
    size = n_samples if batch_size is None else batch_size
    if size == 1:
        given = f"batch_size={batch_size}" if batch_size is not None \
            else "full batch on 1 sample"
        raise ValueError(f"batch normalisation needs at least 2 rows in every training batch, "
                         f"and {given} gives batches of 1 row; choose a larger batch_size, or "
                         "normalization='layer'")
    if n_samples % size == 1:
        raise ValueError(f"batch normalisation needs at least 2 rows in every training batch: "
                         f"{n_samples} samples in batches of {size} leave a last batch of 1 row "
                         f"({n_samples} % {size} = 1); choose another batch_size, or "
                         "normalization='layer'")
