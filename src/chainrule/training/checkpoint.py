"""Checkpoint state: everything a run needs to go on bit for bit, and taking it back.

:func:`state_dict` gathers a trainer's state — the network's architecture, the parameters, the
optimizer's state, the generator's state, the sample order, the position in the run and the
history so far (whose ``params`` hold the run's settings, the schedule's among them) — and
:func:`load_state_dict` checks a saved one against the run it is to continue, then restores it.
The files are not this package's business (training sits below model files): the
:class:`Checkpoint` callback and :func:`prepare_run` are handed the functions that write and
read them (``chainrule.persistence.write_checkpoint`` and ``read_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import positive_int
from ..callbacks import Callback
from ..history import History

__all__ = ["RESUMABLE_AS_SAVED", "Checkpoint", "load_state_dict", "prepare_run", "state_dict"]

#: The settings a resumed run must share with the state it continues (``epochs`` may change).
RESUMABLE_AS_SAVED = ("learning_rate", "optimizer", "batch_size", "shuffle", "schedule",
                      "schedule_settings", "l2", "l1", "clip_norm", "clip_value", "n_samples",
                      "sample_weight")

#: ``write(net, state, path)``: a trainer's state written beside its model.
Writer = Callable[[Any, dict[str, Any], str], None]
#: ``read(path, net) -> state``: a checkpoint's state, checked to fit ``net``.
Reader = Callable[[str, Any], dict[str, Any]]


def state_dict(trainer: Any) -> dict[str, Any]:
    """Everything needed to continue ``trainer``'s run bit for bit. Arrays are copies; the
    rest is JSON-able."""
    t, optimizer = trainer, trainer.optimizer
    return {
        "network": t.net.spec(),  # the architecture (dropout and normalisation included)
        "epoch": t.epoch,
        "batch": t.batch,
        "epoch_error": t._epoch_error,
        "first_loss": t.divergence.first_loss,
        "parameters": t.net.flat_parameters().copy(),
        "statistics": t.net.running_statistics(),  # batch normalisation's (state, not trained)
        "optimizer": {
            "name": optimizer.name,
            "hyperparameters": optimizer.hyperparameters(),
            "steps": optimizer.steps,
            "state": {name: [b.copy() for b in buffers]
                      for name, buffers in optimizer.state.items()},
        },
        "rng_state": t.net.rng.bit_generator.state,
        "order": None if t.order is None else t.order.copy(),
        "history": t.history.to_dict(),
        "data": t.source.fingerprint(),
    }


def _refusal(t: Any, state: dict[str, Any]) -> str | None:
    """Why ``state`` cannot continue ``t``'s run (another network, optimizer, setting, amount
    of data or batching), or ``None``. A state from before a field was saved (the
    architecture, the schedule's settings) is not checked for it."""
    refusal = _architecture_refusal(state.get("network"), t.net.spec())
    if refusal is not None:
        return refusal
    optimizer, saved = t.optimizer, state["optimizer"]
    if saved["name"] != optimizer.name or saved["hyperparameters"] != \
            optimizer.hyperparameters():
        return (f"the state was made with optimizer {saved['name']!r} "
                f"{saved['hyperparameters']}, not {optimizer!r}")
    before = state["history"].get("params", {})
    for key in RESUMABLE_AS_SAVED:  # the same run, continued: only epochs may change
        if key in before and before[key] != t.history.params[key]:
            return (f"the state was made with {key}={before[key]!r}, this run asks for "
                    f"{t.history.params[key]!r}; resume with the same settings (only epochs "
                    "may change)")
    data, here = state.get("data"), t.source.fingerprint()
    if data is not None and here is not None and data != here:
        return "the state was made on other training data (another file, split or seed); " \
               "resume on the same data"
    parameters = np.asarray(state["parameters"])
    if parameters.shape != t.net.flat_parameters().shape:
        return f"the state has {parameters.size} parameters, this network {t.net.n_parameters}"
    epoch, batch = state["epoch"], state.get("batch", 0)
    if not 0 <= batch < t.n_batches:
        return (f"the state stands at batch {batch} of an epoch, which this run splits into "
                f"{t.n_batches} batch(es)")
    records = state["history"].get("history", {})
    if any(len(records.get(key, ())) != epoch for key in ("loss", "learning_rate", "time")) \
            or any(len(values) > epoch for values in records.values()):
        return (f"the state's history does not record the {epoch} epoch(s) it has done "
                "(loss, learning_rate and time, one value per epoch)")
    order = state.get("order")
    if (order is None) != (t.order is None):
        return "the state's batching (shuffled mini-batches or not) is not this run's"
    if order is not None:
        order = np.asarray(order)
        if order.shape != (t.n_samples,) or order.dtype.kind not in "iu" or \
                not np.array_equal(np.sort(order), np.arange(t.n_samples)):
            return f"the state's sample order does not fit this data ({t.n_samples} samples)"
    for name, buffers in optimizer.state.items():
        arrays = saved["state"].get(name, [])
        if len(arrays) != len(buffers) or any(a.shape != b.shape
                                             for a, b in zip(arrays, buffers)):
            return f"the state's optimizer {name} does not fit this network"
    return None


def _architecture_refusal(saved: dict[str, Any] | None, here: dict[str, Any]) -> str | None:
    """The first field of the network's :meth:`~chainrule.engine.Engine.spec` in which the
    state's differs (a field a plain network leaves out, ``dropout`` or ``normalization``,
    reads as ``None``), or ``None``."""
    if saved is None:
        return None
    for key in [*saved, *(k for k in here if k not in saved)]:
        if saved.get(key) != here.get(key):
            return (f"the state was made for a network with {key}={saved.get(key)!r}, this "
                    f"one has {key}={here.get(key)!r}; resume into the same network")
    return None


def load_state_dict(trainer: Any, state: dict[str, Any]) -> None:
    """Continue ``trainer``'s run from :func:`state_dict`'s result; a ``ValueError`` says what
    does not fit this run."""
    t, optimizer = trainer, trainer.optimizer
    refusal = _refusal(t, state)
    if refusal is not None:
        raise ValueError(refusal)
    saved = state["optimizer"]
    t.net.set_running_statistics(state.get("statistics", []))  # checked before any change
    t.net.flat_parameters()[...] = np.asarray(state["parameters"])
    for name, buffers in optimizer.state.items():
        for buffer, array in zip(buffers, saved["state"][name]):
            buffer[...] = array
    optimizer.steps = int(saved["steps"])
    if state.get("order") is not None:
        t.order = np.asarray(state["order"]).astype(np.intp)
    t.net.rng.bit_generator.state = state["rng_state"]
    t.epoch, t.batch = int(state["epoch"]), int(state.get("batch", 0))
    t._epoch_error = float(state.get("epoch_error", 0.0))
    # A schedule that learns from the epochs (plateau) stands where their records take it.
    t.schedule.replay(state["history"].get("history", {}))
    # Mid-epoch, the loop goes on with the epoch's learning rate, which it takes from the
    # schedule only when an epoch begins.
    t.descent.learning_rate = t.schedule(t.learning_rate, t.epoch, t.epochs)
    t.descent.loss_limit = t.divergence.set_first_loss(state["first_loss"])
    previous = History.from_dict(state["history"])
    previous.params = t.history.params
    t.history = previous
    t.divergence.forget()


class Checkpoint(Callback):
    """Write a resumable checkpoint every ``every`` epochs, through ``write(net, state,
    path)`` (``chainrule.persistence.write_checkpoint``: atomically, beside the model)."""

    def __init__(self, path: str, every: int = 1, write: Writer | None = None) -> None:
        self.path, self.every = path, positive_int(every, "checkpoint_every")
        if write is None:
            raise TypeError("Checkpoint needs write, the function that writes the file")
        self.write = write

    def on_epoch_end(self, trainer, epoch, logs):
        if (epoch + 1) % self.every == 0:
            self.write(trainer.net, trainer.state_dict(), self.path)


def resume(trainer: Any, path: str, read: Reader) -> None:
    """Continue ``trainer`` from the checkpoint at ``path`` (read by ``read``); a refusal
    names the file."""
    try:
        trainer.load_state_dict(read(path, trainer.net))
    except ValueError as exc:
        if str(exc).startswith(f"{path}:"):
            raise
        raise ValueError(f"{path}: {exc}") from None


def prepare_run(trainer: Any, checkpoint: str | None = None, checkpoint_every: int = 1,
                resume_from: str | None = None, *, write: Writer | None = None,
                read: Reader | None = None) -> Any:
    """The file side of a run: add a :class:`Checkpoint` callback writing to ``checkpoint``
    (with ``write``) and continue from the checkpoint ``resume_from`` (read with ``read``).
    Returns the trainer."""
    if checkpoint is not None:
        trainer.callbacks.append(Checkpoint(checkpoint, checkpoint_every, write))
    if resume_from is not None:
        if read is None:
            raise TypeError("resuming needs read, the function that reads the checkpoint")
        resume(trainer, resume_from, read)
    return trainer
