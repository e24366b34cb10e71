"""The chain through a hidden layer's dropout and normalisation, with every term's value.

For neuron ``j`` of a hidden layer ``l`` the forward pass is
(:mod:`chainrule.engine.layer_passes`)::

    sop       = input @ weights[l][:, j] + biases[l][j]
    mean, var = over the group: the batch's samples (batch norm) or the layer's neurons (layer norm)
    std       = sqrt(var + eps);  xhat = (sop - mean) / std;  z = gammas[l][j] * xhat + betas[l][j]
    activated = f(z)                                     (z = sop without normalisation)
    output    = activated * mask / (1 - p)               (dropout in training; else activated)

and the backward pass, from ``dError/dOutput`` (the sum over the paths to the layer above)::

    dError/dActivated = dError/dOutput * mask / (1 - p)
    dError/dZ         = dError/dActivated * f'(z)
    dxhat = dError/dZ * gamma
    dvar  = sum(dxhat * (sop - mean)) * (-1/2) / std^3
    dmean = -sum(dxhat) / std + dvar * (-2) * sum(sop - mean) / M
    dsop  = dxhat / std + dvar * 2 * (sop - mean) / M + dmean / M        (= dError/dSop)

the sums over the group of ``M`` values, ``sop - mean`` taken as ``xhat * std``, each array the
one :func:`chainrule.reference.backprop` computes in the same order (the reference keeps only
``dError/dZ`` and ``dError/dSop``: the middle terms are recomputed here, whole layers at once, as
its ``_normalize_backward`` computes them, so that ``dsop`` equals its ``delta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LayerTerms", "NormTerms", "layer_arrays", "layer_terms"]

#: Normalisation's eps, the reference's and the engine's (PyTorch's default).
EPS = 1e-5


@dataclass
class NormTerms:
    """One neuron's normalisation, forward and backward. Per-sample values are columns
    ``(n,)``; the group's statistics (mean, var, std, the sums, dvar, dmean) are one number for
    batch norm (the group is the neuron's batch) and one per sample for layer norm (the group
    is the sample's layer). ``group_*``: the members of the group of the first sample, as the
    text writes the sums out (batch norm: the neuron's column; layer norm: sample 0's row)."""

    kind: str
    gamma: float
    beta: float
    size: int  # M, the values per group
    mean: np.ndarray
    var: np.ndarray
    std: np.ndarray
    centred: np.ndarray  # sop - mean, as xhat * std
    xhat: np.ndarray
    z: np.ndarray
    dxhat: np.ndarray
    sum_dxhat_centred: np.ndarray
    dvar: np.ndarray
    sum_dxhat: np.ndarray
    sum_centred: np.ndarray
    dmean: np.ndarray
    dsop: np.ndarray
    group_sop: np.ndarray
    group_centred: np.ndarray
    group_dxhat: np.ndarray

    @property
    def per_sample_stats(self) -> bool:
        return self.kind == "layer"

    def cut(self, rows: int) -> None:
        """Keep the first ``rows`` samples of every per-sample value (the sums keep all)."""
        for name in ("centred", "xhat", "z", "dxhat", "dsop"):
            setattr(self, name, getattr(self, name)[:rows])
        if self.per_sample_stats:
            for name in ("mean", "var", "std", "sum_dxhat_centred", "dvar", "sum_dxhat",
                         "sum_centred", "dmean"):
                setattr(self, name, getattr(self, name)[:rows])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "eps": EPS, "gamma": self.gamma,
                                "beta": self.beta, "M": self.size,
                                "per_sample_stats": self.per_sample_stats}
        for name in ("mean", "var", "std", "centred", "xhat", "z", "dxhat", "sum_dxhat_centred",
                     "dvar", "sum_dxhat", "sum_centred", "dmean", "dsop", "group_sop",
                     "group_centred", "group_dxhat"):
            data[name] = np.asarray(getattr(self, name)).tolist()
        return data


@dataclass
class LayerTerms:
    """A hidden neuron's chain between ``dError/dOutput`` and ``dError/dSop``: dropout's mask
    (``mask`` None without dropout), ``dError/dActivated``, ``f'(z)``, ``dError/dZ``, and the
    normalisation's terms (``norm`` None without it); per-sample columns."""

    rate: float
    mask: np.ndarray | None
    activated_grad: np.ndarray
    derivative: np.ndarray
    z_grad: np.ndarray
    norm: NormTerms | None
    activated: np.ndarray  # f(z), before the mask

    @property
    def mask_factor(self) -> np.ndarray | None:
        """``mask / (1 - p)``: 0 where the neuron is dropped, ``1 / (1 - p)`` where kept."""
        return None if self.mask is None else self.mask / (1.0 - self.rate)

    def cut(self, rows: int) -> None:
        for name in ("mask", "activated_grad", "derivative", "z_grad", "activated"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[:rows])
        if self.norm is not None:
            self.norm.cut(rows)

    def to_dict(self) -> dict[str, Any]:
        dropout = None if self.mask is None else {
            "rate": self.rate, "mask": self.mask.tolist(),
            "factor": self.mask_factor.tolist(),
            "dError_dActivated": self.activated_grad.tolist()}
        return {"dropout": dropout, "activated": self.activated.tolist(),
                "dActivated_dZ": self.derivative.tolist(), "dError_dZ": self.z_grad.tolist(),
                "normalization": None if self.norm is None else self.norm.to_dict()}


def layer_arrays(net: Any, values: dict[str, Any], layer: int) -> dict[str, np.ndarray]:
    """The whole layer's arrays of its normalisation, forward and backward, as the reference
    computes them (the same expressions, in the same order: the same numbers)."""
    kind = values["kinds"][layer]
    axis = 0 if kind == "batch" else 1
    sop, xhat, std = values["sops"][layer], values["xhats"][layer], values["stds"][layer]
    mean = sop.mean(axis=axis, keepdims=True)
    var = ((sop - mean) ** 2).mean(axis=axis, keepdims=True)
    m, centred, dxhat = sop.shape[axis], xhat * std, values["z_grads"][layer] * net.gammas[layer]
    sum_dxhat_centred = np.sum(dxhat * centred, axis=axis, keepdims=True)
    dvar = sum_dxhat_centred * -0.5 / std ** 3
    sum_dxhat = np.sum(dxhat, axis=axis, keepdims=True)
    sum_centred = np.sum(centred, axis=axis, keepdims=True)
    dmean = -sum_dxhat / std + dvar * -2.0 * sum_centred / m
    dsop = dxhat / std + dvar * 2.0 * centred / m + dmean / m
    return {"m": m, "mean": mean, "var": var, "std": std, "centred": centred, "xhat": xhat,
            "z": values["zs"][layer], "sop": sop, "dxhat": dxhat,
            "sum_dxhat_centred": sum_dxhat_centred, "dvar": dvar, "sum_dxhat": sum_dxhat,
            "sum_centred": sum_centred, "dmean": dmean, "dsop": dsop}


def _norm_terms(net: Any, arrays: dict[str, np.ndarray], kind: str, layer: int,
                neuron: int) -> NormTerms:
    """Neuron ``neuron``'s share of :func:`layer_arrays`."""
    def column(name):
        return arrays[name][:, neuron]

    def stat(name):  # one per group: batch norm's (1, width), layer norm's (n, 1)
        value = arrays[name]
        return np.asarray(value[0, neuron]) if kind == "batch" else value[:, 0]

    if kind == "batch":
        group = [column("sop"), column("centred"), column("dxhat")]
    else:
        group = [arrays["sop"][0], arrays["centred"][0], arrays["dxhat"][0]]
    return NormTerms(kind, float(net.gammas[layer][neuron]), float(net.betas[layer][neuron]),
                     int(arrays["m"]), stat("mean"), stat("var"), stat("std"), column("centred"),
                     column("xhat"), column("z"), column("dxhat"), stat("sum_dxhat_centred"),
                     stat("dvar"), stat("sum_dxhat"), stat("sum_centred"), stat("dmean"),
                     column("dsop"), *group)


def layer_terms(net: Any, values: dict[str, Any], layer: int, neuron: int,
                arrays: dict[str, np.ndarray] | None) -> LayerTerms | None:
    """Neuron ``neuron`` of hidden ``layer``'s :class:`LayerTerms` (None for a plain layer);
    ``arrays``: the layer's :func:`layer_arrays` (None without normalisation)."""
    rate, kind = values["rates"][layer], values["kinds"][layer]
    if not rate and kind is None:
        return None
    output_grad = values["output_grads"][layer][:, neuron]
    mask = None
    activated_grad = output_grad
    if rate:
        mask = np.asarray(values["masks"][layer], dtype=float)[:, neuron]
        activated_grad = output_grad * mask / (1.0 - rate)
    norm = None if kind is None else _norm_terms(net, arrays, kind, layer, neuron)
    return LayerTerms(rate, mask, activated_grad, values["derivatives"][layer][:, neuron],
                      values["z_grads"][layer][:, neuron], norm,
                      values["activated"][layer][:, neuron])
