"""The fixed cost of a step, where the arithmetic is tiny: W1 (the tutorial's one neuron, per
iteration) and W9 (the generic engine on a 2-3-1 network, per update). Run through
``workers.py``, one measurement per process."""

from __future__ import annotations

import math
import time

import numpy as np


# ---------------------------------------------------------------------------- W1
def w1(impl: str, iterations: int = 10_000, warm_up: bool = True) -> dict:
    if warm_up:  # the same code on a short run first, so no implementation runs cold
        w1(impl, iterations=500, warm_up=False)
    x, target, lr, w0 = 0.1, 0.3, 0.5, 0.5
    if impl in ("chainrule", "chainrule_published", "chainrule_reach"):
        # What `chainrule tutorial` runs on numbers: the scalar reference (the correct
        # derivative, or the published slip), and the training on that finds when a target
        # not reached yet would be (here: from w0 to within 1e-9, never: all the iterations).
        from chainrule import tutorial

        start = time.perf_counter()
        if impl == "chainrule_reach":
            tutorial.iterations_to_reach([x], target, lr, [w0], 1e-300, limit=iterations)
            w = float("nan")
        else:
            run = tutorial.run_scalar([x], target, lr, iterations, [w0],
                                      as_published=impl == "chainrule_published")
            w = float(run.weights[-1, 0])
        elapsed = time.perf_counter() - start
    elif impl == "tutorial":
        # The tutorial's style: numpy scalars, sigmoid evaluated inside each derivative.
        def sigmoid(sop):
            return 1.0 / (1 + np.exp(-1 * sop))

        w = w0
        start = time.perf_counter()
        for _ in range(iterations):
            sop = w * x
            predicted = sigmoid(sop)
            g1 = 2 * (predicted - target)
            g2 = sigmoid(sop) * (1.0 - sigmoid(sop))
            g3 = x
            w = w - lr * (g3 * g2 * g1)
        elapsed = time.perf_counter() - start
        w = float(w)
    elif impl == "python_floats":
        w = w0
        start = time.perf_counter()
        for _ in range(iterations):
            predicted = 1.0 / (1.0 + math.exp(-w * x))
            w -= lr * x * predicted * (1.0 - predicted) * 2.0 * (predicted - target)
        elapsed = time.perf_counter() - start
    elif impl == "torch":
        import torch

        weight = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
        xt = torch.tensor(x, dtype=torch.float64)
        start = time.perf_counter()
        for _ in range(iterations):
            error = (torch.sigmoid(weight * xt) - target) ** 2
            error.backward()
            with torch.no_grad():
                weight -= lr * weight.grad
            weight.grad = None
        elapsed = time.perf_counter() - start
        w = float(weight)
    elif impl == "micrograd":
        from micrograd.engine import Value

        def sigmoid(value):
            # micrograd 0.1.0 has no exp: one graph node with its own backward, as its ops do.
            s = 1.0 / (1.0 + math.exp(-value.data))
            out = Value(s, (value,), "sigmoid")

            def backward():
                value.grad += s * (1.0 - s) * out.grad

            out._backward = backward
            return out

        w = w0
        start = time.perf_counter()
        for _ in range(iterations):
            weight = Value(w)
            error = (sigmoid(weight * x) - target) ** 2
            error.backward()
            w = w - lr * weight.grad
        elapsed = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown impl {impl}")
    return {"us_per_iter": elapsed / iterations * 1e6, "final_w": w}


# ---------------------------------------------------------------------------- W9
def w9(impl: str, updates: int = 20_000) -> dict:
    """The generic engine's fixed cost per update: a 2-3-1 sigmoid network, squared error, one
    sample, plain gradient descent (full batch of that one sample); microseconds per update.
    ``chainrule`` is ``Network.fit`` (one epoch per update); ``torch`` is eager PyTorch
    (zero_grad, forward, backward, ``torch.optim.SGD.step``); ``sklearn`` is
    ``MLPRegressor.partial_fit`` (one call per update)."""
    x, target, lr = np.array([[0.1, 0.2]]), np.array([[0.3]]), 0.1
    if impl == "chainrule":
        import chainrule

        def run(n):
            net = chainrule.Network([2, 3, 1], activation="sigmoid", seed=0)
            net.fit(x, target, epochs=n, learning_rate=lr, progress=False)
            return float(net.predict(x)[0, 0])
    elif impl == "torch":
        import torch

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(),
                                    torch.nn.Linear(3, 1), torch.nn.Sigmoid()).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        xt, yt = torch.from_numpy(x), torch.from_numpy(target)

        def run(n):
            for _ in range(n):
                optimizer.zero_grad()
                ((model(xt) - yt) ** 2).sum().backward()
                optimizer.step()
            with torch.no_grad():
                return float(model(xt)[0, 0])
    elif impl == "sklearn":
        import warnings

        from sklearn.neural_network import MLPRegressor

        model = MLPRegressor(hidden_layer_sizes=(3,), activation="logistic", solver="sgd",
                             learning_rate_init=lr, momentum=0, nesterovs_momentum=False,
                             alpha=0, batch_size=1, shuffle=False, random_state=0)

        def run(n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(n):
                    model.partial_fit(x, target[:, 0])
            return float(model.predict(x)[0])
    else:
        raise SystemExit(f"unknown impl {impl}")
    run(max(updates // 20, 1))  # warm
    times = []
    for _ in range(3):
        start = time.perf_counter()
        predicted = run(updates)
        times.append(time.perf_counter() - start)
    return {"us_per_update": min(times) / updates * 1e6, "predicted": predicted}
