"""The parameters of :mod:`chainrule.sklearn`'s estimators, documented once and added to each
estimator's docstring (:func:`with_parameters`), as scikit-learn's own estimators list theirs."""

from __future__ import annotations

__all__ = ["with_parameters"]

_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        The width of each hidden layer.
    activation : str, default="relu"
        The hidden layers' activation: ``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``,
        ``identity``, ``elu``, ``selu``, ``gelu``, ``gelu_tanh``, ``softplus`` or ``silu``
        (``swish``); see ``docs/toolbox.md``.
    optimizer : str, default="adam"
        ``gd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adagrad``, ``adam``, ``amsgrad``,
        ``adamw``, ``nadam`` or ``adadelta`` (each with its default settings; ``adadelta``
        wants ``learning_rate=1.0``, PyTorch's).
    learning_rate : float, default=0.001
        The optimizer's step size.
    schedule : str or None, default=None
        A learning-rate schedule (``step``, ``exponential``, ``inverse_time``, ``cosine``,
        ``linear_warmup``, ``plateau``: on the validation loss with ``early_stopping``, else
        the training loss); ``None`` keeps it constant.
    batch_size : int or None, default=200
        Rows per update; ``None``, or a size at least the number of rows, is full batch.
    epochs : int, default=200
        The most passes over the data (scikit-learn's ``max_iter``); reaching it without
        meeting ``tol`` raises a ``ConvergenceWarning``.
    l2 : float, default=0.0001
        Weight decay (scikit-learn's ``alpha``): ``l2 / 2 * sum(weights ** 2)`` is added to
        the loss.
    l1 : float, default=0.0
        ``l1 * sum(|weights|)`` is added to the loss (with ``l2``: the elastic net).
    clip_norm, clip_value : float or None, default=None
        Gradient clipping by global norm and by value (as PyTorch's ``clip_grad_norm_`` and
        ``clip_grad_value_``), after the penalties.
    tol : float, default=1e-4
        The tolerance: an epoch improves when the monitored loss (the training loss, or the
        validation loss with ``early_stopping``) is at least ``tol`` below the best so far.
        Training stops when more than ``n_iter_no_change`` epochs in a row do not improve,
        as in ``MLPClassifier``. ``tol=0`` stops only once the loss has not gone below its
        best for that long; a large ``tol`` stops after ``n_iter_no_change + 2`` epochs (the
        first always improves).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and monitor their loss instead of the
        training loss; the weights of the epoch with the lowest validation loss are kept.
    validation_fraction : float, default=0.1
        The share of rows held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        How many epochs in a row may fail to improve by ``tol``; one more ends training (and
        the patience of ``early_stopping``).
    init : str, default="xavier"
        The weight initialiser: ``xavier`` (Glorot uniform), ``he`` (He normal) or ``uniform``.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    warm_start : bool, default=False
        ``fit`` goes on from the previous fit's weights (and its best loss and count of epochs
        without improvement, as scikit-learn's do) instead of starting afresh.
    verbose : bool, default=False
        Show a progress bar.
    dropout : float or tuple of float, default=0.0
        Inverted dropout after each hidden layer's activation, in training only: one
        probability in [0, 1) for every hidden layer, or one per hidden layer (0: none).
    normalization : str, tuple or None, default=None
        ``"batch"`` or ``"layer"`` normalisation of each hidden layer's sop before its
        activation (learnable scale and shift; batch norm keeps running statistics for
        prediction), or one per hidden layer (``None``: none).

    ``fit`` and ``partial_fit`` take ``sample_weight`` (one weight >= 0 per row) as
    scikit-learn's MLP does since 1.7: each batch's loss is the weighted mean over its rows,
    ``sum_i w_i loss_i / sum_i w_i`` (the batch's own sum of weights). With
    ``early_stopping`` the held-out rows keep their weights: the validation loss is their
    weighted mean, as scikit-learn weighs its validation score (``class_weight`` included).

    Attributes
    ----------
    loss_curve_ : list of float
        The training loss of each epoch (L2 included), over all fits of a warm start.
    loss_ : float
        The last epoch's training loss.
    best_loss_ : float or None
        The lowest training loss; ``None`` with ``early_stopping`` (see
        ``best_validation_score_``), as in scikit-learn.
    validation_scores_ : list of float or None
        With ``early_stopping``, minus the validation loss of each epoch; else ``None``.
    best_validation_score_ : float or None
        With ``early_stopping``, the highest of ``validation_scores_``; else ``None``.
    n_iter_ : int
        The epochs the last call to ``fit`` (or ``partial_fit``: 1) ran.
    t_ : int
        The updates (batches) made, over all fits of a warm start and ``partial_fit`` calls.
    coefs_, intercepts_ : list of ndarray
        The weights and biases of each layer, as in ``MLPClassifier``.
    history_ : chainrule.history.History
        The last call's records; ``history_.stopped_reason`` says why training ended.
"""


def with_parameters(cls):
    """``cls`` with the parameters' documentation appended to its docstring."""
    if cls.__doc__ is not None:  # python -OO drops docstrings
        cls.__doc__ = cls.__doc__.rstrip() + "\n" + _PARAMETERS_DOC
    return cls
