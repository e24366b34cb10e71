"""Adam and its variants: AMSGrad, AdamW (decoupled weight decay) and NAdam (Nesterov momentum).

With ``g`` the gradient, ``t`` the update's number (from 1), ``b1``, ``b2`` the moments' decay
rates and ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t`` their bias corrections, every one of them keeps
``m = b1 * m + (1 - b1) * g`` and ``v = b2 * v + (1 - b2) * g^2``, then:

=======  ===================================================================================
adam     ``p = p - lr * (m / c1) / (sqrt(v / c2) + eps)`` (Kingma & Ba 2015, Algorithm 1)
amsgrad  ``v_max = max(v_max, v)``; ``p = p - lr * (m / c1) / (sqrt(v_max / c2) + eps)``
         (Reddi et al. 2018, with PyTorch's bias correction: the maximum of the raw ``v``)
adamw    ``p = p * (1 - lr * weight_decay)``, then Adam's step (Loshchilov & Hutter 2019;
         PyTorch's ``AdamW``, default ``weight_decay = 0.01``). The decay applies to every
         parameter, biases included, as PyTorch's does to every parameter it is given; the
         ``l2`` option, a term of the loss, spares the biases.
nadam    ``mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))``, ``P_t = mu_1 * ... * mu_t``;
         ``p = p - lr * (1 - mu_t) / (1 - P_t) * g / d - lr * mu_(t+1) / (1 - P_t * mu_(t+1))
         * m / d`` with ``d = sqrt(v / c2) + eps`` (Dozat 2016, PyTorch's ``NAdam``, default
         ``momentum_decay = 0.004``)
=======  ===================================================================================

PyTorch computes ``m`` as ``m + (1 - b1) * (g - m)`` (``lerp``), the same number to within an
ulp; ``benchmarks/torch_oracle.py`` compares 50 updates of each.
"""

from __future__ import annotations

import numpy as np

from .optimizer_base import Optimizer, check_fraction, check_positive

__all__ = ["AMSGrad", "Adam", "AdamW", "NAdam"]


class Adam(Optimizer):
    """Adam with the published bias correction (see the module docstring)."""

    name = "adam"
    state_names = ("first_moment", "second_moment")
    second_scratch = True

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__()
        self.beta1 = check_fraction(beta1, "beta1")
        self.beta2 = check_fraction(beta2, "beta2")
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def step(self, params, grads, lr):
        self.steps += 1
        self._first_correction = 1.0 - self.beta1**self.steps
        self._second_correction = 1.0 - self.beta2**self.steps
        for index, (param, grad) in enumerate(zip(params, grads)):
            self._update(index, param, grad, lr, self._scratch[index])

    def _moments(self, index, grad, scratch):
        """``m`` and ``v`` updated in place; returns them."""
        xp = self.xp
        first = self.state["first_moment"][index]
        second = self.state["second_moment"][index]
        xp.multiply(first, self.beta1, out=first)
        xp.multiply(grad, 1.0 - self.beta1, out=scratch)
        xp.add(first, scratch, out=first)
        xp.multiply(second, self.beta2, out=second)
        xp.multiply(grad, grad, out=scratch)
        xp.multiply(scratch, 1.0 - self.beta2, out=scratch)
        xp.add(second, scratch, out=second)
        return first, second

    def _adam_step(self, index, param, first, second, lr, scratch):
        """``p -= lr * (m / c1) / (sqrt(second / c2) + eps)``."""
        xp = self.xp
        xp.divide(second, self._second_correction, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.add(scratch, self.eps, out=scratch)
        step = self._second_scratch[index]
        xp.divide(first, self._first_correction, out=step)
        xp.divide(step, scratch, out=step)
        xp.multiply(step, lr, out=step)
        xp.subtract(param, step, out=param)

    def _update(self, index, param, grad, lr, scratch):
        first, second = self._moments(index, grad, scratch)
        self._adam_step(index, param, first, second, lr, scratch)

    def _moment_terms(self, grad, state):
        g = np.float64(grad)
        b1, b2 = np.float64(self.beta1), np.float64(self.beta2)
        m = np.float64(state["first_moment"]) * b1 + g * np.float64(1.0 - self.beta1)
        v = np.float64(state["second_moment"]) * b2 + (g * g) * np.float64(1.0 - self.beta2)
        return m, v, [
            ("m before", "the first moment after the previous update",
             float(state["first_moment"])),
            ("v before", "the second moment after the previous update",
             float(state["second_moment"])),
            ("m", f"b1 * m + (1 - b1) * g  (b1 = {self.beta1!r})", float(m)),
            ("v", f"b2 * v + (1 - b2) * g^2  (b2 = {self.beta2!r})", float(v)),
        ]

    def _step_terms(self, param, m, v, lr, steps, v_name="v"):
        first_correction = 1.0 - self.beta1**steps
        second_correction = 1.0 - self.beta2**steps
        v_hat = v / np.float64(second_correction)
        denominator = np.sqrt(v_hat) + np.float64(self.eps)
        m_hat = m / np.float64(first_correction)
        step = (m_hat / denominator) * np.float64(lr)
        return [
            ("t", "the update's number", float(steps)),
            ("m_hat", "m / (1 - b1^t)", float(m_hat)),
            ("v_hat", f"{v_name} / (1 - b2^t)", float(v_hat)),
            ("lr * m_hat / (sqrt(v_hat) + eps)", f"the step  (eps = {self.eps!r})", float(step)),
            ("p", "p - lr * m_hat / (sqrt(v_hat) + eps)", float(np.float64(param) - step)),
        ]

    def terms(self, param, grad, lr, state, steps):
        m, v, terms = self._moment_terms(grad, state)
        return [*terms, *self._step_terms(param, m, v, lr, steps)]


class AMSGrad(Adam):
    """Adam whose denominator uses the largest second moment so far, ``v_max = max(v_max,
    v)`` (PyTorch's ``Adam(amsgrad=True)``), so the step never grows from a shrinking ``v``."""

    name = "amsgrad"
    state_names = ("first_moment", "second_moment", "max_second_moment")

    def _update(self, index, param, grad, lr, scratch):
        first, second = self._moments(index, grad, scratch)
        largest = self.state["max_second_moment"][index]
        self.xp.maximum(largest, second, out=largest)
        self._adam_step(index, param, first, largest, lr, scratch)

    def terms(self, param, grad, lr, state, steps):
        m, v, terms = self._moment_terms(grad, state)
        before = np.float64(state["max_second_moment"])
        largest = np.maximum(before, v)
        return [*terms, ("v_max before", "the largest v so far", float(before)),
                ("v_max", "max(v_max, v)", float(largest)),
                *self._step_terms(param, m, largest, lr, steps, "v_max")]


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p = p * (1 - lr * weight_decay)`` before Adam's
    step, on every parameter (PyTorch's ``AdamW``; see the module docstring)."""

    name = "adamw"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(beta1, beta2, eps)
        weight_decay = float(weight_decay)
        if not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.weight_decay = weight_decay

    def hyperparameters(self):
        return {**super().hyperparameters(), "weight_decay": self.weight_decay}

    def _update(self, index, param, grad, lr, scratch):
        self.xp.multiply(param, 1.0 - lr * self.weight_decay, out=param)
        super()._update(index, param, grad, lr, scratch)

    def terms(self, param, grad, lr, state, steps):
        decayed = np.float64(param) * np.float64(1.0 - lr * self.weight_decay)
        m, v, terms = self._moment_terms(grad, state)
        *steps_terms, (name, formula, value) = self._step_terms(decayed, m, v, lr, steps)
        return [("p decayed", f"p * (1 - lr * weight_decay)  (weight_decay = "
                 f"{self.weight_decay!r})", float(decayed)), *terms, *steps_terms,
                (name, "p decayed - lr * m_hat / (sqrt(v_hat) + eps)", value)]


class NAdam(Adam):
    """Adam with Nesterov momentum and PyTorch's momentum schedule (``NAdam``; see the module
    docstring). The product ``P_t`` of the ``mu`` is a function of ``steps`` alone: it is kept
    as a running product and made again from ``steps`` whenever they disagree (after a
    checkpoint is restored), by the same multiplications, so a resumed run goes on bit for
    bit."""

    name = "nadam"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 momentum_decay: float = 0.004) -> None:
        super().__init__(beta1, beta2, eps)
        self.momentum_decay = check_positive(momentum_decay, "momentum_decay")
        self._product_at = (0, 1.0)

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum_decay": self.momentum_decay}

    def mu(self, t: int) -> float:
        """``mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))``."""
        return self.beta1 * (1.0 - 0.5 * (0.96 ** (t * self.momentum_decay)))

    def mu_product(self, t: int) -> float:
        """``P_t = mu_1 * mu_2 * ... * mu_t`` (``P_0 = 1``)."""
        done, product = self._product_at
        if done > t:
            done, product = 0, 1.0
        for step in range(done + 1, t + 1):
            product *= self.mu(step)
        self._product_at = (t, product)
        return product

    def _coefficients(self, t: int, lr: float) -> tuple[float, float]:
        """The factors of ``g / d`` and ``m / d`` in the step of update ``t``."""
        mu, mu_next, product = self.mu(t), self.mu(t + 1), self.mu_product(t)
        return lr * (1.0 - mu) / (1.0 - product), lr * mu_next / (1.0 - product * mu_next)

    def step(self, params, grads, lr):
        self.steps += 1
        self._second_correction = 1.0 - self.beta2**self.steps
        self._factors = self._coefficients(self.steps, lr)
        for index, (param, grad) in enumerate(zip(params, grads)):
            self._update(index, param, grad, lr, self._scratch[index])

    def _update(self, index, param, grad, lr, scratch):
        xp = self.xp
        first, second = self._moments(index, grad, scratch)
        xp.divide(second, self._second_correction, out=scratch)
        xp.sqrt(scratch, out=scratch)
        xp.add(scratch, self.eps, out=scratch)            # d
        step = self._second_scratch[index]
        for factor, term in zip(self._factors, (grad, first)):
            xp.divide(term, scratch, out=step)
            xp.multiply(step, factor, out=step)
            xp.subtract(param, step, out=param)

    def terms(self, param, grad, lr, state, steps):
        m, v, terms = self._moment_terms(grad, state)
        g_factor, m_factor = self._coefficients(steps, lr)
        d = np.sqrt(v / np.float64(1.0 - self.beta2**steps)) + np.float64(self.eps)
        gradient_step = (np.float64(grad) / d) * np.float64(g_factor)
        momentum_step = (m / d) * np.float64(m_factor)
        after = (np.float64(param) - gradient_step) - momentum_step
        return [*terms, ("t", "the update's number", float(steps)),
                ("mu_t", f"b1 * (1 - 0.5 * 0.96^(t * {self.momentum_decay!r}))",
                 self.mu(steps)),
                ("P_t", "mu_1 * ... * mu_t", self.mu_product(steps)),
                ("d", f"sqrt(v / (1 - b2^t)) + eps  (eps = {self.eps!r})", float(d)),
                ("lr (1 - mu_t) / (1 - P_t) * g / d", "the gradient's step",
                 float(gradient_step)),
                ("lr mu_(t+1) / (1 - P_t mu_(t+1)) * m / d", "the momentum's step",
                 float(momentum_step)),
                ("p", "p - the gradient's step - the momentum's step", float(after))]
