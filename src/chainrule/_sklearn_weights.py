"""Weights per row for the scikit-learn estimators: ``sample_weight`` and ``class_weight``.

scikit-learn's MLP takes ``sample_weight`` since 1.7 (the loss is the weighted mean over a
batch, ``sum_i w_i loss_i / sum_i w_i``); its linear classifiers take ``class_weight``. The
estimators in :mod:`chainrule.sklearn` take both; this module turns them into one weight per row
for training (:class:`chainrule.sources.LocalData` makes the weighted mean); the held-out rows
of early stopping keep theirs (``validation_data``'s third entry), as scikit-learn weighs its
validation score.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .losses import check_sample_weight

__all__ = ["check_partial_class_weight", "checked_weights", "row_weights",
           "with_class_weight"]


def checked_weights(sample_weight: Any, n_samples: int,
                    name: str = "sample_weight") -> np.ndarray | None:
    """One weight >= 0 per row (float64), or ``None``; a ``ValueError`` otherwise."""
    if sample_weight is None:
        return None
    return check_sample_weight(sample_weight, n_samples, np.float64, name)


def row_weights(sample_weight: Any, class_weight: Any, y: np.ndarray, multilabel: bool,
                n_samples: int) -> np.ndarray | None:
    """``sample_weight`` times the weight of each row's class: ``class_weight="balanced"``
    gives class ``c`` the weight ``n_samples / (n_classes * count_c)``, a dict gives the
    labels it names their weight (the others weigh 1). ``None`` when neither is given."""
    weights = checked_weights(sample_weight, n_samples)
    if class_weight is None:
        return weights
    if multilabel:
        raise ValueError("class_weight is for one label per row, not multi-label targets")
    if not (isinstance(class_weight, dict) or class_weight == "balanced"):
        raise ValueError("class_weight must be None, 'balanced' or a dict label -> weight, "
                         f"got {class_weight!r}")
    from sklearn.utils.class_weight import compute_sample_weight

    by_class = checked_weights(compute_sample_weight(class_weight, y), n_samples,
                               "class_weight")
    return by_class if weights is None else weights * by_class


def check_partial_class_weight(class_weight: Any) -> None:
    """``partial_fit`` refuses ``class_weight="balanced"``, as ``SGDClassifier`` does: one
    call's ``y`` is no measure of the classes' frequencies, so each call would weigh them
    differently. A dict is fine."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        raise ValueError("class_weight 'balanced' is not supported for partial_fit: pass "
                         "a dict, e.g. dict(zip(classes, compute_class_weight('balanced', "
                         "classes=classes, y=y))) on enough of the training targets")


def with_class_weight(base: type):
    """A class decorator: the classifier's ``__init__`` is ``base``'s plus ``class_weight``
    (scikit-learn reads the parameters from the signature), whatever parameters ``base``
    gains."""
    signature = inspect.signature(base.__init__)
    extra = inspect.Parameter("class_weight", inspect.Parameter.KEYWORD_ONLY, default=None)

    def decorate(cls):
        def __init__(self, *parameters: Any, class_weight: dict | str | None = None,
                     **named: Any) -> None:
            base.__init__(self, *parameters, **named)
            self.class_weight = class_weight

        __init__.__signature__ = signature.replace(
            parameters=[*signature.parameters.values(), extra])
        __init__.__doc__ = base.__init__.__doc__
        cls.__init__ = __init__
        return cls

    return decorate

