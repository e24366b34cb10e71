"""Dropout, batch and layer normalisation against PyTorch: an oracle nobody here wrote.

Each case trains the same network from the same weights on the same batches (float64, 50
updates of plain gradient descent or Adam, batches in order) in chainrule and in PyTorch, each
hidden layer ``Linear -> [BatchNorm1d | LayerNorm] -> tanh -> [dropout]``. Dropout is given
chainrule's own masks: PyTorch's output is multiplied by ``mask / (1 - p)`` (the mask each
chainrule step drew) instead of drawing from torch's generator, so both compute the same step.
``nn.BatchNorm1d`` (eps 1e-5, momentum 0.1, running variance unbiased) and ``nn.LayerNorm``
(eps 1e-5, elementwise affine) are PyTorch's own modules. A case returns the largest absolute
difference of every step's loss, the final parameters (weights, biases, gammas, betas) and
the running statistics, or of the predictions in evaluation mode; the bar is 1e-10.

``CASES`` is read by ``benchmarks/torch_oracle.py``; ``python benchmarks/oracle_layers.py``
prints this module's table alone.
"""

from __future__ import annotations

import numpy as np
import torch

from chainrule import Network

torch.set_default_dtype(torch.float64)

UPDATES = 50
BATCH = 8
ROWS = 40


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(ROWS, 4))
    return X, np.eye(3)[rng.integers(0, 3, size=ROWS)]


def _network(dropout, normalization) -> Network:
    # No bias before a batch norm (beta shifts instead): its gradient is 0 but for rounding,
    # which Adam's m / sqrt(v) would turn into steps of +-learning_rate, different in each.
    kinds = normalization if isinstance(normalization, list) else [normalization] * 2
    net = Network([4, 8, 6, 3], activation="tanh", output_activation="softmax",
                  loss="categorical_cross_entropy", seed=7, dropout=dropout,
                  normalization=normalization, bias=[k != "batch" for k in kinds] + [True])
    rng = np.random.default_rng(11)  # scales and shifts away from 1 and 0
    for gamma, beta in zip(net.gammas, net.betas):
        if gamma is not None:
            gamma[...] = rng.uniform(0.5, 1.5, gamma.shape)
            beta[...] = rng.normal(scale=0.3, size=beta.shape)
    return net


def _chainrule(net: Network, X, Y, optimizer: str, learning_rate: float):
    """Step losses, the masks each step drew, and the final parameters and statistics."""
    epochs = -(-UPDATES * BATCH // ROWS)
    trainer = net.trainer(X, Y, epochs=epochs, batch_size=BATCH, shuffle=False,
                          progress=False, optimizer=optimizer, learning_rate=learning_rate)
    losses, masks = [], []
    for _ in range(UPDATES):
        losses.append(trainer.step().loss)
        masks.append(net.dropout_masks())
    return losses, masks, net.flat_parameters().copy(), net.running_statistics()


class _Torch:
    """The same network in PyTorch, from ``net``'s weights before training."""

    def __init__(self, net: Network):
        self.net, self.linears, self.norms = net, [], []
        for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
            linear = torch.nn.Linear(*weight.shape, bias=bias is not None)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight.T.copy()))
                if bias is not None:
                    linear.bias.copy_(torch.from_numpy(bias.copy()))
            self.linears.append(linear)
            kind, width = net.normalization[layer], weight.shape[1]
            norm = None if kind is None else torch.nn.BatchNorm1d(width, eps=1e-5, momentum=0.1) \
                if kind == "batch" else torch.nn.LayerNorm(width, eps=1e-5)
            if norm is not None:
                with torch.no_grad():
                    norm.weight.copy_(torch.from_numpy(net.gammas[layer].copy()))
                    norm.bias.copy_(torch.from_numpy(net.betas[layer].copy()))
            self.norms.append(norm)

    def parameters(self) -> list:
        """In chainrule's flat order: every weight and bias, then each gamma and beta."""
        params = [p for linear in self.linears for p in (linear.weight, linear.bias)
                  if p is not None]
        return params + [p for norm in self.norms if norm is not None
                         for p in (norm.weight, norm.bias)]

    def train(self, on: bool) -> None:
        for norm in self.norms:
            if norm is not None:
                norm.train(on)

    def forward(self, X, masks=None):
        h = X
        for layer, (linear, norm) in enumerate(zip(self.linears, self.norms)):
            h = linear(h)
            if layer == len(self.linears) - 1:
                return h
            if norm is not None:
                h = norm(h)
            h = torch.tanh(h)
            p = self.net.dropout[layer]
            if p and masks is not None:  # chainrule's mask, not torch's generator
                h = h * torch.from_numpy(masks[layer]) / (1.0 - p)
        return h

    def flat(self) -> np.ndarray:
        pieces = []
        for linear in self.linears:
            pieces.append(linear.weight.detach().numpy().T.ravel())
            if linear.bias is not None:
                pieces.append(linear.bias.detach().numpy())
        for norm in self.norms:
            if norm is not None:
                pieces += [norm.weight.detach().numpy(), norm.bias.detach().numpy()]
        return np.concatenate(pieces)

    def statistics(self) -> list:
        return [a.detach().numpy().copy() for norm in self.norms
                if isinstance(norm, torch.nn.BatchNorm1d)
                for a in (norm.running_mean, norm.running_var)]


def _torch_training(model: _Torch, X, Y, masks, optimizer: str, learning_rate: float):
    parameters = model.parameters()
    step = torch.optim.Adam(parameters, lr=learning_rate) if optimizer == "adam" \
        else torch.optim.SGD(parameters, lr=learning_rate)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    model.train(True)
    losses = []
    for update in range(UPDATES):
        start = (update * BATCH) % ROWS
        rows = slice(start, start + BATCH)
        sop = model.forward(X_t[rows], masks[update])
        loss = -(Y_t[rows] * torch.log_softmax(sop, dim=1)).sum(dim=1).mean()
        step.zero_grad()
        loss.backward()
        step.step()
        losses.append(float(loss.detach()))
    return losses


def _trained(dropout, normalization, optimizer="gd", learning_rate=0.1):
    """Both trained; ``(chainrule's net, torch's model, largest absolute difference)``."""
    X, Y = _problem()
    net = _network(dropout, normalization)
    model = _Torch(net)
    ours, masks, parameters, statistics = _chainrule(net, X, Y, optimizer, learning_rate)
    theirs = _torch_training(model, X, Y, masks, optimizer, learning_rate)
    gaps = [np.max(np.abs(np.subtract(ours, theirs))), np.max(np.abs(parameters - model.flat()))]
    gaps += [np.max(np.abs(a - b)) for a, b in zip(statistics, model.statistics(), strict=True)]
    return net, model, float(max(gaps))


def _training(dropout=0.0, normalization=None, **options) -> float:
    return _trained(dropout, normalization, **options)[2]


def _evaluation(dropout=0.0, normalization=None) -> float:
    """After training: predictions in evaluation mode (running statistics, no dropout)."""
    net, model, gap = _trained(dropout, normalization)
    X = np.random.default_rng(5).normal(size=(25, 4))
    model.train(False)
    with torch.no_grad():
        theirs = torch.softmax(model.forward(torch.from_numpy(X)), dim=1).numpy()
    return float(max(gap, np.max(np.abs(net.predict(X) - theirs))))


def _gradients(normalization) -> float:
    """One batch's gradients, every parameter, in training mode."""
    X, Y = _problem(1)
    net = _network(0.0, normalization)
    model = _Torch(net)
    net.gradients(X, Y)
    sop = model.forward(torch.from_numpy(X))
    loss = -(torch.from_numpy(Y) * torch.log_softmax(sop, dim=1)).sum(dim=1).mean()
    loss.backward()
    theirs = []
    for linear in model.linears:
        theirs.append(linear.weight.grad.numpy().T.ravel())
        if linear.bias is not None:
            theirs.append(linear.bias.grad.numpy())
    for norm in model.norms:
        if norm is not None:
            theirs += [norm.weight.grad.numpy(), norm.bias.grad.numpy()]
    return float(np.max(np.abs(net.flat_gradients() - np.concatenate(theirs))))


#: ``(name, function() -> max_abs_diff)``; each function runs both and compares.
CASES = [
    ("dropout 0.3 (the same masks), gd", lambda: _training(dropout=0.3)),
    ("dropout 0.5 / 0.2 per layer, adam", lambda: _training(dropout=[0.5, 0.2],
                                                            optimizer="adam",
                                                            learning_rate=0.01)),
    ("batch norm gradients (BatchNorm1d, training)", lambda: _gradients("batch")),
    ("batch norm, 50 updates + running stats", lambda: _training(normalization="batch")),
    ("batch norm, evaluation (running stats)", lambda: _evaluation(normalization="batch")),
    ("layer norm gradients (LayerNorm)", lambda: _gradients("layer")),
    ("layer norm, 50 updates", lambda: _training(normalization="layer")),
    ("layer norm, evaluation", lambda: _evaluation(normalization="layer")),
    ("batch + layer norm + dropout, adam", lambda: _training(
        dropout=[0.3, 0.1], normalization=["batch", "layer"], optimizer="adam",
        learning_rate=0.01)),
    ("batch norm + dropout, evaluation", lambda: _evaluation(dropout=0.4,
                                                             normalization="batch")),
]


if __name__ == "__main__":  # this module's cases alone, through the runner's table
    from torch_oracle import main

    raise SystemExit(main(["--only", ",".join(name for name, _ in CASES)]))
