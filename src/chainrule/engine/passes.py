"""The forward and the backward pass over a batch (the chain rule in matrix form), and the
evaluation of many rows a slice at a time; see :mod:`chainrule.engine` for the notation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..losses import check_sample_weight
from .workspace import Workspace

__all__ = ["Passes"]


class Passes:
    """The part of :class:`~chainrule.engine.Engine` that computes: forward, output delta,
    backward, gradients, evaluation (it needs the network's layers, loss and buffers)."""

    def workspace(self, n_samples: int) -> Workspace:
        """The buffers for batches of ``n_samples`` rows (made on first use, then reused)."""
        workspace = self._workspaces.get(n_samples)
        if workspace is None:
            workspace = self._new_workspace(n_samples)
            self._workspaces[n_samples] = workspace
        return workspace

    def _new_workspace(self, n_samples: int) -> Workspace:
        return Workspace(self.sizes[1:], self.activation_functions, n_samples, self.dtype,
                         self.xp, self.dropout, self.normalization)

    def forward(self, X: np.ndarray, workspace: Workspace, training: bool = True,
                masks: Any = None, update: bool = True) -> np.ndarray:
        """Fill ``workspace`` with every layer's sop and output; return the predicted output.

        ``X`` must already be checked (:meth:`check_inputs`). Runs allocation-free.
        ``training`` matters only with dropout or normalisation (:mod:`.layer_passes`): a
        training pass drops (the masks drawn from :attr:`rng`, or ``masks``: one per layer,
        ``None`` where there is no dropout) and normalises with the batch's statistics,
        updating the running ones (unless not ``update``); an evaluation pass does neither.
        """
        xp, last, layered = self.xp, self._last, self.has_layers
        layer_input = X
        for layer, (function, weight, bias) in enumerate(
            zip(self.activation_functions, self.weights, self.biases)
        ):
            sop, out, scratch = (workspace.sops[layer], workspace.output_buffers[layer],
                                 workspace.scratch[layer])
            if bias is None or workspace.folds_bias[layer]:  # (batch norm adds it itself)
                xp.dot(layer_input, weight, out=sop)
            else:  # the product goes to a free buffer first: adding in place costs more
                xp.add(xp.dot(layer_input, weight, out=out), bias, out=sop)
            if layer == last:
                output, workspace.output_by_product = self.loss_function.forward_output(
                    function, sop, out, scratch)
            elif layered:  # normalisation, the activation, dropout
                output = self._hidden_forward(layer, function, workspace, training, masks,
                                              update)
            else:
                output = function.forward(sop, out, scratch)
            workspace.outputs[layer] = layer_input = output
        return layer_input

    def output_delta(self, Y: np.ndarray, workspace: Workspace,
                     sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """The error of the last forward pass, and ``delta = dError/dSop`` at the output layer
        (in ``workspace.deltas[-1]``), as the loss defines it (see :mod:`chainrule.losses`).
        With ``sample_weight`` (one weight ``w_i`` per row), the weighted mean ``sum_i w_i e_i /
        sum_i w_i`` and its delta (:meth:`chainrule.losses.Loss.weighted_output_delta`): the
        one place where weights enter the chain rule."""
        last = self._last
        loss, activation = self.loss_function, self.activation_functions[last]
        arguments = (activation, workspace.outputs[last], Y, workspace.sops[last],
                     workspace.output_by_product, workspace.output_grads[last],
                     workspace.deltas[last], workspace.scratch[last])
        if sample_weight is None:
            error = loss.output_delta(*arguments)
        else:  # each row's error into a (n,) buffer made once per workspace
            row_errors = workspace.row_errors
            if row_errors is None:
                row_errors = workspace.row_errors = self.xp.empty(Y.shape[0], self.dtype)
            error = loss.weighted_output_delta(*arguments, sample_weight, row_errors)
        return error, workspace.deltas[last]

    def backward(self, X: np.ndarray, workspace: Workspace) -> None:
        """Propagate ``delta`` of the output layer (set by :meth:`output_delta`) back to the
        first layer, filling every ``deltas[l]`` and writing every ``dError/dWeights`` and
        ``dError/dBiases`` into the gradient buffers. No gradient is computed for the network's
        inputs (nothing would use it)."""
        xp, layered = self.xp, self.has_layers
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
                if layered:  # dropout, the activation, normalisation
                    delta = self._hidden_backward(below, output_grad, workspace)
                else:
                    delta = self.activation_functions[below].backward(
                        output_grad, workspace.sops[below], outputs[below],
                        workspace.deltas[below], workspace.scratch[below])

    def compute_gradients(
        self, X: np.ndarray, Y: np.ndarray,
        observe: Callable[[np.ndarray, np.ndarray, int], None] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """Forward, error, backward on checked data; the gradients land in
        :meth:`flat_gradients` (``weight_grads``, ``bias_grads``).

        Returns the error (the loss) before any update. This is the training step's core.
        ``observe(predicted, targets, first_row)``, if given, sees the predictions.
        ``sample_weight`` (checked, one per row): the weighted mean instead of the mean.
        """
        n_samples = X.shape[0]
        if n_samples > self.rows_per_slice and not self.couples_rows:
            return self._compute_gradients_in_slices(X, Y, observe, sample_weight)
        workspace = self._workspaces.get(n_samples) or self.workspace(n_samples)
        self.forward(X, workspace)
        error = self.output_delta(Y, workspace, sample_weight)[0]
        self.backward(X, workspace)
        self.last_workspace = workspace
        if observe is not None:
            observe(workspace.outputs[-1], Y, 0)
        return error

    def _compute_gradients_in_slices(self, X: np.ndarray, Y: np.ndarray, observe: Any,
                                     sample_weight: np.ndarray | None = None) -> float:
        """The batch's mean error and gradient as the row-weighted sum over slices of it (with
        ``sample_weight``: each slice's weighted mean times the slice's sum of weights)."""
        xp = self.xp
        n_samples, size = X.shape[0], self.rows_per_slice
        if self._slice_sums is None:
            self._slice_sums = xp.empty_like(self._flat_gradients)
        total = self._slice_sums
        total.fill(0.0)
        error, weights = 0.0, None
        whole = n_samples if sample_weight is None else float(sample_weight.sum())
        for start in range(0, n_samples, size):
            stop = min(start + size, n_samples)
            rows = stop - start
            if sample_weight is not None:
                weights = sample_weight[start:stop]
                rows = float(weights.sum())
            error += self.compute_gradients(X[start:stop], Y[start:stop], None, weights) * rows
            if observe is not None:
                observe(self.last_workspace.outputs[-1], Y[start:stop], start)
            # total += gradient * rows, the product taken in the gradient's own buffer
            xp.multiply(self._flat_gradients, rows, out=self._flat_gradients)
            xp.add(total, self._flat_gradients, out=total)
        if whole == 0.0:  # weights all 0: nothing to learn from this batch
            self._flat_gradients.fill(0.0)
            return 0.0
        xp.divide(total, whole, out=self._flat_gradients)
        return error / whole

    # ------------------------------------------------------------------ public API
    def evaluate(self, X: np.ndarray, Y: np.ndarray | None,
                 sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """``(loss, predicted)`` on checked data, a slice of rows at a time (see
        :attr:`rows_per_slice`), with buffers of its own: training's are left alone. With
        ``sample_weight`` (checked, one per row) the loss is the weighted mean."""
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
                output = self.forward(X[start:stop], workspace, training=False)
                predicted[start:stop] = output
                if Y is not None and sample_weight is not None:
                    sop = workspace.sops[-1] if combined else None
                    error += float(xp.dot(sample_weight[start:stop], self.loss_function
                                          .row_values(output, Y[start:stop], sop)))
                elif Y is not None:
                    sop = workspace.sops[-1] if combined else None
                    error += self.loss_function.value(output, Y[start:stop], sop,
                                                      workspace.scratch[-1]) * (stop - start)
        if sample_weight is not None and Y is not None:
            return error / float(sample_weight.sum()), predicted
        return error / n_samples, predicted

    def predict(self, X: Any) -> np.ndarray:
        """The predicted outputs, shaped ``(n_samples, n_outputs)``."""
        return self.evaluate(self.check_inputs(X), None)[1]

    def loss(self, X: Any, Y: Any) -> float:
        """The error on ``(X, Y)``: summed over outputs, averaged over samples (see losses)."""
        return self.evaluate(*self.check_data(X, Y))[0]

    def gradients(self, X: Any, Y: Any, sample_weight: Any = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """``(weight_grads, bias_grads)`` of the loss on ``(X, Y)`` (with ``sample_weight``:
        of the weighted mean), aligned with ``weights`` and ``biases`` (``None`` for a layer
        without bias). New arrays.

        With dropout or normalisation, of the training-mode loss (:meth:`training_loss`):
        batch statistics, and dropout with the masks the network's next training pass on
        these rows would draw (:meth:`next_masks`, from a copy of :attr:`rng`). The model does
        not change: neither the running statistics nor the generator move.
        :meth:`dropout_masks` then gives the masks used, and :attr:`gamma_grads` and
        :attr:`beta_grads` hold ``dError/dgamma`` and ``dError/dbeta`` of each normalised
        layer (``None`` elsewhere; views of the gradient buffer until the next pass: copy
        them)."""
        inputs, targets = self.check_data(X, Y)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, inputs.shape[0], self.dtype)
        with np.errstate(over="ignore"):
            if self.has_layers:
                self._layered_gradients(inputs, targets, sample_weight)
            else:
                self.compute_gradients(inputs, targets, None, sample_weight)
        return (
            [g.copy() for g in self.weight_grads],
            [None if g is None else g.copy() for g in self.bias_grads],
        )
