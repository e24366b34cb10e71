"""scikit-learn estimators backed by chainrule: ``GDClassifier`` and ``GDRegressor``.

Needs the optional extra ``chainrule[sklearn]``. Both follow scikit-learn's conventions
(parameters stored verbatim in ``__init__``, learned attributes ending in ``_``, ``fit``
returning ``self``) and pass ``sklearn.utils.estimator_checks``; the fitted attributes mirror
``MLPClassifier``'s (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ...).

Training stops as ``MLPClassifier``'s and ``MLPRegressor``'s stochastic solvers do: on ``tol``
and ``n_iter_no_change`` (the training loss, or with ``early_stopping`` the validation loss, has
not improved by ``tol``), or else after ``epochs`` passes with a ``ConvergenceWarning``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._sklearn_parameters import with_parameters as _with_parameters
from ._sklearn_weights import (
    check_partial_class_weight,
    checked_weights,
    row_weights,
    with_class_weight,
)
from ._validation import non_negative_float, positive_int
from .callbacks import EarlyStopping
from .exceptions import warn_at_caller
from .losses import DECISION_THRESHOLD
from .network import Network
from .preparation import output_activation

__all__ = ["GDClassifier", "GDRegressor"]


class _NoImprovement(EarlyStopping):
    """scikit-learn's stopping rule for MLP's stochastic solvers, as a training callback.

    After each epoch (as ``MLP._update_no_improvement_count``): the epoch counts as *not
    improving* when ``monitor`` is above ``best - tol``, and resets the count otherwise; ``best``
    follows every new minimum, however small the gain (and, with ``restore_best_weights``, so do
    the saved weights). Training stops once more than ``n_iter_no_change`` epochs in a row did
    not improve. ``best`` and ``count`` start from a previous fit's, so that ``warm_start`` and
    ``partial_fit`` go on counting as scikit-learn's do.
    """

    def __init__(self, monitor: str, tol: float, n_iter_no_change: int,
                 restore_best_weights: bool, best: float = math.inf, count: int = 0) -> None:
        super().__init__(patience=n_iter_no_change, monitor=monitor, min_delta=tol,
                         restore_best_weights=restore_best_weights)
        self.start = (best, count)

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        self.best, self.wait = self.start
        if self.restore_best_weights and math.isfinite(self.best):
            # A warm start's best so far is the network it starts from.
            self.best_state = trainer.net.get_state()

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs[self.monitor]
        self.wait = self.wait + 1 if value > self.best - self.min_delta else 0
        if value < self.best:
            self.keep_best(trainer, value, epoch)
        if self.wait > self.patience:
            what = "validation loss" if self.monitor == "val_loss" else "training loss"
            trainer.stop(f"{what} did not improve by more than tol={self.min_delta:g} for "
                         f"{self.wait} consecutive epochs (n_iter_no_change="
                         f"{self.patience}); best {self.best:.6g}")


def _listed(value):
    """A tuple parameter as the list the network takes (one value stays one value)."""
    return list(value) if isinstance(value, tuple) else value


class _GDBase(BaseEstimator):
    _output_activation = "identity"
    _loss = "mse"

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 0.001,
        schedule: str | None = None,
        batch_size: int | None = 200,
        epochs: int = 200,
        l2: float = 0.0001,
        l1: float = 0.0,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        tol: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        init: str = "xavier",
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: bool = False,
        dropout: float | tuple[float, ...] = 0.0,
        normalization: str | tuple[str | None, ...] | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.l1 = l1
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.dropout = dropout
        self.normalization = normalization

    # -------------------------------------------------------------- helpers
    def _seed(self) -> int | None:
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(0, 2**31 - 1))
        return self.random_state

    def _new_network(self, n_inputs: int, n_outputs: int, dtype) -> Network:
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
        return Network([n_inputs, *hidden, n_outputs], activation=self.activation,
                       output_activation=self._output_activation, loss=self._loss,
                       init=self.init, seed=self._seed(), dtype=dtype,
                       dropout=_listed(self.dropout), normalization=_listed(self.normalization))

    def _train(self, X: np.ndarray, Y: np.ndarray, epochs: int, incremental: bool,
               sample_weight: np.ndarray | None = None) -> None:
        tol = non_negative_float(self.tol, "tol")
        n_iter_no_change = positive_int(self.n_iter_no_change, "n_iter_no_change")
        reuse = (incremental or self.warm_start) and hasattr(self, "network_")
        if reuse and self.network_.sizes[-1] != Y.shape[1]:
            reuse = False
        if not reuse:
            self.network_ = self._new_network(X.shape[1], Y.shape[1], X.dtype)
            self.loss_curve_ = []
            self.t_ = 0
            self._no_improvement_count = 0
            self.best_loss_ = None
            self.validation_scores_ = None
            self.best_validation_score_ = None
        net = self.network_
        batch = None if self.batch_size is None else int(self.batch_size)
        options: dict[str, Any] = {}
        validating = False
        if self.early_stopping and not incremental:
            if not 0.0 < float(self.validation_fraction) < 1.0:
                raise ValueError("validation_fraction must be in (0, 1) with early_stopping, "
                                 f"got {self.validation_fraction!r}")
            n_validation = max(1, int(round(self.validation_fraction * X.shape[0])))
            if X.shape[0] - n_validation >= 1:
                order = net.rng.permutation(X.shape[0])
                held, kept = order[:n_validation], order[n_validation:]
                options["validation_data"] = (X[held], Y[held])
                X, Y = X[kept], Y[kept]
                if sample_weight is not None:  # both parts weighted, as scikit-learn's
                    if sample_weight[held].sum() > 0:  # (else a weighted mean of nothing)
                        options["validation_data"] += (sample_weight[held],)
                    sample_weight = sample_weight[kept]
                validating = True
        # scikit-learn's rule, carried on from the previous fit on a warm start / partial_fit.
        count = getattr(self, "_no_improvement_count", 0)
        if validating:
            best = -self.best_validation_score_ if self.best_validation_score_ is not None \
                else math.inf
            rule = _NoImprovement("val_loss", tol, n_iter_no_change, restore_best_weights=True,
                                  best=best, count=count)
        else:
            best = math.inf if self.best_loss_ is None else self.best_loss_
            rule = _NoImprovement("loss", tol, n_iter_no_change, restore_best_weights=False,
                                  best=best, count=count)
        if batch is not None and batch >= X.shape[0]:
            batch = None  # a batch as large as the data is the full batch, in order
        history = net.fit(X, Y, epochs=epochs, learning_rate=self.learning_rate,
                          optimizer=self.optimizer, batch_size=batch, schedule=self.schedule,
                          l2=self.l2, progress=bool(self.verbose), early_stopping=rule,
                          l1=self.l1, clip_norm=self.clip_norm, clip_value=self.clip_value,
                          sample_weight=sample_weight, **options)
        self.history_ = history
        self._no_improvement_count = rule.wait
        self.loss_curve_ = list(self.loss_curve_) + list(history["loss"])
        if validating:
            self.validation_scores_ = list(self.validation_scores_ or []) + \
                [-v for v in history["val_loss"]]
            self.best_validation_score_ = -rule.best
            self.best_loss_ = None  # as scikit-learn: the validation score is what is tracked
        else:
            self.best_loss_ = rule.best
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        self.n_iter_ = history.epochs
        self.t_ += history.updates
        self.coefs_ = [w.copy() for w in net.weights]
        self.intercepts_ = [b.copy() for b in net.biases]
        self.n_layers_ = len(net.sizes)
        self.n_outputs_ = net.n_outputs
        self.out_activation_ = net.activations[-1]
        # Only running out of epochs is a failure to converge (a divergence warns on its own,
        # and Ctrl-C or the tolerance ended the run on purpose).
        if not incremental and history.stopped_reason.startswith("reached the maximum"):
            warn_at_caller(
                f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and the "
                "optimization hasn't converged yet.", ConvergenceWarning)

    def _check_epochs(self) -> int:
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        return int(self.epochs)

    def _predict_raw(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.target_tags.multi_output = True
        return tags


@with_class_weight(_GDBase)
@_with_parameters
class GDClassifier(ClassifierMixin, _GDBase):
    """A fully-connected classifier trained by chainrule's gradient descent.

    Binary and multi-class targets use a softmax output with categorical cross-entropy;
    multi-label targets (a 0/1 indicator matrix) use sigmoid outputs with binary cross-entropy.
    ``class_weight`` (classifier only, as in scikit-learn's linear models): ``None``,
    ``"balanced"`` (each class weighs ``n_samples / (n_classes * count)``) or a dict label ->
    weight; it multiplies ``sample_weight`` (``partial_fit`` takes a dict, not ``"balanced"``).
    """

    def fit(self, X, y, sample_weight=None):
        epochs = self._check_epochs()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        Y = self._encode(y, reset=True)
        self._train(X, Y, epochs, incremental=False,
                    sample_weight=self._weights(y, sample_weight, X.shape[0]))
        return self

    def _weights(self, y, sample_weight, n_samples: int) -> np.ndarray | None:
        """``sample_weight`` times each row's ``class_weight`` (``None``: neither given)."""
        return row_weights(sample_weight, self.class_weight, y, self._multilabel, n_samples)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        check_partial_class_weight(self.class_weight)
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             reset=first)
        check_classification_targets(y)
        if first:
            self._label_binarizer = LabelBinarizer().fit(np.asarray(classes))
            self.classes_ = self._label_binarizer.classes_
            self._multilabel = False
        Y = self._encode(y, reset=False)
        self._train(X, Y, 1, incremental=True,
                    sample_weight=self._weights(y, sample_weight, X.shape[0]))
        return self

    def _encode(self, y, reset: bool) -> np.ndarray:
        if reset:
            self._multilabel = type_of_target(y) == "multilabel-indicator"
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        if self._multilabel:
            return np.asarray(y, dtype=float)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown.tolist()} not in classes_ "
                             f"{self.classes_.tolist()}")
        Y = self._label_binarizer.transform(y).astype(float)
        if Y.shape[1] == 1:  # binary: two softmax outputs, one per class
            Y = np.hstack([1.0 - Y, Y])
        return Y

    def _new_network(self, n_inputs, n_outputs, dtype):
        multilabel = getattr(self, "_multilabel", False)
        self._loss = "binary_cross_entropy" if multilabel else "categorical_cross_entropy"
        self._output_activation = output_activation(self._loss)
        return super()._new_network(n_inputs, n_outputs, dtype)

    def predict_proba(self, X) -> np.ndarray:
        probabilities = self._predict_raw(X)
        if len(self.classes_) == 1 and not self._multilabel:  # one class: always that one
            return np.ones((probabilities.shape[0], 1), dtype=probabilities.dtype)
        return probabilities

    def predict(self, X) -> np.ndarray:
        probabilities = self.predict_proba(X)
        if self._multilabel:
            return (probabilities > DECISION_THRESHOLD).astype(int)
        return self.classes_[np.argmax(probabilities, axis=1)]


@_with_parameters
class GDRegressor(RegressorMixin, _GDBase):
    """A fully-connected regressor (identity output, mean squared error).

    Like scikit-learn's ``MLPRegressor`` it trains on the targets as given: an estimator does
    not rescale ``y`` behind the user's back (``predict`` would then have to undo it, and
    ``score`` compare in other units). For targets far from unit scale, wrap it as scikit-learn
    does: ``TransformedTargetRegressor(GDRegressor(), transformer=StandardScaler())``. The
    command line, which owns its whole pipeline, does standardise regression targets (and undoes
    it in ``predict``)."""

    def fit(self, X, y, sample_weight=None):
        epochs = self._check_epochs()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True)
        self._train(X, self._targets(y, X.dtype), epochs, incremental=False,
                    sample_weight=checked_weights(sample_weight, X.shape[0]))
        return self

    def partial_fit(self, X, y, sample_weight=None):
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, reset=first)
        self._train(X, self._targets(y, X.dtype), 1, incremental=True,
                    sample_weight=checked_weights(sample_weight, X.shape[0]))
        return self

    def _targets(self, y, dtype) -> np.ndarray:
        y = np.asarray(y, dtype=dtype)
        self._ravel = y.ndim == 1
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def predict(self, X) -> np.ndarray:
        predicted = self._predict_raw(X)
        return predicted.ravel() if self._ravel else predicted
