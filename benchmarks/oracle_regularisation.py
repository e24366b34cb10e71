"""L1, the elastic net, clipping and sample weights against PyTorch: an oracle nobody here wrote.

Each case trains the same network from the same weights on the same batches (float64, 50
updates, batches in order) in chainrule and in PyTorch, the penalty written as a term of the
loss in PyTorch (``loss + l1 * sum|W| + l2 / 2 * sum W^2``, weights only, not biases),
clipping through ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` between
``backward()`` and ``step()``, sample weights as ``reduction="none"`` and the weighted mean
``sum_i w_i loss_i / sum_i w_i`` of each batch. A case returns the largest absolute difference
of every step's loss and of the final parameters; the bar is 1e-10.

``CASES`` is read by ``benchmarks/torch_oracle.py`` (``tests/test_torch_oracle.py`` runs them);
``python benchmarks/oracle_regularisation.py`` prints this module's table alone.
"""

from __future__ import annotations

import numpy as np
import torch

from chainrule import Network

torch.set_default_dtype(torch.float64)

UPDATES = 50
BATCH = 8
ROWS = 40


def _problem(seed: int = 0, classes: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(ROWS, 4))
    if classes:
        Y = np.eye(3)[rng.integers(0, 3, size=ROWS)]
    else:
        Y = rng.normal(size=(ROWS, 3))
    return X, Y


def _network(classes: bool) -> Network:
    if classes:
        return Network([4, 8, 3], activation="tanh", output_activation="softmax",
                       loss="categorical_cross_entropy", seed=7)
    return Network([4, 8, 3], activation="tanh", output_activation="identity",
                   loss="squared_error", seed=7)


def _chainrule(net: Network, X, Y, sample_weight=None, **options) -> tuple[list, np.ndarray]:
    epochs = -(-UPDATES * BATCH // ROWS)
    trainer = net.trainer(X, Y, epochs=epochs, batch_size=BATCH, shuffle=False,
                          progress=False, sample_weight=sample_weight, **options)
    losses = [trainer.step().loss for _ in range(UPDATES)]
    return losses, net.flat_parameters().copy()


def _torch(net: Network, X, Y, sample_weight=None, optimizer="gd", learning_rate=0.05,
           l1=0.0, l2=0.0, clip_norm=None, clip_value=None) -> tuple[list, np.ndarray]:
    layers = []
    for weight, bias in zip(net.weights, net.biases):
        linear = torch.nn.Linear(*weight.shape, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias.copy()))
        layers.append(linear)
    parameters = [p for layer in layers for p in (layer.weight, layer.bias)]
    if optimizer == "adam":
        step = torch.optim.Adam(parameters, lr=learning_rate)
    else:
        step = torch.optim.SGD(parameters, lr=learning_rate)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    W_t = None if sample_weight is None else torch.from_numpy(np.asarray(sample_weight, float))
    classes = net.loss_name == "categorical_cross_entropy"
    losses = []
    for update in range(UPDATES):
        start = (update * BATCH) % ROWS
        rows = slice(start, start + BATCH)
        sop = torch.tanh(layers[0](X_t[rows]))
        sop = layers[1](sop)
        if classes:  # -sum_k t_k log softmax_k, per sample
            per_row = -(Y_t[rows] * torch.log_softmax(sop, dim=1)).sum(dim=1)
        else:  # squared error summed over the outputs, per sample
            per_row = torch.nn.functional.mse_loss(sop, Y_t[rows], reduction="none").sum(dim=1)
        if W_t is None:
            loss = per_row.mean()
        else:
            loss = (W_t[rows] * per_row).sum() / W_t[rows].sum()
        for layer in layers:
            if l1:
                loss = loss + l1 * layer.weight.abs().sum()
            if l2:
                loss = loss + 0.5 * l2 * (layer.weight ** 2).sum()
        step.zero_grad()
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(parameters, clip_value)
        step.step()
        losses.append(float(loss.detach()))
    flat = np.concatenate([np.concatenate([layer.weight.detach().numpy().T.ravel(),
                                           layer.bias.detach().numpy()]) for layer in layers])
    return losses, flat


def _compare(classes: bool = False, sample_weight=None, **options) -> float:
    """The largest absolute difference between chainrule's and PyTorch's step losses and
    final parameters."""
    X, Y = _problem(classes=classes)
    options.setdefault("learning_rate", 0.05)
    ours_losses, ours = _chainrule(_network(classes), X, Y, sample_weight, **options)
    theirs_losses, theirs = _torch(_network(classes), X, Y, sample_weight, **options)
    return float(max(np.max(np.abs(np.subtract(ours_losses, theirs_losses))),
                     np.max(np.abs(ours - theirs))))


def _weights(seed: int = 1) -> np.ndarray:
    weights = np.random.default_rng(seed).uniform(0.0, 3.0, size=ROWS)
    weights[::7] = 0.0
    return weights


#: ``(name, function() -> max_abs_diff)``; each function trains both and compares.
CASES = [
    ("l1 (as a loss term)", lambda: _compare(l1=0.01)),
    ("l1, softmax + cross-entropy, adam", lambda: _compare(True, l1=0.003, optimizer="adam",
                                                           learning_rate=0.01)),
    ("elastic net (l1 + l2)", lambda: _compare(l1=0.01, l2=0.02)),
    ("clip_norm (clip_grad_norm_)", lambda: _compare(clip_norm=0.3)),
    ("clip_norm after l2, adam", lambda: _compare(True, l2=0.01, clip_norm=0.2,
                                                  optimizer="adam", learning_rate=0.01)),
    ("clip_value (clip_grad_value_)", lambda: _compare(clip_value=0.02)),
    ("clip_norm then clip_value", lambda: _compare(clip_norm=0.3, clip_value=0.02)),
    ("sample weights (weighted mean)", lambda: _compare(sample_weight=_weights())),
    ("sample weights, cross-entropy, adam", lambda: _compare(
        True, sample_weight=_weights(2), optimizer="adam", learning_rate=0.01)),
    ("sample weights + l1 + clip_norm", lambda: _compare(
        sample_weight=_weights(3), l1=0.01, clip_norm=0.3)),
]


if __name__ == "__main__":  # this module's cases alone, through the runner's table
    from torch_oracle import main

    raise SystemExit(main(["--only", ",".join(name for name, _ in CASES)]))
