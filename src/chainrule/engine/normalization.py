"""Batch and layer normalisation of a hidden layer's sop: the maths, on buffers made once.

A normalised hidden layer ``l`` computes, between its sum of products and its activation::

    sop    = input @ weights + biases
    xhat   = (sop - mean) / sqrt(var + eps)          (the sop standardised)
    z      = gamma * xhat + beta                     (learnable scale and shift, per neuron)
    output = activation(z)

* **batch** (``nn.BatchNorm1d``'s convention): ``mean`` and ``var`` (biased: divided by ``N``)
  are each neuron's over the ``N`` rows of the batch in training; in evaluation they are the
  running statistics, updated by every training pass as ``running = (1 - momentum) * running +
  momentum * batch_statistic``, with ``momentum = 0.1`` and the batch's *unbiased* variance
  (``var * N / (N - 1)``), starting from mean 0 and variance 1. Training needs ``N >= 2``.
* **layer** (``nn.LayerNorm``'s): ``mean`` and ``var`` are each row's over the layer's ``K``
  neurons, the same in training and evaluation; nothing runs.

``eps = 1e-5`` for both; ``gamma`` starts at 1 and ``beta`` at 0.

The backward pass, with ``dz = dError/dz`` (what the activation's chain rule gives)::

    dError/dgamma = sum over rows of dz * xhat
    dError/dbeta  = sum over rows of dz
    dxhat         = dz * gamma
    dError/dsop   = (1 / M) / std * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))

where ``std = sqrt(var + eps)`` and the sums run over what the statistics ran over: the
``M = N`` rows of each neuron (batch), or the ``M = K`` neurons of each row (layer). It is the
stable form of the chain rule through ``mean`` and ``var`` (both depend on every ``sop`` of the
group): ``dxhat`` minus its mean, minus its projection on ``xhat``, over ``std``.
:mod:`chainrule.reference` writes the unsimplified chain instead, and the tests prove them equal.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["EPS", "KINDS", "MOMENTUM", "Normalization", "check_normalization"]

#: Added to the variance under the square root (PyTorch's default).
EPS = 1e-5
#: The weight of a batch's statistics in the running ones (PyTorch's default).
MOMENTUM = 0.1
#: The normalisations a hidden layer may have.
KINDS = ("batch", "layer")


def check_normalization(value: Any, n_hidden: int) -> list[str | None]:
    """One normalisation (``None``, ``"batch"`` or ``"layer"``) per hidden layer, from one
    value for all or a list with one per hidden layer (or per layer, the output's ``None``)."""
    values = _per_hidden(value, n_hidden, "normalization", lambda v: v is None or v == "none")
    for layer, kind in enumerate(values):
        if kind not in (None, "none", *KINDS):
            raise ValueError(f"normalization of layer {layer} must be None, 'batch' or 'layer', "
                             f"got {kind!r}")
    return [None if kind in (None, "none") else str(kind) for kind in values]


def _per_hidden(value: Any, n_hidden: int, name: str, is_none) -> list:
    """``value`` for every hidden layer, or the list given (one per hidden layer; a list with
    one more, for the output layer too, only if that one is none)."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        if len(values) == n_hidden + 1:
            if not is_none(values[-1]):
                raise ValueError(f"{name} is for hidden layers only, not the output layer "
                                 f"(layer {n_hidden}); got {values[-1]!r} for it")
            values = values[:-1]
        if len(values) != n_hidden:
            raise ValueError(f"{name} has {len(values)} entries but the network has "
                             f"{n_hidden} hidden layer(s)")
        return values
    if not is_none(value) and n_hidden == 0:
        raise ValueError(f"{name} is for hidden layers only, and this network has none (the "
                         "output layer never has it)")
    return [value] * n_hidden


class Normalization:
    """One normalised layer's maths for batches of ``n`` rows and ``k`` neurons, with every
    buffer it needs made here once: ``centred`` (``sop - mean``), ``z`` (the activation's
    input), ``mean``, ``var`` and ``inv_std`` (``1 / std``; per neuron for batch, per row for
    layer); :attr:`xhat` is ``centred * inv_std``.

    Batch normalisation never writes ``xhat`` out: with ``scale = gamma * inv_std`` (per
    neuron) it computes ``z = centred * scale + beta`` and, back, the terms in ``xhat`` from
    ``centred`` (``xhat * a = centred * (inv_std * a)``): fewer passes over the batch for the
    same values. Means are products with a vector of ``1 / M`` (one matrix-vector product;
    ``M`` the group's size), the sums of the backward pass with :attr:`ones_rows`."""

    def __init__(self, kind: str, n: int, k: int, dtype: np.dtype, xp: ModuleType,
                 ones: np.ndarray, scratch: np.ndarray | None = None):
        self.kind, self.xp, self.n, self.k = kind, xp, n, k
        self.ones_rows = ones  # ones @ a sums a over the rows: one matrix-vector product
        by_row = kind == "layer"
        stats = n if by_row else k
        # Row 1 of each pair: the batch's statistic; row 0: the running one while it is
        # updated, so that the update is one product (update_running).
        self._mean_pair, self._var_pair = (xp.empty((2, stats), dtype=dtype) for _ in range(2))
        self.mean, self.var = self._mean_pair[1], self._var_pair[1]
        self.inv_std = xp.empty(stats, dtype=dtype)
        self.centred, self.z = xp.empty((n, k), dtype=dtype), xp.empty((n, k), dtype=dtype)
        # Meanwhile only: the layer's scratch (free before its activation runs forward and
        # after it has run back), so that a pass touches one buffer fewer.
        self._tmp = xp.empty((n, k), dtype=dtype) if scratch is None else scratch
        #: ``averager @ a`` (batch) or ``a @ averager`` (layer): the group means of ``a``.
        self._averager = xp.full(k if by_row else n, 1.0 / (k if by_row else n), dtype=dtype)
        if by_row:
            self._mean_column, self._inv_std_column = self.mean[:, None], self.inv_std[:, None]
            self._xhat = xp.empty((n, k), dtype=dtype)
            self._dxhat = xp.empty((n, k), dtype=dtype)
            self._sum1, self._sum2 = xp.empty(n, dtype=dtype), xp.empty(n, dtype=dtype)
            self._sum1_column, self._sum2_column = self._sum1[:, None], self._sum2[:, None]
        else:
            self._scale, self._coefficient, self._shift = (xp.empty(k, dtype=dtype)
                                                           for _ in range(3))
            #: The bias of the last pass (see :meth:`forward`).
            self.bias = xp.empty(k, dtype=dtype)
            # ``scale`` copied onto every row once a training pass: a product with a
            # per-neuron vector broadcast over the rows costs about twice a same-shaped one,
            # and ``scale`` multiplies the batch twice (``z`` forward, ``dz`` back).
            self._scale_rows = xp.empty((n, k), dtype=dtype)
            self._mean_weights = xp.asarray([1.0 - MOMENTUM, MOMENTUM], dtype=dtype)
            self._var_weights = xp.asarray(
                [1.0 - MOMENTUM, MOMENTUM * n / (n - 1) if n > 1 else 0.0], dtype=dtype)

    @property
    def xhat(self) -> np.ndarray:
        """The standardised sop ``(sop - mean) / sqrt(var + eps)`` of the last training pass
        (layer: the buffer itself; batch: a new array, as the passes never need it whole)."""
        if self.kind == "layer":
            return self._xhat
        return self.xp.multiply(self.centred, self.inv_std)

    def _group_mean(self, array: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The mean over the rows (batch, per neuron) or over the neurons (layer, per row)."""
        if self.kind == "layer":
            return self.xp.dot(array, self._averager, out=out)
        return self.xp.dot(self._averager, array, out=out)

    def forward(self, sop: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray,
                beta: np.ndarray, running: tuple[np.ndarray, np.ndarray] | None,
                training: bool) -> np.ndarray:
        """``z = gamma * (sop - mean) / sqrt(var + eps) + beta``, in :attr:`z`; batch norm in
        evaluation (``training`` False) takes ``running = (mean, var)`` instead of the
        batch's.

        For batch norm ``sop`` is ``input @ weights`` without the layer's ``bias`` (see
        :attr:`folds_bias`): a bias shifts each neuron's sop and its mean alike, so it cancels
        in ``sop - mean`` and enters only the mean (in training) or, in evaluation, the
        difference with the running mean; one pass over the batch fewer. Layer norm takes the
        whole sop (``bias`` unused)."""
        xp, centred = self.xp, self.centred
        batch = self.kind == "batch"
        if batch and training and self.n < 2:
            raise ValueError("batch normalisation needs at least 2 rows per batch in training "
                             "(its variance over one row is 0; an epoch's last batch has "
                             "n_samples % batch_size rows): use another batch_size, or "
                             "normalization='layer'")
        if batch:
            self._keep_bias(bias)
        if batch and not training:
            return self._evaluation_forward(sop, gamma, beta, running)
        self._group_mean(sop, self.mean)
        xp.subtract(sop, self.mean if batch else self._mean_column, out=centred)
        xp.multiply(centred, centred, out=self._tmp)
        self._group_mean(self._tmp, self.var)  # two passes: no cancellation
        inv_std = self._inverse_std()
        if batch:
            xp.add(self.mean, self.bias, out=self.mean)  # the mean of the whole sop
            xp.multiply(gamma, inv_std, out=self._scale)
            xp.copyto(self._scale_rows, self._scale)
            xp.multiply(centred, self._scale_rows, out=self.z)
        else:
            xp.multiply(centred, self._inv_std_column, out=self._xhat)
            xp.multiply(self._xhat, gamma, out=self.z)
        return xp.add(self.z, beta, out=self.z)

    def _keep_bias(self, bias: np.ndarray | None) -> None:
        """:attr:`bias`: the pass's bias (a copy: the step updates the layer's own after)."""
        if bias is None:
            self.bias.fill(0.0)
        else:
            self.xp.copyto(self.bias, bias)

    def _inverse_std(self) -> np.ndarray:
        """``inv_std = 1 / sqrt(var + eps)``, from :attr:`var`."""
        xp, inv_std = self.xp, self.inv_std
        xp.add(self.var, EPS, out=inv_std)
        xp.sqrt(inv_std, out=inv_std)
        return xp.divide(1.0, inv_std, out=inv_std)

    def _evaluation_forward(self, sop: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                            running: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Batch normalisation in evaluation with the running ``mean`` and ``var``, ``z =
        (sop + bias - mean) * scale + beta = sop * scale + shift`` (``scale = gamma * inv_std``,
        ``shift = beta + (bias - mean) * scale``, per neuron), in :attr:`z`: :attr:`centred` is
        left alone (an evaluation's workspace is new, and each buffer it touches costs its
        first writing)."""
        xp, z, shift = self.xp, self.z, self._shift
        xp.copyto(self.mean, running[0])
        xp.copyto(self.var, running[1])
        xp.multiply(gamma, self._inverse_std(), out=self._scale)
        xp.subtract(self.bias, self.mean, out=shift)
        xp.multiply(shift, self._scale, out=shift)
        xp.add(shift, beta, out=shift)
        xp.multiply(sop, self._scale, out=z)
        return xp.add(z, shift, out=z)

    @property
    def folds_bias(self) -> bool:
        """Whether the layer's sop buffer holds ``input @ weights`` without the bias (batch
        norm; see :meth:`forward`)."""
        return self.kind == "batch"

    def update_running(self, running_mean: np.ndarray, running_var: np.ndarray) -> None:
        """After a training pass (batch norm): ``running = (1 - momentum) * running + momentum
        * statistic``, the variance unbiased (``var * N / (N - 1)``): each the product of the
        two weights with the pair (running, statistic)."""
        xp = self.xp
        xp.copyto(self._mean_pair[0], running_mean)
        xp.dot(self._mean_weights, self._mean_pair, out=running_mean)
        xp.copyto(self._var_pair[0], running_var)
        xp.dot(self._var_weights, self._var_pair, out=running_var)

    def backward(self, z_grad: np.ndarray, gamma: np.ndarray, gamma_grad: np.ndarray,
                 beta_grad: np.ndarray, sop_grad: np.ndarray) -> np.ndarray:
        """From ``dz = z_grad``: ``dError/dgamma``, ``dError/dbeta`` (written into their
        gradient buffers) and ``dError/dsop`` (into ``sop_grad``, returned; it may be
        ``z_grad`` itself), the stable form in the module's docstring (training mode: the
        statistics are the batch's)."""
        xp, tmp, ones = self.xp, self._tmp, self.ones_rows
        if self.kind == "layer":
            return self._layer_backward(z_grad, gamma, gamma_grad, beta_grad, sop_grad)
        # dbeta = sum(dz); dgamma = sum(dz * xhat) = inv_std * sum(dz * centred). With
        # sum_rows(dxhat) = gamma * dbeta and sum_rows(dxhat * xhat) = gamma * dgamma:
        #   dsop = scale * (dz - dbeta / N - xhat * dgamma / N),  scale = gamma * inv_std
        #        = scale * dz - (centred * coefficient + shift)
        # coefficient = scale * inv_std * dgamma / N, shift = scale * dbeta / N (per neuron).
        xp.dot(ones, z_grad, out=beta_grad)
        xp.multiply(z_grad, self.centred, out=tmp)
        xp.dot(ones, tmp, out=gamma_grad)
        xp.multiply(gamma_grad, self.inv_std, out=gamma_grad)
        scale, coefficient, shift = self._scale, self._coefficient, self._shift
        xp.multiply(scale, 1.0 / self.n, out=shift)  # scale / N
        xp.multiply(gamma_grad, self.inv_std, out=coefficient)
        xp.multiply(coefficient, shift, out=coefficient)
        xp.multiply(beta_grad, shift, out=shift)
        xp.multiply(self.centred, coefficient, out=tmp)
        xp.add(tmp, shift, out=tmp)
        xp.multiply(z_grad, self._scale_rows, out=sop_grad)
        return xp.subtract(sop_grad, tmp, out=sop_grad)

    def _layer_backward(self, z_grad: np.ndarray, gamma: np.ndarray, gamma_grad: np.ndarray,
                        beta_grad: np.ndarray, sop_grad: np.ndarray) -> np.ndarray:
        """Layer normalisation's :meth:`backward`: per row,
        ``dsop = 1 / std * (dxhat - sum(dxhat) / K - xhat * sum(dxhat * xhat) / K)``."""
        xp, xhat, tmp, ones = self.xp, self._xhat, self._tmp, self.ones_rows
        xp.dot(ones, z_grad, out=beta_grad)
        xp.multiply(z_grad, xhat, out=tmp)
        xp.dot(ones, tmp, out=gamma_grad)
        dxhat = xp.multiply(z_grad, gamma, out=self._dxhat)
        mean_dxhat, projection = self._sum1, self._sum2
        self._group_mean(dxhat, mean_dxhat)
        xp.multiply(dxhat, xhat, out=tmp)
        self._group_mean(tmp, projection)
        xp.multiply(xhat, self._sum2_column, out=tmp)  # projection, per row
        xp.add(tmp, self._sum1_column, out=tmp)  # mean_dxhat, per row
        xp.subtract(dxhat, tmp, out=sop_grad)
        return xp.multiply(sop_grad, self._inv_std_column, out=sop_grad)
