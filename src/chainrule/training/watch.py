"""The step-by-step view: one update at a time, and everything it computed.

:meth:`Trainer.step` runs the loop for one step (:func:`watched_step`); with ``watch=True`` the
:class:`Step` it returns holds copies of the batch, of every layer's values from the engine's
workspace and of the update, so that a notebook or the playground can show the chain rule at
work on the very numbers training used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .loop import train

__all__ = ["Step", "watched_step"]


@dataclass
class Step:
    """What one update did. ``epoch`` and ``batch`` count from 0; ``loss`` is the batch's error
    before the update, the penalties (L2, L1) included. With ``watch=True`` (see
    :meth:`Trainer.step`) the rest is filled with copies: the batch's ``rows`` (sample
    indices), ``inputs`` and ``targets``; every layer's ``sops``, ``outputs``, ``deltas``
    (``dError/dSop``) and ``output_grads``; with dropout the ``masks`` the step drew (one per
    layer, ``None`` where none); ``weight_grads`` and ``bias_grads`` (the gradients
    the update used: the penalties' terms added, then clipped by norm and by value, where the
    run clips); and
    ``update``, the change of every parameter (``weights_after - weights_before``, per layer,
    as ``(weight_update, bias_update)`` pairs)."""

    epoch: int
    batch: int
    loss: float
    learning_rate: float
    epoch_ended: bool
    rows: np.ndarray | None = None
    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    sops: list[np.ndarray] | None = None
    outputs: list[np.ndarray] | None = None
    deltas: list[np.ndarray] | None = None
    output_grads: list[np.ndarray] | None = None
    masks: list[np.ndarray | None] | None = None
    weight_grads: list[np.ndarray] | None = None
    bias_grads: list[np.ndarray | None] | None = None
    update: list[tuple[np.ndarray, np.ndarray | None]] | None = None
    logs: dict[str, float] = field(default_factory=dict)


def watched_step(trainer: Any, watch: bool) -> Step:
    """Run ``trainer``'s loop for one step and say what it did (with ``watch``, all of it)."""
    t, net = trainer, trainer.net
    epoch, batch = t.epoch, t.batch
    before = net.flat_parameters().copy() if watch else None
    if watch:
        net.last_workspace = None  # so that only this step's workspace is shown
    epochs_before = t.history.epochs
    train(t, steps=1)
    record = Step(epoch, batch, t._last_error, t.descent.learning_rate,
                  t.history.epochs > epochs_before)
    if record.epoch_ended:
        record.logs = {k: v[-1] for k, v in t.history.history.items() if v}
    if watch:
        _fill(t, record, batch, before)
    return record


def _fill(t: Any, record: Step, batch: int, before: np.ndarray) -> None:
    """Copy what a watched step computed into its record."""
    net, workspace = t.net, t.net.last_workspace
    # The batch's rows: the order stays as the epoch shuffled it until the next one begins.
    index = None if t.order is None else t.order[t._starts[batch]:t._stops[batch]].copy()
    record.rows = np.arange(t._starts[batch], t._stops[batch]) if index is None else index
    record.inputs, record.targets = t.source.batch_data(batch, index)
    if workspace is not None:
        record.sops = [workspace.sop(layer).copy() for layer in range(len(workspace.sops))]
        record.outputs = [a.copy() for a in workspace.outputs]
        record.deltas = [a.copy() for a in workspace.deltas]
        record.output_grads = [a.copy() for a in workspace.output_grads]
        if any(net.dropout):  # the masks the step drew, so its chain can be replayed
            record.masks = net.dropout_masks()
    record.weight_grads = [g.copy() for g in net.weight_grads]
    record.bias_grads = [None if g is None else g.copy() for g in net.bias_grads]
    change = net.flat_parameters() - before
    shaped, offset = [], 0
    for weight, bias in zip(net.weights, net.biases):
        weight_change = change[offset:offset + weight.size].reshape(weight.shape)
        offset += weight.size
        bias_change = None
        if bias is not None:
            bias_change = change[offset:offset + bias.size]
            offset += bias.size
        shaped.append((weight_change, bias_change))
    record.update = shaped
