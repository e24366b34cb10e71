"""The oracle's maths cases (see ``torch_oracle.py`` for the contract): the new activations,
optimizers and schedules, each against PyTorch's operation of the same name.

Every training case starts a 5-7-3 network (``mse``, identity output) and its torch mirror from
the same weights and trains both for 50 updates: 10 epochs of 5 batches of 8 rows, in order, no
shuffle. The difference reported is the largest over all weights and biases; the relative one
is that over the largest weight. An activation has a second case: its values and derivatives
(torch's autograd) on 4001 sops in [-10, 10].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from chainrule import Network
from chainrule.activations import get_activation
from chainrule.optimizers import get_optimizer
from chainrule.schedules import LinearWarmup, Plateau

torch.set_default_dtype(torch.float64)

SIZES, ROWS, BATCH, EPOCHS = (5, 7, 3), 40, 8, 10  # 5 batches an epoch: 50 updates

#: chainrule's activation name: PyTorch's function.
TORCH_ACTIVATIONS = {
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    "softplus": F.softplus,  # threshold=20: the sops here stay below it
    "silu": F.silu,
}


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ROWS, SIZES[0])), 0.5 * rng.normal(size=(ROWS, SIZES[-1]))


def _mirror(net: Network) -> list[torch.nn.Linear]:
    """Torch layers holding ``net``'s weights (torch's are ``(n_out, n_in)``)."""
    layers = []
    for weight, bias in zip(net.weights, net.biases):
        layer = torch.nn.Linear(*weight.shape)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight.T))
            layer.bias.copy_(torch.tensor(bias))
        layers.append(layer)
    return layers


def _difference(net: Network, layers: list[torch.nn.Linear]) -> tuple[float, float]:
    ours = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(net.weights,
                                                                         net.biases)])
    theirs = np.concatenate([np.concatenate([layer.weight.detach().numpy().T.ravel(),
                                             layer.bias.detach().numpy()]) for layer in layers])
    absolute = float(np.max(np.abs(ours - theirs)))
    return absolute, absolute / float(np.max(np.abs(theirs)))


def train_both(activation: str, optimizer: str, torch_optimizer, learning_rate: float,
               settings: dict | None = None, schedule=None, torch_schedule=None,
               monitor: bool = False) -> tuple[Network, list, list[float], list[float]]:
    """Train chainrule and torch alike; returns chainrule's network, torch's layers and the
    learning rates each used, epoch by epoch (torch's, then chainrule's).
    ``torch_optimizer(parameters, lr)`` makes torch's optimizer, ``torch_schedule(optimizer)``
    its scheduler (stepped after each epoch, with the epoch's mean loss when ``monitor``)."""
    X, Y = _data()
    net = Network(list(SIZES), activation=activation, output_activation="identity",
                  loss="mse", seed=4)
    layers = _mirror(net)
    parameters = [p for layer in layers for p in layer.parameters()]
    chosen = torch_optimizer(parameters, learning_rate)
    scheduler = None if torch_schedule is None else torch_schedule(chosen)
    function = TORCH_ACTIVATIONS.get(activation, torch.tanh)
    rates = []
    for _ in range(EPOCHS):
        rates.append(chosen.param_groups[0]["lr"])
        losses = []
        for start in range(0, ROWS, BATCH):
            x = torch.tensor(X[start:start + BATCH])
            y = torch.tensor(Y[start:start + BATCH])
            loss = F.mse_loss(layers[1](function(layers[0](x))), y)
            chosen.zero_grad()
            loss.backward()
            chosen.step()
            losses.append(loss.item())
        if scheduler is not None:
            scheduler.step(float(np.mean(losses))) if monitor else scheduler.step()
    history = net.fit(X, Y, epochs=EPOCHS, learning_rate=learning_rate, batch_size=BATCH,
            shuffle=False, optimizer=get_optimizer(optimizer, **(settings or {})),
            schedule=schedule)
    return net, layers, rates, history["learning_rate"]


def activation_values(name: str) -> tuple[float, float]:
    """``f`` and ``f'`` on a grid of sops against torch's function and autograd."""
    sop = np.linspace(-10.0, 10.0, 4001).reshape(1, -1)
    function = get_activation(name)
    with np.errstate(over="ignore"):
        output = function(sop)
        slope = function.derivative(sop, output)
    z = torch.tensor(sop, requires_grad=True)
    value = TORCH_ACTIVATIONS[name](z)
    value.sum().backward()
    theirs = np.concatenate([value.detach().numpy().ravel(), z.grad.numpy().ravel()])
    ours = np.concatenate([output.ravel(), slope.ravel()])
    absolute = float(np.max(np.abs(ours - theirs)))
    return absolute, absolute / float(np.max(np.abs(theirs)))


def activation_training(name: str) -> tuple[float, float]:
    """50 updates of gradient descent through a hidden layer of ``name``."""
    net, layers, _, _ = train_both(name, "gd", lambda p, lr: torch.optim.SGD(p, lr=lr), 0.1)
    return _difference(net, layers)


def optimizer_case(name: str, torch_optimizer, learning_rate: float,
                   settings: dict | None = None) -> tuple[float, float]:
    net, layers, _, _ = train_both("tanh", name, torch_optimizer, learning_rate, settings)
    return _difference(net, layers)


def warmup_case() -> tuple[float, float]:
    """linear_warmup against LinearLR over 4 of the 10 epochs: the weights, and the rates."""
    net, layers, rates, ours = train_both(
        "tanh", "gd", lambda p, lr: torch.optim.SGD(p, lr=lr), 0.1,
        schedule=LinearWarmup(warmup_epochs=4, start=0.25),
        torch_schedule=lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=0.25, end_factor=1.0, total_iters=4))
    absolute, relative = _difference(net, layers)
    rate_gap = float(np.max(np.abs(np.array(ours) - rates)))
    return max(absolute, rate_gap), relative


def plateau_case() -> tuple[float, float]:
    """plateau against ReduceLROnPlateau on the epoch's training loss; the rates must drop."""
    net, layers, rates, ours = train_both(
        "tanh", "gd", lambda p, lr: torch.optim.SGD(p, lr=lr), 0.3,
        schedule=Plateau(factor=0.5, patience=1, threshold=0.05),
        torch_schedule=lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, mode="min", factor=0.5, patience=1, threshold=0.05, threshold_mode="rel"),
        monitor=True)
    if len(set(ours)) < 2:
        raise AssertionError("the plateau case never reduced the rate: it compares nothing")
    absolute, relative = _difference(net, layers)
    return max(absolute, float(np.max(np.abs(np.array(ours) - rates)))), relative


CASES = [
    *((f"{name}: values and slopes", lambda name=name: activation_values(name))
      for name in TORCH_ACTIVATIONS),
    *((f"{name}: 50 updates (gd)", lambda name=name: activation_training(name))
      for name in TORCH_ACTIVATIONS),
    ("adam (the harness itself)", lambda: optimizer_case(
        "adam", lambda p, lr: torch.optim.Adam(p, lr=lr), 0.01)),
    ("amsgrad", lambda: optimizer_case(
        "amsgrad", lambda p, lr: torch.optim.Adam(p, lr=lr, amsgrad=True), 0.01)),
    ("adamw (weight_decay 0.1)", lambda: optimizer_case(
        "adamw", lambda p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=0.1), 0.01,
        {"weight_decay": 0.1})),
    ("nadam", lambda: optimizer_case(
        "nadam", lambda p, lr: torch.optim.NAdam(p, lr=lr), 0.01)),
    ("adadelta (lr 1.0)", lambda: optimizer_case(
        "adadelta", lambda p, lr: torch.optim.Adadelta(p, lr=lr), 1.0)),
    ("linear_warmup", warmup_case),
    ("plateau", plateau_case),
]
