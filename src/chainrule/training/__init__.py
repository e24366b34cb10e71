"""Training: one loop for every way of training, and its step-by-step driver.

A :class:`Trainer` holds the state of a run and drives it; ``fit`` is ``Trainer(...).run()``.
One module per job:

* :mod:`.options`: the one table of training options, and :func:`check_options`;
* :mod:`.loop`: epochs of batches, each batch one step, each epoch's records and callbacks;
* :mod:`.step`: the step after a batch's gradient — the penalties (L2, L1), clipping, the
  divergence check, the update — shared by the local loop and the Dask path's visits of blocks;
* :mod:`.divergence`: the first loss, the copies of the weights (and running statistics),
  putting them back;
* :mod:`.checkpoint`: ``state_dict`` / ``load_state_dict`` and the checkpoint callback;
* :mod:`.watch`: :class:`Step`, what one update did;
* :mod:`.trainer`: the :class:`Trainer` itself.

Each step asks the trainer's *gradient source* (:mod:`chainrule.sources`: the engine on
in-memory data, or a Dask cluster) for the batch's error and gradient. Those rules exist once,
here, whatever the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..callbacks import Callback, EarlyStopping
from ..engine import Engine
from ..history import History
from ..metrics import accuracy
from .checkpoint import RESUMABLE_AS_SAVED, Checkpoint, prepare_run
from .options import DEFAULTS, OPTION_RULES, OPTIONS, Option, check_options, options_help
from .step import Descent, add_l2
from .trainer import Trainer
from .watch import Step

__all__ = ["DEFAULTS", "OPTIONS", "OPTION_RULES", "RESUMABLE_AS_SAVED", "Checkpoint", "Descent",
           "Option", "Step", "Trainer", "accuracy", "add_l2", "check_options", "fit",
           "prepare_run"]


def fit(net: Engine, X: Any, Y: Any, *, epochs: int, callbacks: Iterable[Callback] = (),
        validation_data: tuple[Any, Any] | None = None,
        early_stopping: int | EarlyStopping | None = None, **options: Any) -> History:
    """Train ``net`` on ``(X, Y)`` by gradient descent and return the :class:`History`.

    Besides the options below: ``validation_data``, ``(X_val, Y_val)``, evaluated after every
    epoch (``val_loss``; ``(X_val, Y_val, sample_weight_val)``: their weighted mean);
    ``callbacks``, objects with ``on_train_begin`` / ``on_epoch_end`` / ``on_train_end`` (see
    :mod:`chainrule.callbacks`); ``early_stopping``, a patience in epochs
    (or an :class:`~chainrule.callbacks.EarlyStopping`): stop when ``val_loss`` stops improving
    and restore the best weights; ``sample_weight``, one weight >= 0 per sample (not all 0):
    every batch's error becomes the weighted mean over its rows, ``sum_i w_i e_i / sum_i w_i``
    (normalised by the batch's own sum of weights, as scikit-learn does), and its gradient that
    mean's, the epoch's loss the weighted mean over all samples.

    Among the options: ``l2`` and ``l1`` add ``l2 / 2 * sum(w^2)`` and ``l1 * sum(|w|)`` over
    the weights (never the biases, nor normalisation's ``gamma`` and ``beta``) to each batch's
    loss, and ``l2 * w + l1 * sign(w)`` to its weight gradients (both: the elastic net); then
    ``clip_norm`` scales the whole gradient by ``clip_norm / (norm + 1e-6)`` when its global
    2-norm exceeds ``clip_norm``, and ``clip_value`` clamps every entry into ``[-clip_value,
    clip_value]`` (PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``), before the update.

    Options (the table :data:`OPTIONS`, checked by :func:`check_options`)
    ----------------------------------------------------------------------
    """
    return Trainer(net, X, Y, epochs=epochs, callbacks=callbacks,
                   validation_data=validation_data, early_stopping=early_stopping,
                   **options).run()


fit.__doc__ = (fit.__doc__ or "") + options_help().replace("\n", "\n    ") + "\n"
