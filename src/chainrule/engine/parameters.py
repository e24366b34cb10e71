"""The parameters of a network as views of one flat buffer, and their gradients likewise.

Order: ``weights[0], biases[0], weights[1], ...``. An optimizer then updates every parameter
of the network with a handful of array calls on the flat buffer, however many layers there
are; the per-layer ``weights`` and ``biases`` a user reads and edits are views into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .workspace import Workspace

__all__ = ["FlatParameters", "ParameterList"]


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


class FlatParameters:
    """The part of :class:`~chainrule.engine.Engine` that lays out and hands out its
    parameters (it needs the network's ``xp`` and ``dtype``)."""

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

    @property
    def n_parameters(self) -> int:
        return int(self._flat_parameters.size)

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
