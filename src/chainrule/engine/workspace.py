"""The arrays of one batch size's forward and backward pass, allocated once and reused."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from ..activations import Activation

__all__ = ["Workspace"]


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
