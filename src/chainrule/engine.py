"""The fast engine: a network's layers of weights, the forward pass and the backward pass.

Notation, per layer ``l`` (0 = the first layer after the inputs, ``L`` = the output layer)::

    sop[l]    = input[l] @ weights[l] + biases[l]       (sum of products, shape (n, n_out))
    output[l] = activation[l](sop[l])           (input[l + 1] = output[l]; predicted = output[L])

The backward pass is the chain rule in matrix form for the whole batch. With
``delta[l] = dError/dSop[l]``::

    delta[L]           = the loss's output delta: dError/dPredicted * dPredicted/dSop[L], or
                         (predicted - target) / n when the loss combines with the activation
    dError/dWeights[l] = input[l].T @ delta[l]                 (dSop/dWeight is the layer's input)
    dError/dBiases[l]  = sum of delta[l] over the samples
    delta[l - 1]       = (delta[l] @ weights[l].T) * activation'[l - 1](sop[l - 1])

``delta[l] @ weights[l].T`` sums, for each neuron of layer ``l - 1``, the contributions of every
neuron it feeds: the sum over all paths to the outputs, computed in one matrix product.

This module computes that without allocating: every array lives in a :class:`Workspace`
allocated once per batch size, and the parameters and their gradients are views of one flat
buffer each. :mod:`chainrule.reference` computes the same in plain NumPy on one screen, and
``tests/test_reference.py`` proves the two equal.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from . import arrays
from ._validation import as_matrix, check_same_rows
from .activations import Activation, LeakyReLU, get_activation
from .initializers import initial_parameters
from .losses import Loss, get_loss

__all__ = ["Engine", "Workspace"]

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


class ParameterList(list):
    """The per-layer weights (or biases) of a network.

    A plain list whose items can be read, changed in place (``net.weights[0][1, 2] = 0.5``) or
    replaced (``net.weights[0] = array``); a replacement is checked for its shape and dtype and
    copied into the network's own array, so the network never runs with a malformed layer and
    the parameters stay views of one contiguous buffer (see :meth:`Engine.flat_parameters`).
    """

    def __init__(self, arrays: list, shapes: list, dtype: np.dtype, kind: str):
        super().__init__(arrays)
        self._shapes = shapes
        self._dtype = dtype
        self._kind = kind

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            raise TypeError(f"assign {self._kind} one layer at a time")
        layer = range(len(self))[index]
        shape = self._shapes[layer]
        if shape is None:
            if value is not None:
                raise ValueError(f"layer {layer} has no bias; it cannot be set")
            return
        array = np.asarray(value, dtype=self._dtype)
        if array.shape != shape:
            raise ValueError(
                f"{self._kind}[{layer}] must have shape {shape}, got {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"{self._kind}[{layer}] holds non-finite values")
        self[layer][...] = array  # copied into the network's own (flat-buffer) array

    def __reduce__(self):
        return (list, (list(self),))


class Workspace:
    """The arrays of one batch size's forward and backward pass, allocated once and reused.

    After :meth:`Engine.forward`, for each layer ``l``:

    * ``sops[l]``: the sum of products of the batch;
    * ``outputs[l]``: the layer's output (for identity, the very array ``sops[l]``);

    after :meth:`Engine.output_delta` and :meth:`Engine.backward`:

    * ``deltas[l]``: ``dError/dSop[l]``;
    * ``output_grads[l]``: ``dError/dOutput[l]`` (at the output layer, ``dError/dPredicted``,
      which is not computed when the loss combines with the output activation). For an identity
      layer ``dError/dSop = dError/dOutput``: both names are then one array.

    ``output_buffers`` and ``scratch`` are where activations write; ``output_by_product`` is
    what the loss kept from the output layer's forward pass (softmax's log-sum-exp).
    """

    def __init__(self, layer_sizes: Sequence[int], functions: Sequence[Activation],
                 n_samples: int, dtype: np.dtype, xp: ModuleType):
        def buffers():
            return [xp.empty((n_samples, size), dtype=dtype) for size in layer_sizes]

        self.n_samples = n_samples
        self.sops = buffers()
        self.output_buffers = buffers()
        self.output_grads = buffers()
        self.deltas = [grad if function.name == "identity" else xp.empty_like(grad)
                       for grad, function in zip(self.output_grads, functions)]
        self.scratch = buffers()
        #: A row of ones: ``ones @ delta`` sums a delta over the samples (the bias gradient)
        #: as one matrix-vector product, several times faster than a reduction along axis 0.
        self.ones = xp.ones(n_samples, dtype=dtype)
        self.outputs: list[np.ndarray] = list(self.output_buffers)
        self.output_by_product: np.ndarray | None = None


class Engine:
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
        Whether layers have a bias, one value or one per layer.
    loss:
        ``squared_error`` (the tutorial's), ``mse``, ``binary_cross_entropy`` or
        ``categorical_cross_entropy``.
    init:
        ``uniform`` (the tutorial's ``numpy.random.rand``), ``xavier`` or ``he``.
    seed:
        Seed (or ``numpy.random.Generator``) for the initial weights and the shuffling.
    dtype:
        ``float64`` (default) or ``float32``, kept through the whole computation.
    """

    #: The array module every array operation of this engine goes through (see
    #: :mod:`chainrule.arrays`); its activations, loss and optimizers are bound to the same.
    xp: ModuleType = arrays.DEFAULT

    #: Batches with more rows than this go through the network in slices of this many rows,
    #: whose gradient sums are added up (see :data:`chainrule.arrays.ROWS_PER_SLICE`).
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
        flags = _per_layer(bias, n_layers, "bias")
        if not all(isinstance(b, (bool, np.bool_)) for b in flags):
            raise ValueError(f"bias must be True or False (or one per layer), got {bias!r}")
        self.bias = [bool(b) for b in flags]
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
        self._bind_parameters(weights, [b if on else None for b, on in zip(biases, self.bias)])

    def _bind_parameters(self, weights: list, biases: list) -> None:
        """Lay the parameters (and their gradients) out as views of one flat buffer each.

        Order: weights[0], biases[0], weights[1], ... An optimizer then updates every
        parameter of the network with a handful of array calls on the flat buffer, however
        many layers there are.
        """
        xp = self.xp
        arrays_in_order = [a for pair in zip(weights, biases) for a in pair if a is not None]
        size = sum(a.size for a in arrays_in_order)
        self._flat_parameters = xp.empty(size, dtype=self.dtype)
        self._flat_gradients = xp.zeros_like(self._flat_parameters)
        self._slice_sums: np.ndarray | None = None  # allocated when a batch is sliced
        self._scratch: np.ndarray | None = None  # see parameter_scratch

        def views_of(flat):
            views, offset = [], 0
            for array in arrays_in_order:
                views.append(flat[offset:offset + array.size].reshape(array.shape))
                offset += array.size
            return iter(views)

        parameter_views, gradient_views = views_of(self._flat_parameters), \
            views_of(self._flat_gradients)
        weight_views, bias_views, weight_grads, bias_grads = [], [], [], []
        for weight, bias in zip(weights, biases):
            weight_views.append(next(parameter_views))
            weight_views[-1][...] = weight
            weight_grads.append(next(gradient_views))
            bias_views.append(None if bias is None else next(parameter_views))
            bias_grads.append(None if bias is None else next(gradient_views))
            if bias is not None:
                bias_views[-1][...] = bias
        self.weights = ParameterList(weight_views, [w.shape for w in weights], self.dtype,
                                     "weights")
        self.biases = ParameterList(bias_views, [None if b is None else b.shape for b in biases],
                                    self.dtype, "biases")
        #: ``dError/dWeights[l]`` and ``dError/dBiases[l]`` of the last gradient computed
        #: (views of :meth:`flat_gradients`; ``None`` for a layer without bias).
        self.weight_grads, self.bias_grads = weight_grads, bias_grads
        self._workspaces: dict[int, Workspace] = {}
        #: The workspace of the last forward/backward pass (of its last slice, for batches
        #: larger than :attr:`rows_per_slice`).
        self.last_workspace: Workspace | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["weights"], state["biases"] = list(self.weights), list(self.biases)
        for key in ("_flat_parameters", "_flat_gradients", "_slice_sums", "_scratch",
                    "weight_grads", "bias_grads", "_workspaces", "last_workspace"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights, biases = state.pop("weights"), state.pop("biases")
        self.__dict__.update(state)
        self._bind_parameters(weights, biases)

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
            "bias": list(self.bias),
            "loss": self.loss_name,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], seed: int | np.random.Generator | None = None):
        """A new network (of this class) with the architecture :meth:`spec` described."""
        slopes = spec.get("leaky_relu_slopes") or [None] * len(spec["activations"])
        functions = [LeakyReLU(slope) if name == "leaky_relu" and slope is not None else name
                     for name, slope in zip(spec["activations"], slopes)]
        return cls(spec["sizes"], activation=functions, bias=spec["bias"], loss=spec["loss"],
                   seed=seed, dtype=spec["dtype"])

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

    @property
    def n_parameters(self) -> int:
        return int(self._flat_parameters.size)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sizes={self.sizes}, activations={self.activations}, "
            f"bias={self.bias}, loss={self.loss_name!r}, dtype={self.dtype.name!r})"
        )

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> list[np.ndarray]:
        """The arrays that training updates, in order: weights[0], biases[0], weights[1], ..."""
        params = []
        for weight, bias in zip(self.weights, self.biases):
            params.append(weight)
            if bias is not None:
                params.append(bias)
        return params

    def flat_parameters(self) -> np.ndarray:
        """Every parameter in one contiguous array (weights[0], biases[0], weights[1], ...);
        ``weights`` and ``biases`` are views into it."""
        return self._flat_parameters

    def flat_gradients(self) -> np.ndarray:
        """The gradient buffer aligned with :meth:`flat_parameters`."""
        return self._flat_gradients

    def parameter_scratch(self) -> np.ndarray:
        """A free buffer shaped like :meth:`flat_parameters`, for an optimizer's intermediate
        values within a step (made once, shared by every run of this network)."""
        if self._scratch is None:
            self._scratch = self.xp.empty_like(self._flat_parameters)
        return self._scratch

    def get_state(self) -> list[np.ndarray]:
        """A copy of every parameter (see :meth:`set_state`)."""
        return [p.copy() for p in self.parameters()]

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        """Copy parameters saved by :meth:`get_state` back into the network, in place."""
        for param, saved in zip(self.parameters(), state, strict=True):
            param[...] = saved

    def copy(self, dtype: str | np.dtype | None = None):
        """An independent network with the same architecture, weights, metadata and generator
        state (optionally re-typed)."""
        spec = self.spec()
        if dtype is not None:
            spec["dtype"] = _as_dtype(dtype).name
        clone = type(self).from_spec(spec)
        clone.init, clone.seed = self.init, self.seed
        clone.flat_parameters()[...] = self.flat_parameters()
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

    # ------------------------------------------------------------------ forward and backward
    def workspace(self, n_samples: int) -> Workspace:
        """The buffers for batches of ``n_samples`` rows (made on first use, then reused)."""
        workspace = self._workspaces.get(n_samples)
        if workspace is None:
            workspace = self._new_workspace(n_samples)
            self._workspaces[n_samples] = workspace
        return workspace

    def _new_workspace(self, n_samples: int) -> Workspace:
        return Workspace(self.sizes[1:], self.activation_functions, n_samples, self.dtype,
                         self.xp)

    def forward(self, X: np.ndarray, workspace: Workspace) -> np.ndarray:
        """Fill ``workspace`` with every layer's sop and output; return the predicted output.

        ``X`` must already be checked (:meth:`check_inputs`). Runs allocation-free.
        """
        xp, last = self.xp, self._last
        layer_input = X
        for layer, (function, weight, bias) in enumerate(
            zip(self.activation_functions, self.weights, self.biases)
        ):
            sop, out, scratch = (workspace.sops[layer], workspace.output_buffers[layer],
                                 workspace.scratch[layer])
            if bias is None:
                xp.dot(layer_input, weight, out=sop)
            else:  # the product goes to a free buffer first: adding in place costs more
                xp.add(xp.dot(layer_input, weight, out=out), bias, out=sop)
            if layer == last:
                output, workspace.output_by_product = self.loss_function.forward_output(
                    function, sop, out, scratch)
            else:
                output = function.forward(sop, out, scratch)
            workspace.outputs[layer] = layer_input = output
        return layer_input

    def output_delta(self, Y: np.ndarray, workspace: Workspace) -> tuple[float, np.ndarray]:
        """The error of the last forward pass, and ``delta = dError/dSop`` at the output layer
        (in ``workspace.deltas[-1]``), as the loss defines it (see :mod:`chainrule.losses`)."""
        last = self._last
        error = self.loss_function.output_delta(
            self.activation_functions[last], workspace.outputs[last], Y, workspace.sops[last],
            workspace.output_by_product, workspace.output_grads[last], workspace.deltas[last],
            workspace.scratch[last])
        return error, workspace.deltas[last]

    def backward(self, X: np.ndarray, workspace: Workspace) -> None:
        """Propagate ``delta`` of the output layer (set by :meth:`output_delta`) back to the
        first layer, filling every ``deltas[l]`` and writing every ``dError/dWeights`` and
        ``dError/dBiases`` into the gradient buffers. No gradient is computed for the network's
        inputs (nothing would use it)."""
        xp = self.xp
        weight_grads, bias_grads, outputs = self.weight_grads, self.bias_grads, workspace.outputs
        delta = workspace.deltas[self._last]
        for layer in range(self._last, -1, -1):
            layer_input = X if layer == 0 else outputs[layer - 1]
            xp.dot(layer_input.T, delta, out=weight_grads[layer])
            if bias_grads[layer] is not None:
                xp.dot(workspace.ones, delta, out=bias_grads[layer])
            if layer:
                below = layer - 1
                output_grad = xp.dot(delta, self.weights[layer].T,
                                     out=workspace.output_grads[below])
                delta = self.activation_functions[below].backward(
                    output_grad, workspace.sops[below], outputs[below],
                    workspace.deltas[below], workspace.scratch[below],
                )

    def compute_gradients(
        self, X: np.ndarray, Y: np.ndarray,
        observe: Callable[[np.ndarray, np.ndarray, int], None] | None = None,
    ) -> float:
        """Forward, error, backward on checked data; the gradients land in
        :meth:`flat_gradients` (``weight_grads``, ``bias_grads``).

        Returns the error (the loss) before any update. This is the training step's core.
        ``observe(predicted, targets, first_row)``, if given, sees the predictions.
        """
        n_samples = X.shape[0]
        if n_samples > self.rows_per_slice:
            return self._compute_gradients_in_slices(X, Y, observe)
        workspace = self._workspaces.get(n_samples) or self.workspace(n_samples)
        self.forward(X, workspace)
        error = self.output_delta(Y, workspace)[0]
        self.backward(X, workspace)
        self.last_workspace = workspace
        if observe is not None:
            observe(workspace.outputs[-1], Y, 0)
        return error

    def _compute_gradients_in_slices(self, X: np.ndarray, Y: np.ndarray, observe: Any) -> float:
        """The batch's mean error and gradient as the row-weighted sum over slices of it."""
        xp = self.xp
        n_samples, size = X.shape[0], self.rows_per_slice
        if self._slice_sums is None:
            self._slice_sums = xp.empty_like(self._flat_gradients)
        total = self._slice_sums
        total.fill(0.0)
        error = 0.0
        for start in range(0, n_samples, size):
            stop = min(start + size, n_samples)
            rows = stop - start
            error += self.compute_gradients(X[start:stop], Y[start:stop]) * rows
            if observe is not None:
                observe(self.last_workspace.outputs[-1], Y[start:stop], start)
            # total += gradient * rows, the product taken in the gradient's own buffer
            xp.multiply(self._flat_gradients, rows, out=self._flat_gradients)
            xp.add(total, self._flat_gradients, out=total)
        xp.divide(total, n_samples, out=self._flat_gradients)
        return error / n_samples

    # ------------------------------------------------------------------ public API
    def evaluate(self, X: np.ndarray, Y: np.ndarray | None) -> tuple[float, np.ndarray]:
        """``(loss, predicted)`` on checked data, a slice of rows at a time (see
        :attr:`rows_per_slice`), with buffers of its own: training's are left alone."""
        xp = self.xp
        n_samples = X.shape[0]
        predicted = xp.empty((n_samples, self.n_outputs), dtype=self.dtype)
        combined = self.loss_function.combines_with(self.activation_functions[-1])
        workspace = None
        error = 0.0
        with np.errstate(over="ignore"):
            for start in range(0, n_samples, self.rows_per_slice):
                stop = min(start + self.rows_per_slice, n_samples)
                if workspace is None or stop - start != workspace.n_samples:
                    workspace = self._new_workspace(stop - start)
                output = self.forward(X[start:stop], workspace)
                predicted[start:stop] = output
                if Y is not None:
                    sop = workspace.sops[-1] if combined else None
                    error += self.loss_function.value(output, Y[start:stop], sop,
                                                      workspace.scratch[-1]) * (stop - start)
        return error / n_samples, predicted

    def predict(self, X: Any) -> np.ndarray:
        """The predicted outputs, shaped ``(n_samples, n_outputs)``."""
        return self.evaluate(self.check_inputs(X), None)[1]

    def loss(self, X: Any, Y: Any) -> float:
        """The error on ``(X, Y)``: summed over outputs, averaged over samples (see losses)."""
        return self.evaluate(*self.check_data(X, Y))[0]

    def gradients(self, X: Any, Y: Any) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """``(weight_grads, bias_grads)`` of the loss on ``(X, Y)``, aligned with
        ``weights`` and ``biases`` (``None`` for a layer without bias). New arrays."""
        inputs, targets = self.check_data(X, Y)
        with np.errstate(over="ignore"):
            self.compute_gradients(inputs, targets)
        return (
            [g.copy() for g in self.weight_grads],
            [None if g is None else g.copy() for g in self.bias_grads],
        )
