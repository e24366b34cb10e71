"""The :class:`Engine`: a network's architecture, and the rest assembled from its parts
(:mod:`.parameters`, :mod:`.passes`, :mod:`.layer_passes` for dropout and normalisation)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .. import arrays
from .._validation import as_matrix, check_same_rows
from ..activations import Activation, LeakyReLU, get_activation
from ..initializers import initial_parameters
from ..losses import Loss, get_loss
from .dropout import check_dropout
from .layer_passes import LayerPasses
from .normalization import check_normalization
from .parameters import FlatParameters
from .passes import Passes

__all__ = ["Engine"]

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def _as_dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in _DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return resolved


def _per_layer(value: Any, n_layers: int, name: str) -> list:
    """One value for every layer, or a list that already has one per layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_layers:
            raise ValueError(
                f"{name} has {len(value)} entries but the network has {n_layers} layers"
            )
        return list(value)
    return [value] * n_layers


class Engine(FlatParameters, Passes, LayerPasses):
    """A fully-connected feed-forward network: its architecture, parameters and backprop.

    Parameters
    ----------
    sizes:
        ``[n_inputs, hidden..., n_outputs]``; ``[1, 1]`` is the tutorial's one input and one
        output with no hidden layer.
    activation:
        The activation of every layer, or a list with one per layer: ``sigmoid``, ``tanh``,
        ``relu``, ``leaky_relu``, ``identity`` (``linear``), ``softmax`` (output layer only).
    output_activation:
        The output layer's activation; ``None`` keeps what ``activation`` gives it.
    bias:
        Whether layers have a bias, one value or one per layer (kept as :attr:`has_bias`).
    loss:
        ``squared_error`` (the tutorial's), ``mse``, ``binary_cross_entropy`` or
        ``categorical_cross_entropy``.
    init:
        ``uniform`` (the tutorial's ``numpy.random.rand``), ``xavier`` or ``he``.
    seed:
        Seed (or ``numpy.random.Generator``) for the initial weights and the shuffling.
    dtype:
        ``float64`` (default) or ``float32``, kept through the whole computation.
    has_bias:
        ``bias`` under the name of the attribute; give one of the two.
    dropout:
        Inverted dropout after the activation of every hidden layer (one probability in
        ``[0, 1)``), or a list with one per hidden layer (0 or ``None``: none); training only
        (:mod:`chainrule.engine.dropout`). Never on the output layer.
    normalization:
        ``"batch"`` or ``"layer"`` normalisation of every hidden layer's sop before its
        activation, or a list with one per hidden layer (``None``: none), with a learnable
        ``gamma`` and ``beta`` per neuron (:mod:`chainrule.engine.normalization`). Never on the
        output layer. ``l2`` does not penalise ``gamma`` and ``beta`` (as it spares biases).

    Attributes
    ----------
    has_bias:
        One boolean per layer: whether it has a bias (the arrays are :attr:`biases`, ``None``
        for a layer without). ``bias`` is its old name, still read.
    dropout, normalization:
        One entry per layer (the output layer's 0.0 and ``None``); :attr:`gammas`,
        :attr:`betas`, :attr:`running_means` and :attr:`running_vars` hold one array per
        normalised layer (the running ones: batch normalisation's), ``None`` elsewhere.
    """

    #: The array module every array operation of this engine goes through (see
    #: :mod:`chainrule.arrays`); its activations, loss and optimizers are bound to the same.
    xp: ModuleType = arrays.DEFAULT

    #: Batches with more rows than this go through the network in slices of this many rows,
    #: whose gradient sums are added up (see :data:`chainrule.arrays.ROWS_PER_SLICE`). Batch
    #: normalisation couples a batch's rows (:attr:`couples_rows`): a training batch then goes
    #: through whole, so that its statistics are the batch's (evaluation still slices).
    rows_per_slice: int = arrays.ROWS_PER_SLICE

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation | Sequence[str | Activation] = "sigmoid",
        output_activation: str | Activation | None = None,
        bias: bool | Sequence[bool] = True,
        loss: str | Loss = "squared_error",
        init: str = "xavier",
        seed: int | np.random.Generator | None = None,
        dtype: str | np.dtype | type = "float64",
        *,
        has_bias: bool | Sequence[bool] | None = None,
        dropout: float | Sequence[float | None] = 0.0,
        normalization: str | None | Sequence[str | None] = None,
    ) -> None:
        self.sizes = self._check_sizes(sizes)
        n_layers = len(self.sizes) - 1
        self._last = n_layers - 1  # the output layer's index, used on every step
        functions = [get_activation(a) for a in _per_layer(activation, n_layers, "activation")]
        if output_activation is not None:
            functions[-1] = get_activation(output_activation)
        for layer, function in enumerate(functions[:-1]):
            if function.couples_neurons:
                raise ValueError(
                    f"{function.name} can only be the output layer's activation, "
                    f"not layer {layer}'s (a hidden layer)"
                )
        if functions[-1].couples_neurons and self.sizes[-1] < 2:
            raise ValueError(
                f"{functions[-1].name} on a single output always predicts 1; "
                "use sigmoid for one output"
            )
        self.activation_functions: list[Activation] = [f.on(self.xp) for f in functions]
        if has_bias is not None:
            if bias is not True:
                raise ValueError("give has_bias or bias (its old name), not both")
            bias = has_bias
        flags = _per_layer(bias, n_layers, "bias")
        if not all(isinstance(b, (bool, np.bool_)) for b in flags):
            raise ValueError(f"bias must be True or False (or one per layer), got {bias!r}")
        self.has_bias: list[bool] = [bool(b) for b in flags]
        self.loss_function: Loss = get_loss(loss).on(self.xp)
        allowed = self.loss_function.allowed_activations
        if allowed is not None and functions[-1].name not in allowed:
            raise ValueError(
                f"loss {self.loss_function.name} needs an output activation in {allowed}, "
                f"got {functions[-1].name}"
            )
        self.init = init
        #: Free-form, JSON-able facts saved with the model (data scaling, class labels, ...).
        self.metadata: dict[str, Any] = {}
        self.dtype = _as_dtype(dtype)
        n_parameters = sum((a + 1) * b for a, b in zip(self.sizes, self.sizes[1:]))
        # The parameters, their gradients, the optimizer's scratch, and float64 draws at init.
        arrays.require_memory(n_parameters * (3 * self.dtype.itemsize + 8),
                              f"a network of sizes {self.sizes} ({n_parameters:,} parameters)")
        if not (seed is None or isinstance(seed, np.random.Generator) or (
                isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0)):
            raise ValueError(f"seed must be an integer >= 0, None or a numpy Generator, "
                             f"got {seed!r}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        weights, biases = initial_parameters(init, self.sizes, self.rng, self.dtype)
        self._set_layers(dropout, normalization)
        gammas = [None if kind is None else np.ones(n, dtype=self.dtype)
                  for kind, n in zip(self.normalization, self.sizes[1:])]
        self._bind_parameters(weights, [b if on else None for b, on in zip(biases, self.has_bias)],
                              gammas, [None if g is None else g * 0.0 for g in gammas])

    def _set_layers(self, dropout: Any, normalization: Any) -> None:
        """Check and keep ``dropout`` and ``normalization`` (one entry per layer, the output
        layer's none) and make the running statistics (mean 0, variance 1)."""
        n_hidden = self.n_layers - 1
        self.dropout: list[float] = [*check_dropout(dropout, n_hidden), 0.0]
        self.normalization: list[str | None] = [*check_normalization(normalization, n_hidden),
                                                None]
        batch = [kind == "batch" for kind in self.normalization]
        self.running_means = [self.xp.zeros(n, dtype=self.dtype) if on else None
                              for on, n in zip(batch, self.sizes[1:])]
        self.running_vars = [self.xp.ones(n, dtype=self.dtype) if on else None
                             for on, n in zip(batch, self.sizes[1:])]
        #: Whether any layer has dropout or normalisation: the passes check only this.
        self.has_layers = any(self.dropout) or any(self.normalization)
        #: Whether a training batch's rows depend on each other (batch normalisation).
        self.couples_rows = any(batch)

    # ------------------------------------------------------------------ description
    @staticmethod
    def _check_sizes(sizes: Sequence[int]) -> list[int]:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
            raise ValueError(f"sizes must be a list of layer sizes, got {sizes!r}")
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"sizes needs at least two entries, [n_inputs, ..., n_outputs]; got {sizes}"
            )
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                   and s >= 1 for s in sizes):
            raise ValueError(f"every entry of sizes must be a positive integer, got {sizes}")
        return [int(s) for s in sizes]

    def spec(self) -> dict[str, Any]:
        """The architecture as JSON-able data, the one description that model files, copies
        and Dask workers build a network from (:meth:`from_spec`)."""
        return {
            "sizes": list(self.sizes),
            "activations": self.activations,
            "leaky_relu_slopes": [f.slope if isinstance(f, LeakyReLU) else None
                                  for f in self.activation_functions],
            # "bias", not "has_bias": the key model files (format version 3) and checkpoints
            # store; renaming it would make every saved model unreadable.
            "bias": list(self.has_bias),
            "loss": self.loss_name,
            "dtype": self.dtype.name,
            # Only when used, one entry per hidden layer: a plain network's description (and
            # model file) is what it was before these layers existed.
            **({"dropout": self.dropout[:-1]} if any(self.dropout) else {}),
            **({"normalization": self.normalization[:-1]} if any(self.normalization) else {}),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], seed: int | np.random.Generator | None = None):
        """A new network (of this class) with the architecture :meth:`spec` described."""
        slopes = spec.get("leaky_relu_slopes") or [None] * len(spec["activations"])
        functions = [LeakyReLU(slope) if name == "leaky_relu" and slope is not None else name
                     for name, slope in zip(spec["activations"], slopes)]
        return cls(spec["sizes"], activation=functions, bias=spec["bias"], loss=spec["loss"],
                   seed=seed, dtype=spec["dtype"], dropout=spec.get("dropout", 0.0),
                   normalization=spec.get("normalization"))

    @property
    def bias(self) -> list[bool]:
        """The old name of :attr:`has_bias` (read-only): whether each layer has a bias."""
        return self.has_bias

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "bias" in state:  # pickled before has_bias had its name
            state = {k: v for k, v in state.items() if k != "bias"} | {"has_bias": state["bias"]}
        super().__setstate__(state)
        if "dropout" not in state:  # pickled before dropout and normalisation existed
            self._set_layers(0.0, None)

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def n_layers(self) -> int:
        """The number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def activations(self) -> list[str]:
        """The activation names, one per layer."""
        return [f.name for f in self.activation_functions]

    @property
    def loss_name(self) -> str:
        return self.loss_function.name

    def __repr__(self) -> str:
        layers = "".join(f", {key}={value}" for key, value in self.spec().items()
                         if key in ("dropout", "normalization"))
        return (
            f"{type(self).__name__}(sizes={self.sizes}, activations={self.activations}, "
            f"has_bias={self.has_bias}{layers}, loss={self.loss_name!r}, "
            f"dtype={self.dtype.name!r})"
        )

    def copy(self, dtype: str | np.dtype | None = None):
        """An independent network with the same architecture, weights (normalisation's gamma
        and beta too), running statistics, metadata and generator state (optionally
        re-typed)."""
        spec = self.spec()
        if dtype is not None:
            spec["dtype"] = _as_dtype(dtype).name
        clone = type(self).from_spec(spec)
        clone.init, clone.seed = self.init, self.seed
        clone.flat_parameters()[...] = self.flat_parameters()
        clone.set_running_statistics(self.running_statistics())
        clone.rng.bit_generator.state = self.rng.bit_generator.state
        clone.metadata = dict(self.metadata)
        return clone

    # ------------------------------------------------------------------ input checks
    def check_inputs(self, X: Any, name: str = "X") -> np.ndarray:
        return as_matrix(X, name, self.n_inputs, self.dtype)

    def check_targets(self, Y: Any, name: str = "Y") -> np.ndarray:
        targets = as_matrix(Y, name, self.n_outputs, self.dtype)
        self.loss_function.check_targets(targets, name)
        return targets

    def check_data(self, X: Any, Y: Any, x_name: str = "X", y_name: str = "Y"):
        inputs = self.check_inputs(X, x_name)
        targets = self.check_targets(Y, y_name)
        check_same_rows(inputs, targets, x_name, y_name)
        return inputs, targets
