"""The reference engine's maths for the layers beyond dense: normalisation (batch and
layer) forward and backward, and the chain through a dropout mask, for :mod:`chainrule.reference`.

Written term by term (``dvar``, ``dmean``, ``dsop``), not in the engine's fused form, so that the
two agreeing is a proof (``tests/test_reference.py``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "normalize", "normalize_backward", "through_layer"]


#: Normalisation's ``eps`` (PyTorch's default).
EPS = 1e-5


def normalize(sop, gamma, beta, kind, running, training):
    """``(xhat, z, std)``: ``xhat = (sop - mean) / std``, ``std = sqrt(var + eps)``, ``z =
    gamma xhat + beta``; the (biased) mean and var over the rows (batch) or the neurons (layer),
    or a batch norm's running ones in evaluation."""
    if kind == "batch" and not training:
        mean, var = running
    else:
        mean = sop.mean(axis=0 if kind == "batch" else 1, keepdims=True)
        var = ((sop - mean) ** 2).mean(axis=0 if kind == "batch" else 1, keepdims=True)
    std = np.sqrt(var + EPS)
    xhat = (sop - mean) / std
    return xhat, gamma * xhat + beta, std


def normalize_backward(dz, sop, xhat, std, gamma, kind):
    """``(dError/dsop, dError/dgamma, dError/dbeta)`` through ``xhat``, ``var`` and ``mean``
    one after the other (``M`` values per group, sums over the group)::

        dxhat = dz gamma;  dvar = sum(dxhat (sop - mean)) (-1/2) std^-3
        dmean = -sum(dxhat) / std + dvar (-2/M) sum(sop - mean)
        dsop  = dxhat / std + dvar 2 (sop - mean) / M + dmean / M"""
    axis = 0 if kind == "batch" else 1
    m, centred, dxhat = sop.shape[axis], xhat * std, dz * gamma
    dvar = np.sum(dxhat * centred, axis=axis, keepdims=True) * -0.5 / std ** 3
    dmean = -np.sum(dxhat, axis=axis, keepdims=True) / std + \
        dvar * -2.0 * np.sum(centred, axis=axis, keepdims=True) / m
    return dxhat / std + dvar * 2.0 * centred / m + dmean / m, np.sum(dz * xhat, 0), np.sum(dz, 0)


def through_layer(net, values, layer, output_grad, derivative):
    """``(dError/dz, dError/dgamma, dError/dbeta, delta)`` of a hidden layer from
    ``dError/dOutput``: ``dError/dActivated = dError/dOutput * mask / (1 - p)`` with dropout,
    ``dError/dz = dError/dActivated * f'(z)``, then normalisation's backward (else delta is
    ``dError/dz``, the gammas None)."""
    rate, kind = values["rates"][layer], values["kinds"][layer]
    if rate:
        output_grad = output_grad * values["masks"][layer] / (1.0 - rate)
    z_grad = output_grad * derivative
    if kind is None:
        return z_grad, None, None, z_grad
    delta, dgamma, dbeta = normalize_backward(z_grad, values["sops"][layer],
                                               values["xhats"][layer], values["stds"][layer],
                                               net.gammas[layer], kind)
    return z_grad, dgamma, dbeta, delta
