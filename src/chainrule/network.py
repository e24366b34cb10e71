"""The network: layers of weights, the forward pass and the backward pass (the chain rule).

Notation, per layer ``l`` (0 = the first layer after the inputs, ``L`` = the output layer)::

    sop[l]    = input[l] @ weights[l] + biases[l]       (sum of products, shape (n, n_out))
    output[l] = activation[l](sop[l])           (input[l + 1] = output[l]; predicted = output[L])

The backward pass is the chain rule in matrix form for the whole batch. With
``delta[l] = dError/dSop[l]``::

    delta[L]          = dError/dPredicted * dPredicted/dSop[L]   (or (predicted - target) / n for
                                                                 softmax + categorical CE and
                                                                 sigmoid + binary CE)
    dError/dWeights[l] = input[l].T @ delta[l]                   (dSop/dWeight is the layer's input)
    dError/dBiases[l]  = sum of delta[l] over the samples
    delta[l - 1]      = (delta[l] @ weights[l].T) * activation'[l - 1](sop[l - 1])

``delta[l] @ weights[l].T`` sums, for each neuron of layer ``l - 1``, the contributions of every
neuron it feeds: the sum over all paths to the outputs, computed in one matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import as_matrix, check_same_rows
from .activations import Activation, get_activation
from .initializers import initial_parameters
from .losses import Loss, SquaredError, get_loss

__all__ = ["Network"]

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
    the parameters stay views of one contiguous buffer (see :meth:`Network.flat_parameters`).
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


class _Workspace:
    """Buffers for one batch size, allocated once and reused by every step of that size."""

    def __init__(self, layer_sizes: Sequence[int], n_samples: int, dtype: np.dtype):
        def buffers():
            return [np.empty((n_samples, size), dtype=dtype) for size in layer_sizes]

        self.sops = buffers()
        self.outputs = buffers()  # where each activation may write its output
        self.output_grads = buffers()  # dError/dOutput per layer
        self.deltas = buffers()  # dError/dSop per layer
        self.scratch = buffers()  # second buffers, so that no NumPy call works in place
        self.layer_outputs: list[np.ndarray] = [None] * len(layer_sizes)  # what forward produced
        self.log_sum_exp: np.ndarray | None = None  # softmax output layers: log(sum(exp(sop)))
        self.last_scratch_flat = self.scratch[-1].reshape(-1)


class Network:
    """A fully-connected feed-forward network trained by gradient descent.

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
        self.activation_functions: list[Activation] = functions
        self.bias = [bool(b) for b in _per_layer(bias, n_layers, "bias")]
        self.loss_function: Loss = get_loss(loss)
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
        self.seed = seed
        self.rng = np.random.default_rng(seed)

        weights, biases = initial_parameters(init, self.sizes, self.rng, self.dtype)
        self._bind_parameters(weights, [b if on else None for b, on in zip(biases, self.bias)])
        output = functions[-1].name
        self._combined_output = self.loss_function.combined_activation == output
        self._squared = isinstance(self.loss_function, SquaredError)
        self._softmax_cross_entropy = self._combined_output and output == "softmax"

    def _bind_parameters(self, weights: list, biases: list) -> None:
        """Lay the parameters (and their gradients) out as views of one flat buffer each.

        Order: weights[0], biases[0], weights[1], ... An optimizer then updates every
        parameter of the network with a handful of NumPy calls on the flat buffer, however
        many layers there are.
        """
        arrays = [a for pair in zip(weights, biases) for a in pair if a is not None]
        self._flat_parameters = np.empty(sum(a.size for a in arrays), dtype=self.dtype)
        self._flat_gradients = np.zeros_like(self._flat_parameters)
        # Free between steps: the optimizers' scratch space, reused by every fit.
        self._flat_scratch = np.zeros_like(self._flat_parameters)
        views, grad_views, offset = [], [], 0
        for array in arrays:
            view = self._flat_parameters[offset:offset + array.size].reshape(array.shape)
            view[...] = array
            views.append(view)
            grad_views.append(self._flat_gradients[offset:offset + array.size].reshape(
                array.shape))
            offset += array.size
        views.reverse()
        grad_views.reverse()
        weight_views, bias_views, weight_grads, bias_grads = [], [], [], []
        for bias in biases:
            weight_views.append(views.pop())
            weight_grads.append(grad_views.pop())
            bias_views.append(None if bias is None else views.pop())
            bias_grads.append(None if bias is None else grad_views.pop())
        self.weights = ParameterList(weight_views, [w.shape for w in weights], self.dtype,
                                     "weights")
        self.biases = ParameterList(bias_views, [None if b is None else b.shape for b in biases],
                                    self.dtype, "biases")
        self._weight_grads, self._bias_grads = weight_grads, bias_grads
        self._workspaces: dict[int, _Workspace] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["weights"], state["biases"] = list(self.weights), list(self.biases)
        for key in ("_flat_parameters", "_flat_gradients", "_flat_scratch", "_weight_grads",
                    "_bias_grads", "_workspaces", "_flat_total"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights, biases = state.pop("weights"), state.pop("biases")
        self.__dict__.update(state)
        self._bind_parameters(weights, biases)

    # ------------------------------------------------------------------ description
    @staticmethod
    def _check_sizes(sizes: Sequence[int]) -> list[int]:
        try:
            checked = [int(s) for s in sizes]
        except (TypeError, ValueError):
            raise ValueError(f"sizes must be a list of layer sizes, got {sizes!r}") from None
        if len(checked) < 2:
            raise ValueError(
                f"sizes needs at least two entries, [n_inputs, ..., n_outputs]; got {list(sizes)}"
            )
        if any(s < 1 or s != raw for s, raw in zip(checked, sizes)):
            raise ValueError(f"every entry of sizes must be a positive integer, got {list(sizes)}")
        return checked

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
        return sum(w.size for w in self.weights) + sum(b.size for b in self.biases if b is not None)

    def __repr__(self) -> str:
        return (
            f"Network(sizes={self.sizes}, activations={self.activations}, bias={self.bias}, "
            f"loss={self.loss_name!r}, dtype={self.dtype.name!r})"
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

    def gradient_buffers(self) -> list[np.ndarray]:
        """The arrays the backward pass writes gradients into, aligned with :meth:`parameters`."""
        grads = []
        for weight_grad, bias_grad in zip(self._weight_grads, self._bias_grads):
            grads.append(weight_grad)
            if bias_grad is not None:
                grads.append(bias_grad)
        return grads

    def flat_parameters(self) -> np.ndarray:
        """Every parameter in one contiguous array (weights[0], biases[0], weights[1], ...);
        ``weights`` and ``biases`` are views into it."""
        return self._flat_parameters

    def flat_gradients(self) -> np.ndarray:
        """The gradient buffer aligned with :meth:`flat_parameters`."""
        return self._flat_gradients

    def get_state(self) -> list[np.ndarray]:
        """A copy of every parameter (see :meth:`set_state`)."""
        return [p.copy() for p in self.parameters()]

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        """Copy parameters saved by :meth:`get_state` back into the network, in place."""
        for param, saved in zip(self.parameters(), state, strict=True):
            param[...] = saved

    def copy(self, dtype: str | np.dtype | None = None) -> Network:
        """An independent network with the same architecture and weights (optionally re-typed)."""
        clone = Network(
            self.sizes, list(self.activation_functions), None, self.bias, self.loss_function,
            self.init, None, self.dtype if dtype is None else dtype,
        )
        clone.seed = self.seed
        for layer in range(self.n_layers):
            clone.weights[layer] = self.weights[layer]
            if self.bias[layer]:
                clone.biases[layer] = self.biases[layer]
        clone.rng.bit_generator.state = self.rng.bit_generator.state
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
    def workspace(self, n_samples: int) -> _Workspace:
        """The buffers for batches of ``n_samples`` rows (made on first use, then reused)."""
        workspace = self._workspaces.get(n_samples)
        if workspace is None:
            workspace = _Workspace(self.sizes[1:], n_samples, self.dtype)
            self._workspaces[n_samples] = workspace
        return workspace

    def forward(self, X: np.ndarray, workspace: _Workspace) -> np.ndarray:
        """Fill ``workspace`` with every layer's sop and output; return the predicted output.

        ``X`` must already be checked (:meth:`check_inputs`). Runs allocation-free.
        """
        layer_input = X
        outputs, sops, buffers, scratch = (workspace.layer_outputs, workspace.sops,
                                           workspace.outputs, workspace.scratch)
        last = self._last
        for layer, (function, weight, bias) in enumerate(
            zip(self.activation_functions, self.weights, self.biases)
        ):
            if bias is None:
                sop = np.dot(layer_input, weight, out=sops[layer])
            else:  # the product goes to a free buffer first: adding in place costs more
                sop = np.add(np.dot(layer_input, weight, out=buffers[layer]), bias,
                             out=sops[layer])
            if layer == last and self._softmax_cross_entropy:
                workspace.log_sum_exp = function.forward_log_sum_exp(
                    sop, buffers[layer], scratch[layer])
                layer_input = outputs[layer] = buffers[layer]
            else:
                layer_input = outputs[layer] = function.forward(sop, buffers[layer],
                                                                scratch[layer])
        return layer_input

    def output_delta(self, Y: np.ndarray, workspace: _Workspace) -> tuple[float, np.ndarray]:
        """The error of the last forward pass and ``dError/dSop`` at the output layer.

        ``delta = dError/dPredicted * dPredicted/dSop``, or directly ``(predicted - target) / n``
        when the loss and the output activation combine (softmax + categorical cross-entropy,
        sigmoid + binary cross-entropy).
        """
        last = self._last
        predicted = workspace.layer_outputs[last]
        sop = workspace.sops[last]
        delta = workspace.deltas[last]
        loss = self.loss_function
        difference = workspace.scratch[last]
        if self._softmax_cross_entropy:
            error = loss.value_from_log_sum_exp(workspace.log_sum_exp, Y, sop)
            np.subtract(predicted, Y, out=difference)
            return error, np.multiply(difference, 1.0 / predicted.shape[0], out=delta)
        if self._combined_output:
            error = loss.value(predicted, Y, sop, workspace.output_grads[last])
            np.subtract(predicted, Y, out=difference)
            return error, np.multiply(difference, 1.0 / predicted.shape[0], out=delta)
        output_grad = workspace.output_grads[last]
        if self._squared:
            error = loss.value_and_predicted_deriv(
                predicted, Y, output_grad, workspace.last_scratch_flat, workspace.scratch[last]
            )
        else:
            error = loss.value(predicted, Y, None)
            loss.predicted_deriv(predicted, Y, out=output_grad)
        function = self.activation_functions[last]
        return error, function.backward(output_grad, sop, predicted, delta,
                                        workspace.scratch[last])

    def backward(self, X: np.ndarray, delta: np.ndarray, workspace: _Workspace) -> None:
        """Propagate ``delta = dError/dSop`` of the output layer back to the first layer.

        Writes every ``dError/dWeights`` and ``dError/dBiases`` into the gradient buffers. No
        gradient is computed for the network's inputs (nothing would use it).
        """
        weight_grads, bias_grads = self._weight_grads, self._bias_grads
        outputs = workspace.layer_outputs
        for layer in range(self._last, -1, -1):
            layer_input = X if layer == 0 else outputs[layer - 1]
            np.dot(layer_input.T, delta, out=weight_grads[layer])
            if bias_grads[layer] is not None:
                np.add.reduce(delta, axis=0, out=bias_grads[layer])
            if layer:
                below = layer - 1
                output_grad = np.dot(delta, self.weights[layer].T,
                                     out=workspace.output_grads[below])
                delta = self.activation_functions[below].backward(
                    output_grad, workspace.sops[below], outputs[below],
                    workspace.deltas[below], workspace.scratch[below],
                )

    #: Batches with more rows than this go through the network in slices of this many rows,
    #: whose gradient sums are added up: the work space stays a few MB for any batch size, and
    #: the arrays stay in cache (a full batch of a million rows runs faster this way).
    rows_per_slice = 16384

    def compute_gradients(
        self, X: np.ndarray, Y: np.ndarray, observe: Any = None
    ) -> float:
        """Forward, error, backward on checked data; gradients land in :meth:`gradient_buffers`.

        Returns the error (the loss) before any update. This is the training step's core.
        ``observe(predicted, targets, first_row)``, if given, sees the predictions.
        """
        n_samples = X.shape[0]
        if n_samples > self.rows_per_slice:
            return self._compute_gradients_in_slices(X, Y, observe)
        workspace = self._workspaces.get(n_samples) or self.workspace(n_samples)
        self.forward(X, workspace)
        error, delta = self.output_delta(Y, workspace)
        self.backward(X, delta, workspace)
        if observe is not None:
            observe(workspace.layer_outputs[-1], Y, 0)
        return error

    def _compute_gradients_in_slices(self, X: np.ndarray, Y: np.ndarray, observe: Any) -> float:
        """The batch's mean error and gradient as the row-weighted sum over slices of it."""
        n_samples, size = X.shape[0], self.rows_per_slice
        total = getattr(self, "_flat_total", None)
        if total is None:
            total = self._flat_total = np.empty_like(self._flat_gradients)
        total.fill(0.0)
        error = 0.0
        for start in range(0, n_samples, size):
            stop = min(start + size, n_samples)
            rows = stop - start
            error += self.compute_gradients(X[start:stop], Y[start:stop]) * rows
            if observe is not None:
                observe(self._workspaces[rows].layer_outputs[-1], Y[start:stop], start)
            np.multiply(self._flat_gradients, rows, out=self._flat_scratch)
            np.add(total, self._flat_scratch, out=total)
        np.divide(total, n_samples, out=self._flat_gradients)
        return error / n_samples

    # ------------------------------------------------------------------ public API
    def evaluate(self, X: np.ndarray, Y: np.ndarray | None) -> tuple[float, np.ndarray]:
        """``(loss, predicted)`` on checked data, a slice of rows at a time (see
        :attr:`rows_per_slice`), with buffers of its own: training's are left alone."""
        n_samples = X.shape[0]
        predicted = np.empty((n_samples, self.n_outputs), dtype=self.dtype)
        workspace = None
        error = 0.0
        with np.errstate(over="ignore"):
            for start in range(0, n_samples, self.rows_per_slice):
                stop = min(start + self.rows_per_slice, n_samples)
                if workspace is None or stop - start != workspace.sops[0].shape[0]:
                    workspace = _Workspace(self.sizes[1:], stop - start, self.dtype)
                output = self.forward(X[start:stop], workspace)
                predicted[start:stop] = output
                if Y is not None:
                    sop = workspace.sops[-1] if self._combined_output else None
                    error += self.loss_function.value(output, Y[start:stop], sop) * (stop - start)
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
            [g.copy() for g in self._weight_grads],
            [None if g is None else g.copy() for g in self._bias_grads],
        )

    def fit(self, X: Any, Y: Any, **kwargs: Any):
        """Train by gradient descent; see :func:`chainrule.training.fit` for the keywords."""
        from .training import fit

        return fit(self, X, Y, **kwargs)

    def explain(self, X: Any, Y: Any, layer: int, weight: Any = None, **kwargs: Any):
        """The chain of derivatives for one weight; see :func:`chainrule.explain.explain`."""
        from .explain import explain

        return explain(self, X, Y, layer, weight, **kwargs)

    def save(self, path: str, **kwargs: Any) -> None:
        """Save to a model file; see :func:`chainrule.persistence.save`."""
        from .persistence import save

        save(self, path, **kwargs)
