"""scikit-learn estimators backed by chainrule: ``GDClassifier`` and ``GDRegressor``.

Needs the optional extra ``chainrule[sklearn]``. Both follow scikit-learn's conventions
(parameters stored verbatim in ``__init__``, learned attributes ending in ``_``, ``fit``
returning ``self``) and pass ``sklearn.utils.estimator_checks``; the fitted attributes mirror
``MLPClassifier``'s (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .callbacks import EarlyStopping
from .exceptions import warn_at_caller
from .losses import DECISION_THRESHOLD
from .network import Network

__all__ = ["GDClassifier", "GDRegressor"]


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
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        init: str = "xavier",
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

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
                       init=self.init, seed=self._seed(), dtype=dtype)

    def _train(self, X: np.ndarray, Y: np.ndarray, epochs: int, incremental: bool) -> None:
        reuse = (incremental or self.warm_start) and hasattr(self, "network_")
        if reuse and self.network_.sizes[-1] != Y.shape[1]:
            reuse = False
        if not reuse:
            self.network_ = self._new_network(X.shape[1], Y.shape[1], X.dtype)
            self.loss_curve_ = []
            self.t_ = 0
        net = self.network_
        batch = None if self.batch_size is None else int(self.batch_size)
        options: dict[str, Any] = {}
        if self.early_stopping and not incremental:
            if not 0.0 < float(self.validation_fraction) < 1.0:
                raise ValueError("validation_fraction must be in (0, 1) with early_stopping, "
                                 f"got {self.validation_fraction!r}")
            n_validation = max(1, int(round(self.validation_fraction * X.shape[0])))
            if X.shape[0] - n_validation >= 1:
                order = net.rng.permutation(X.shape[0])
                held, kept = order[:n_validation], order[n_validation:]
                options["validation_data"] = (X[held], Y[held])
                options["early_stopping"] = EarlyStopping(patience=self.n_iter_no_change)
                X, Y = X[kept], Y[kept]
        if batch is not None and batch >= X.shape[0]:
            batch = None  # a batch as large as the data is the full batch, in order
        history = net.fit(X, Y, epochs=epochs, learning_rate=self.learning_rate,
                          optimizer=self.optimizer, batch_size=batch, schedule=self.schedule,
                          l2=self.l2, progress=bool(self.verbose), **options)
        self.history_ = history
        self.loss_curve_ = list(self.loss_curve_) + list(history["loss"])
        if "val_loss" in history:
            self.validation_scores_ = [-v for v in history["val_loss"]]
            self.best_validation_score_ = max(self.validation_scores_)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else float("nan")
        self.n_iter_ = history.epochs
        self.t_ += history.updates
        self.coefs_ = [w.copy() for w in net.weights]
        self.intercepts_ = [b.copy() for b in net.biases]
        self.n_layers_ = len(net.sizes)
        self.n_outputs_ = net.n_outputs
        self.out_activation_ = net.activations[-1]
        if not incremental and history.epochs == epochs and "maximum" in history.stopped_reason:
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


class GDClassifier(ClassifierMixin, _GDBase):
    """A fully-connected classifier trained by chainrule's gradient descent.

    Binary and multi-class targets use a softmax output with categorical cross-entropy;
    multi-label targets (a 0/1 indicator matrix) use sigmoid outputs with binary cross-entropy.
    """

    def fit(self, X, y):
        epochs = self._check_epochs()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        Y = self._encode(y, reset=True)
        self._train(X, Y, epochs, incremental=False)
        return self

    def partial_fit(self, X, y, classes=None):
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
        self._train(X, Y, 1, incremental=True)
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
        self._output_activation = "sigmoid" if multilabel else "softmax"
        self._loss = "binary_cross_entropy" if multilabel else "categorical_cross_entropy"
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


class GDRegressor(RegressorMixin, _GDBase):
    """A fully-connected regressor (identity output, mean squared error).

    Like scikit-learn's ``MLPRegressor`` it trains on the targets as given: an estimator does
    not rescale ``y`` behind the user's back (``predict`` would then have to undo it, and
    ``score`` compare in other units). For targets far from unit scale, wrap it as scikit-learn
    does: ``TransformedTargetRegressor(GDRegressor(), transformer=StandardScaler())``. The
    command line, which owns its whole pipeline, does standardise regression targets (and undoes
    it in ``predict``)."""

    def fit(self, X, y):
        epochs = self._check_epochs()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True)
        self._train(X, self._targets(y, X.dtype), epochs, incremental=False)
        return self

    def partial_fit(self, X, y):
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, reset=first)
        self._train(X, self._targets(y, X.dtype), 1, incremental=True)
        return self

    def _targets(self, y, dtype) -> np.ndarray:
        y = np.asarray(y, dtype=dtype)
        self._ravel = y.ndim == 1
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def predict(self, X) -> np.ndarray:
        predicted = self._predict_raw(X)
        return predicted.ravel() if self._ravel else predicted
