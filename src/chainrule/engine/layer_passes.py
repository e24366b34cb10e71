"""The forward and backward pass of a network with dropout or normalisation on hidden layers.

A plain network never comes here (:meth:`Passes.forward` and :meth:`Passes.backward` check one
flag). Per hidden layer ``l`` (:mod:`.normalization` and :mod:`.dropout` have the maths)::

    sop[l]       = input[l] @ weights[l] + biases[l]
    z[l]         = gamma[l] * (sop[l] - mean) / sqrt(var + eps) + beta[l]   (normalised; else sop)
    activated[l] = activation[l](z[l])
    output[l]    = activated[l] * factor[l]     (dropout, training: mask[l] / (1 - p[l]); else
                                                 activated[l])

and back, from ``dError/dOutput[l] = delta[l + 1] @ weights[l + 1].T``::

    dError/dActivated[l] = dError/dOutput[l] * factor[l]
    dError/dz[l]         = dError/dActivated[l] * activation'[l](z[l])
    delta[l]             = dError/dSop[l]: normalisation's backward of dError/dz[l] (which also
                           gives dError/dgamma[l] and dError/dbeta[l]), or dError/dz[l] itself

The output layer is never normalised nor dropped.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from .dropout import draw_kept, draw_mask
from .passes import Passes
from .workspace import Workspace

__all__ = ["LayerPasses"]


class LayerPasses:
    """The part of :class:`~chainrule.engine.Engine` that runs its dropout and normalisation."""

    def _hidden_forward(self, layer: int, function: Any, workspace: Workspace, training: bool,
                        masks: Any, update: bool) -> np.ndarray:
        """A hidden layer's ``z``, activation and dropout, from its sop (already computed)."""
        xp, norm, p = self.xp, workspace.norms[layer], self.dropout[layer]
        z = workspace.sops[layer]
        if norm is not None:
            running = self.running_means[layer], self.running_vars[layer]
            z = norm.forward(z, self.biases[layer], self.gammas[layer], self.betas[layer],
                             running, training)
            if training and update and norm.kind == "batch":
                norm.update_running(*running)
        dropping = bool(p) and training
        if dropping and workspace.relu[layer]:
            return self._relu_dropout(layer, z, workspace, masks)
        zeros = workspace.zeros[layer] if training else None  # (evaluation: untouched)
        if zeros is None:
            output = function.forward(z, workspace.output_buffers[layer], workspace.scratch[layer])
        else:  # relu
            output = xp.maximum(z, zeros, out=workspace.output_buffers[layer])
        workspace.activated[layer] = output
        if not dropping:
            return output
        factors = workspace.factors[layer]
        kept = self._draw_kept(layer, workspace, masks)
        xp.multiply(kept.view(np.uint8), 1.0 / (1.0 - p), out=factors)
        return xp.multiply(output, factors, out=workspace.dropped[layer])

    def _draw_kept(self, layer: int, workspace: Workspace, masks: Any) -> np.ndarray:
        """Dropout's mask of hidden layer ``layer`` for this pass, in ``workspace.kept``: drawn
        from :attr:`rng`, or read from ``masks`` (one per layer, 1.0 kept and 0.0 dropped)."""
        kept = workspace.kept[layer]
        if masks is None:
            return draw_kept(self.rng, self.dropout[layer], kept)
        return self.xp.not_equal(masks[layer], 0.0, out=kept)

    def _relu_dropout(self, layer: int, z: np.ndarray, workspace: Workspace, masks: Any
                      ) -> np.ndarray:
        """relu and dropout in training as one product, ``output = z * factors`` with
        ``factors = (z > 0) * mask / (1 - p)``: relu(z) times the mask's factor, and also the
        whole chain rule back from the output to ``z`` (relu'(z) is ``z > 0``), so nothing
        else is kept. (``z * 0`` is ``-0.0`` where relu gives ``0.0``, an equal value; and
        NaN where ``z`` is ``-inf``, which only a sop that overflowed gives: the step's loss is
        then not finite and training stops as diverged, where relu would have passed a 0
        on.)"""
        xp, factors = self.xp, workspace.factors[layer]
        kept = self._draw_kept(layer, workspace, masks)
        chained = xp.greater(z, 0.0, out=workspace.positive[layer])
        chained = xp.logical_and(chained, kept, out=chained)
        # As bytes, 0 or 1: a boolean operand is converted on a slower path.
        xp.multiply(chained.view(np.uint8), 1.0 / (1.0 - self.dropout[layer]), out=factors)
        workspace.activated[layer] = None
        return xp.multiply(z, factors, out=workspace.output_buffers[layer])

    def _hidden_backward(self, below: int, grad: np.ndarray, workspace: Workspace) -> np.ndarray:
        """:meth:`Passes.backward` at hidden layer ``below``, from ``grad = dError/dOutput``:
        through the dropout factor, the activation and the normalisation (whose ``dError/dgamma``
        and ``dError/dbeta`` land in their gradient buffers); returns ``delta = dError/dSop``.
        After a training forward pass."""
        xp = self.xp
        factors, norm = workspace.factors[below], workspace.norms[below]
        into = workspace.deltas[below] if norm is None else workspace.z_grads[below]
        if factors is not None and workspace.relu[below]:
            delta = xp.multiply(grad, factors, out=into)  # relu: mask, scale, relu'(z)
        else:
            if factors is not None:
                grad = xp.multiply(grad, factors, out=workspace.activated_grads[below])
            z = workspace.sops[below] if norm is None else norm.z
            delta = self.activation_functions[below].backward(
                grad, z, workspace.activated[below], into, workspace.scratch[below])
        if norm is not None:
            delta = norm.backward(delta, self.gammas[below], self.gamma_grads[below],
                                  self.beta_grads[below], workspace.deltas[below])
        return delta

    def training_loss(self, X: Any, Y: Any, masks: Any = None,
                      sample_weight: np.ndarray | None = None) -> float:
        """The error on ``(X, Y)`` as a training step sees it: batch statistics, and dropout
        with ``masks`` (one per layer, as :meth:`dropout_masks` gives them) or with the masks
        the next training pass on these rows draws (:meth:`next_masks`: from a copy of
        :attr:`rng`); with ``sample_weight`` (checked, one per row) the weighted mean. Nothing
        is changed (running statistics, gradients, the generator): this is the loss whose
        gradient :meth:`gradients` gives. Without dropout and normalisation, the loss
        :meth:`evaluate` gives."""
        inputs, targets = self.check_data(X, Y)
        if not self.has_layers:
            return Passes.evaluate(self, inputs, targets, sample_weight)[0]
        workspace = self._new_workspace(inputs.shape[0])
        loss = self.loss_function
        with np.errstate(over="ignore"), self._generator_copy():
            output = self.forward(inputs, workspace, True, masks, update=False)
            sop = workspace.sops[-1] if loss.combines_with(self.activation_functions[-1]) \
                else None
            if sample_weight is None:
                return float(loss.value(output, targets, sop, workspace.scratch[-1]))
            weighted = self.xp.dot(sample_weight, loss.row_values(output, targets, sop))
            return float(weighted) / float(sample_weight.sum())

    def _layered_gradients(self, X: np.ndarray, Y: np.ndarray,
                           sample_weight: np.ndarray | None) -> float:
        """:meth:`Passes.gradients`' training pass on checked data when there are layers: the
        masks drawn from a copy of :attr:`rng` (the next training pass's), batch normalisation
        on the batch's statistics without updating the running ones. Returns the error."""
        with self._generator_copy():
            if not self.couples_rows:  # no running statistics: slices as a training step
                return self.compute_gradients(X, Y, None, sample_weight)
            workspace = self.workspace(X.shape[0])
            self.forward(X, workspace, True, None, update=False)
            error = self.output_delta(Y, workspace, sample_weight)[0]
            self.backward(X, workspace)
            self.last_workspace = workspace
            return error

    @contextlib.contextmanager
    def _generator_copy(self) -> Iterator[None]:
        """Inside, dropout draws from a copy of :attr:`rng`, which is put back after: the
        masks drawn are those the next training pass draws, and the generator does not move."""
        rng = self.rng
        self.rng = copy.deepcopy(rng)
        try:
            yield
        finally:
            self.rng = rng

    def next_masks(self, n_samples: int) -> list[np.ndarray | None]:
        """The dropout masks (1.0 kept, 0.0 dropped; one per layer, ``None`` where there is no
        dropout) that the next training pass on ``n_samples`` rows draws, from a copy of
        :attr:`rng` (left as it is): each hidden layer's ``n_samples x width`` mask in turn,
        as :func:`.dropout.draw_mask` draws it (the draws of :func:`.dropout.draw_kept`). A
        pass in slices (beyond :attr:`rows_per_slice` rows, without batch normalisation)
        draws slice by slice instead."""
        rng = copy.deepcopy(self.rng)
        masks: list[np.ndarray | None] = []
        for p, width in zip(self.dropout, self.sizes[1:]):
            if not p:
                masks.append(None)
                continue
            masks.append(draw_mask(rng, p, np.empty((n_samples, width), dtype=self.dtype)))
        return masks

    def dropout_masks(self) -> list[np.ndarray | None]:
        """Copies of the masks the last training pass drew (:attr:`last_workspace`), one per
        layer, ``None`` where there is no dropout: give them to :meth:`training_loss` or to
        :func:`chainrule.reference.backprop` to replay that pass."""
        workspace = self.last_workspace
        if workspace is None:
            return [None] * self.n_layers
        return workspace.masks  # new arrays
