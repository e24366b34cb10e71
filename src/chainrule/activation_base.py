"""The base class of the activations: ``output = f(sop)``, its derivative at the sop, and the
chain rule through it (see :mod:`chainrule.activations` for the conventions and the registry)."""

from __future__ import annotations

import numpy as np

from .arrays import ArrayModuleUser

__all__ = ["Activation"]


class Activation(ArrayModuleUser):
    """Base class: an element-wise activation ``output = f(sop)``."""

    name: str = ""
    #: True when ``f`` mixes the neurons of a layer (softmax): its derivative is a Jacobian.
    couples_neurons: bool = False

    def forward(self, sop: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
        """Return ``f(sop)``, written into ``out`` (identity returns ``sop`` itself)."""
        raise NotImplementedError

    def derivative(self, sop: np.ndarray, output: np.ndarray,
                   out: np.ndarray | None = None) -> np.ndarray:
        """Element-wise ``dOutput/dSop`` at ``sop`` (``output`` is ``f(sop)``, already known),
        written into ``out`` when given, else into a new array."""
        raise NotImplementedError

    def backward(
        self, output_grad: np.ndarray, sop: np.ndarray, output: np.ndarray, out: np.ndarray,
        scratch: np.ndarray,
    ) -> np.ndarray:
        """The chain rule through the activation: ``dError/dSop = dError/dOutput * f'(sop)``,
        written into ``out`` (``scratch`` holds the derivative meanwhile)."""
        return self.xp.multiply(self.derivative(sop, output, out=scratch), output_grad, out=out)

    def formula(self) -> str:
        """The derivative as a formula, for explanations."""
        raise NotImplementedError

    def __call__(self, sop: np.ndarray) -> np.ndarray:
        """Apply the activation to a new array (convenience, not the hot path)."""
        xp = self.xp
        sop = xp.asarray(sop, dtype=xp.result_type(sop, xp.float32))
        with np.errstate(over="ignore"):
            return self.forward(sop, xp.empty_like(sop), xp.empty_like(sop))

    def __repr__(self) -> str:
        return f"<activation {self.name}>"
