"""The network users call: the engine plus ``fit``, ``save`` and ``explain``.

:class:`Network` is :class:`chainrule.engine.Engine` (architecture, parameters, forward and
backward pass: see that module for the notation and the chain rule) with the conveniences a
user expects on the object itself, as Keras's ``Model`` offers them. It sits above everything it
calls (training, model files, explanations), so nothing below imports it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import persistence
from .engine import Engine
from .explain import Explanation, explain
from .history import History
from .losses import check_sample_weight
from .notebook import network_html
from .training import Trainer, prepare_run

__all__ = ["Network", "load"]


class Network(Engine):
    __doc__ = Engine.__doc__

    def fit(self, X: Any, Y: Any, *, checkpoint: str | os.PathLike | None = None,
            checkpoint_every: int = 1, resume_from: str | os.PathLike | None = None,
            **options: Any) -> History:
        """Train by gradient descent and return the :class:`~chainrule.history.History`.

        The keywords are :func:`chainrule.training.fit`'s (``epochs``, ``learning_rate``,
        ``optimizer``, ``batch_size``, ``schedule``, ``l2``, ``l1``, ``clip_norm``,
        ``clip_value``, ``sample_weight``, ``validation_data``, ``callbacks``,
        ``early_stopping``, ``target_loss``, ``tolerance``, ...), plus:

        sample_weight:
            One weight >= 0 per sample: each batch's error is the weighted mean over its rows,
            ``sum_i w_i e_i / sum_i w_i``, and the epoch's loss the weighted mean.
        l1, clip_norm, clip_value:
            ``l1 * sum(|w|)`` over the weights (not biases) added to the loss beside ``l2``'s
            ``l2 / 2 * sum(w^2)``; then the gradient scaled to a global 2-norm of at most
            ``clip_norm`` and clamped into ``[-clip_value, clip_value]``, before the update.

        checkpoint, checkpoint_every:
            Write a resumable checkpoint to this path every ``checkpoint_every`` epochs.
        resume_from:
            A checkpoint to continue from: the weights, optimizer state, generator state and
            history are restored and training goes on up to ``epochs`` in all, bit for bit as
            an unbroken run would.
        """
        trainer = Trainer(self, X, Y, **options)
        prepare_run(trainer, _path(checkpoint), checkpoint_every, _path(resume_from),
                    write=persistence.write_checkpoint, read=persistence.read_checkpoint)
        return trainer.run()

    def trainer(self, X: Any, Y: Any, **options: Any) -> Trainer:
        """A :class:`~chainrule.training.Trainer` for stepping through training by hand
        (``trainer.step()``, ``trainer.run_epoch()``); the keywords are :meth:`fit`'s."""
        return Trainer(self, X, Y, **options)

    def evaluate(self, X: Any, Y: Any = None,
                 sample_weight: Any = None) -> tuple[float, np.ndarray]:
        """``(loss, predicted)`` on ``(X, Y)`` (``Y`` None: the predictions only, the loss 0),
        the data checked first as :meth:`predict` and :meth:`loss` check it; with
        ``sample_weight`` (one weight >= 0 per sample) the loss is the weighted mean
        ``sum_i w_i e_i / sum_i w_i``."""
        if Y is None:
            return Engine.evaluate(self, self.check_inputs(X), None)
        inputs, targets = self.check_data(X, Y)
        return Engine.evaluate(self, inputs, targets, self._weights(sample_weight, inputs))

    def predict(self, X: Any) -> np.ndarray:
        """The predicted outputs, shaped ``(n_samples, n_outputs)``."""
        return Engine.evaluate(self, self.check_inputs(X), None)[1]

    def loss(self, X: Any, Y: Any, sample_weight: Any = None) -> float:
        """The error on ``(X, Y)``: summed over outputs, averaged over samples (see losses);
        with ``sample_weight``, the weighted mean over samples, ``sum_i w_i e_i / sum_i
        w_i``."""
        return self.evaluate(X, Y, sample_weight)[0]

    def _weights(self, sample_weight: Any, inputs: np.ndarray) -> np.ndarray | None:
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, inputs.shape[0], self.dtype)

    def explain(self, X: Any, Y: Any, layer: int, weight: Any = None,
                **kwargs: Any) -> Explanation:
        """The chain of derivatives for one weight (or bias, gamma, beta); see
        :func:`chainrule.explain.explain`."""
        return explain(self, X, Y, layer, weight, **kwargs)

    def save(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Save to a model file; see :func:`chainrule.persistence.save`."""
        persistence.save(self, os.fspath(path), **kwargs)

    def _repr_html_(self) -> str:
        """The architecture as an HTML table, for Jupyter (see :mod:`chainrule.notebook`)."""
        return network_html(self)


def _path(path: str | os.PathLike | None) -> str | None:
    return None if path is None else os.fspath(path)


def load(path: str | os.PathLike) -> Network:
    """Read a model file (or a checkpoint) as a :class:`Network`, checking everything first
    (see :func:`chainrule.persistence.load`)."""
    return persistence.load(os.fspath(path), Network)
