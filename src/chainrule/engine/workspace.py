"""The arrays of one batch size's forward and backward pass, allocated once and reused."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from ..activations import Activation
from .normalization import Normalization

__all__ = ["Workspace"]


class Workspace:
    """The arrays of one batch size's forward and backward pass, allocated once and reused.

    After :meth:`Engine.forward`, for each layer ``l``:

    * ``sops[l]``: the sum of products of the batch (for a batch-normalised layer without the
      bias, which cancels in its centring: :meth:`sop` adds it);
    * ``outputs[l]``: the layer's output (for identity, the very array ``sops[l]``);

    after :meth:`Engine.output_delta` and :meth:`Engine.backward`:

    * ``deltas[l]``: ``dError/dSop[l]``;
    * ``output_grads[l]``: ``dError/dOutput[l]`` (at the output layer, ``dError/dPredicted``,
      which is not computed when the loss combines with the output activation). For an identity
      layer ``dError/dSop = dError/dOutput``: both names are then one array.

    ``output_buffers`` and ``scratch`` are where activations write; ``output_by_product`` is
    what the loss kept from the output layer's forward pass (softmax's log-sum-exp).

    A network with dropout or normalisation (``dropout``, ``normalization``: one entry per
    layer) also has, for each such hidden layer (``None`` elsewhere):

    * ``kept[l]``: dropout's mask of the last training pass, True where kept (:attr:`masks`
      gives it as 1.0 and 0.0), and ``factors[l]``: what ``dError/dOutput`` is multiplied by
      in the chain rule, ``mask / (1 - p)``, times ``relu'(z)`` for a relu layer (whose
      backward pass is then that one product);
    * ``norms[l]``: the layer's :class:`~chainrule.engine.normalization.Normalization`, which
      holds ``z = gamma * xhat + beta`` (the activation's input) and the statistics;
    * ``activated[l]``: the activation's output before the mask (``outputs[l]`` is after it;
      ``None`` for relu with dropout, whose mask is applied in place), and
      ``activated_grads[l]``: ``dError/dActivated = dError/dOutput * mask / (1 - p)`` (not
      for relu, whose ``factors`` take it straight to ``dError/dz``);
    * ``zeros[l]`` (a relu layer without dropout): zeros to compare ``z`` with
      (``maximum(z, zeros)`` runs several times faster than ``maximum(z, 0.0)``), and
      ``positive[l]`` (relu with dropout, one product ``z * factors`` forward): ``z > 0``;
    * ``z_grads[l]``: ``dError/dz``, the activation's chain rule, before normalisation's (the
      array ``deltas[l]`` but for identity: it holds ``dError/dz`` until normalisation's
      backward pass has run).
    """

    def __init__(self, layer_sizes: Sequence[int], functions: Sequence[Activation],
                 n_samples: int, dtype: np.dtype, xp: ModuleType,
                 dropout: Sequence[float] | None = None,
                 normalization: Sequence[str | None] | None = None):
        def buffers():
            return [xp.empty((n_samples, size), dtype=dtype) for size in layer_sizes]

        self.n_samples = n_samples
        self.sops = buffers()
        self.output_buffers = buffers()
        self.output_grads = buffers()
        n_layers = len(layer_sizes)
        dropout = dropout or [0.0] * n_layers
        normalization = normalization or [None] * n_layers
        self.factors = [xp.empty_like(g) if p else None
                        for g, p in zip(self.output_grads, dropout)]
        layered = [bool(p) or kind is not None for p, kind in zip(dropout, normalization)]
        relu = [on and function.name == "relu" for on, function in zip(layered, functions)]
        self.activated_grads = [None if f is None or on else xp.empty_like(f)
                                for f, on in zip(self.factors, relu)]
        # dError/dActivated: dError/dOutput itself without dropout.
        chained = [g if a is None else a for g, a in zip(self.output_grads, self.activated_grads)]
        self.deltas = [grad if function.name == "identity" and kind is None
                       else xp.empty_like(grad)
                       for grad, function, kind in zip(chained, functions, normalization)]
        # dError/dz: dError/dActivated itself for identity, else the delta's own buffer
        # (normalisation's backward pass turns dError/dz into dError/dSop in place).
        self.z_grads = [None if kind is None else grad if function.name == "identity"
                        else delta for grad, delta, function, kind
                        in zip(chained, self.deltas, functions, normalization)]
        self.scratch = buffers()
        #: A row of ones: ``ones @ delta`` sums a delta over the samples (the bias gradient)
        #: as one matrix-vector product, several times faster than a reduction along axis 0.
        self.ones = xp.ones(n_samples, dtype=dtype)
        self.outputs: list[np.ndarray] = list(self.output_buffers)
        self.output_by_product: np.ndarray | None = None
        #: Each row's error, for weights per sample (made on the first weighted step).
        self.row_errors: np.ndarray | None = None
        self.norms = [None if kind is None else
                      Normalization(kind, n_samples, size, dtype, xp, self.ones, scratch)
                      for kind, size, scratch in zip(normalization, layer_sizes, self.scratch)]
        #: Per layer: whether ``sops[l]`` leaves the bias to the normalisation (batch norm).
        self.folds_bias = [norm is not None and norm.folds_bias for norm in self.norms]
        self.dropped = [None if f is None or on else xp.empty_like(f)
                        for f, on in zip(self.factors, relu)]
        self.kept = [None if f is None else xp.empty(f.shape, dtype=bool) for f in self.factors]
        self.activated: list[np.ndarray | None] = [None] * n_layers
        #: Per layer: relu with dropout or normalisation (see :attr:`zeros`, :attr:`positive`).
        self.relu = relu
        self.zeros = [xp.zeros_like(g) if on and not p else None
                      for g, on, p in zip(self.output_grads, relu, dropout)]
        self.positive = [None if f is None or not on else xp.empty(f.shape, dtype=bool)
                         for f, on in zip(self.factors, relu)]

    def sop(self, layer: int) -> np.ndarray:
        """Layer ``layer``'s sum of products of the last pass, ``input @ weights + biases``:
        ``sops[layer]`` itself, or for a batch-normalised layer a new array, its buffer plus
        the bias that pass used."""
        if not self.folds_bias[layer]:
            return self.sops[layer]
        return self.sops[layer] + self.norms[layer].bias

    @property
    def masks(self) -> list[np.ndarray | None]:
        """The dropout masks of the last training pass (new arrays), 1.0 where kept and 0.0
        where dropped, one per layer, ``None`` where there is no dropout."""
        return [None if k is None else k.astype(f.dtype) for k, f in zip(self.kept, self.factors)]
