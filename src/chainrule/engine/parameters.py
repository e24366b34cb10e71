"""The parameters of a network as views of one flat buffer, and their gradients likewise.

Order: ``weights[0], biases[0], weights[1], ...``, then for each normalised layer its
``gammas[l], betas[l]`` (after every weight and bias, so that a plain layer's place in the
buffer does not depend on them). An optimizer then updates every parameter of the network with
a handful of array calls on the flat buffer, however many layers there are; the per-layer
``weights``, ``biases``, ``gammas`` and ``betas`` a user reads and edits are views into it.
The running statistics of batch normalisation are state, not parameters: they are kept beside
(:meth:`FlatParameters.running_statistics`), never trained.
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
                what = "bias" if self._kind == "biases" else "normalisation"
                raise ValueError(f"layer {layer} has no {what}; {self._kind}[{layer}] cannot "
                                 "be set")
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

    def _bind_parameters(self, weights: list, biases: list, gammas: list | None = None,
                         betas: list | None = None) -> None:
        """Lay the parameters (and their gradients) out as views of one flat buffer each.

        Order: weights[0], biases[0], weights[1], ..., then gammas[l], betas[l] of each
        normalised layer. An optimizer then updates every parameter of the network with a
        handful of array calls on the flat buffer, however many layers there are.
        """
        xp = self.xp
        gammas = gammas or [None] * len(weights)
        betas = betas or [None] * len(weights)
        arrays_in_order = [a for pair in zip(weights, biases) for a in pair if a is not None]
        arrays_in_order += [a for pair in zip(gammas, betas) for a in pair if a is not None]
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
        scales, shifts, scale_grads, shift_grads = [], [], [], []
        for gamma, beta in zip(gammas, betas):
            for values, views, grads in ((gamma, scales, scale_grads),
                                         (beta, shifts, shift_grads)):
                views.append(None if values is None else next(parameter_views))
                grads.append(None if values is None else next(gradient_views))
                if values is not None:
                    views[-1][...] = values
        shapes = [None if g is None else g.shape for g in gammas]
        #: Batch and layer normalisation's scale and shift per layer (``None`` for a layer
        #: without normalisation), and their gradients, views of the flat buffers.
        self.gammas = ParameterList(scales, shapes, self.dtype, "gammas")
        self.betas = ParameterList(shifts, shapes, self.dtype, "betas")
        self.gamma_grads, self.beta_grads = scale_grads, shift_grads
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
        state["gammas"], state["betas"] = list(self.gammas), list(self.betas)
        for key in ("_flat_parameters", "_flat_gradients", "_slice_sums", "_scratch",
                    "weight_grads", "bias_grads", "gamma_grads", "beta_grads", "_workspaces",
                    "last_workspace"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights, biases = state.pop("weights"), state.pop("biases")
        gammas, betas = state.pop("gammas", None), state.pop("betas", None)
        self.__dict__.update(state)
        self._bind_parameters(weights, biases, gammas, betas)

    @property
    def n_parameters(self) -> int:
        return int(self._flat_parameters.size)

    def parameters(self) -> list[np.ndarray]:
        """The arrays that training updates, in order: weights[0], biases[0], weights[1], ...,
        then gammas[l], betas[l] of each normalised layer (the flat buffer's order)."""
        params = []
        for weight, bias in zip(self.weights, self.biases):
            params.append(weight)
            if bias is not None:
                params.append(bias)
        for gamma, beta in zip(self.gammas, self.betas):
            if gamma is not None:
                params += [gamma, beta]
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
        """A copy of every parameter, then of the running statistics (see :meth:`set_state`)."""
        return [p.copy() for p in self.parameters()] + self.running_statistics()

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        """Copy parameters (and running statistics) saved by :meth:`get_state` back into the
        network, in place."""
        params = self.parameters()
        for param, saved in zip(params, state[:len(params)], strict=True):
            param[...] = saved
        self.set_running_statistics(state[len(params):])

    def running_statistics(self) -> list[np.ndarray]:
        """Copies of batch normalisation's running statistics, ``running_means[l],
        running_vars[l]`` of each batch-normalised layer in order (empty for none)."""
        return [a.copy() for pair in zip(self.running_means, self.running_vars)
                for a in pair if a is not None]

    def set_running_statistics(self, arrays: Sequence[np.ndarray]) -> None:
        """Copy what :meth:`running_statistics` gave back in place, each checked for its
        shape, finite, the variances >= 0."""
        targets = [(layer, kind, a) for layer, pair in
                   enumerate(zip(self.running_means, self.running_vars))
                   for kind, a in zip(("running_means", "running_vars"), pair) if a is not None]
        if len(arrays) != len(targets):
            raise ValueError(f"expected {len(targets)} running statistics arrays (a mean and a "
                             f"variance per batch-normalised layer), got {len(arrays)}")
        checked = []
        for (layer, kind, target), value in zip(targets, arrays):
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != target.shape or not np.isfinite(value).all() or (
                    kind == "running_vars" and (value < 0).any()):
                raise ValueError(f"{kind}[{layer}] must be {target.shape[0]} finite numbers"
                                 f"{' >= 0' if kind == 'running_vars' else ''}")
            checked.append(value)
        for (_, _, target), value in zip(targets, checked):
            target[...] = value
