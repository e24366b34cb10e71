"""Random networks and data for the property tests (Hypothesis strategies)."""

import numpy as np
from hypothesis import strategies as st

from chainrule import Network

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "selu", "gelu", "gelu_tanh",
          "softplus", "silu"]
# (loss, output activation) pairs that make sense together.
OUTPUT_PAIRS = [
    ("squared_error", "sigmoid"), ("squared_error", "identity"), ("squared_error", "tanh"),
    ("squared_error", "softmax"), ("squared_error", "relu"), ("squared_error", "leaky_relu"),
    ("mse", "identity"), ("mse", "sigmoid"), ("mse", "softmax"), ("mse", "tanh"),
    ("binary_cross_entropy", "sigmoid"),
    ("squared_error", "softplus"), ("mse", "gelu"), ("mse", "gelu_tanh"), ("squared_error", "elu"),
    ("squared_error", "silu"),
    ("categorical_cross_entropy", "softmax"), ("categorical_cross_entropy", "sigmoid"),
]


def targets_for(loss, output, rng, n, k):
    if loss == "categorical_cross_entropy":
        return rng.dirichlet(np.ones(k), size=n)
    if loss == "binary_cross_entropy" or output in ("sigmoid", "softmax"):
        return rng.random((n, k))
    return rng.normal(size=(n, k))


@st.composite
def networks_and_data(draw, max_width=5, max_inputs=4, max_samples=6):
    """``(net, X, Y)``: up to 4 hidden layers, every hidden activation, every (loss, output)
    pair, bias on or off per layer, every initializer, data drawn from the same seed."""
    hidden = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=4))
    n_inputs = draw(st.integers(1, max_inputs))
    n_samples = draw(st.integers(1, max_samples))
    loss, output = draw(st.sampled_from(OUTPUT_PAIRS))
    hidden_activation = draw(st.sampled_from(HIDDEN))
    bias = draw(st.lists(st.booleans(), min_size=5, max_size=5))
    init = draw(st.sampled_from(["xavier", "he", "uniform"]))
    seed = draw(st.integers(0, 2**32 - 1))
    n_outputs = 3 if output == "softmax" else (seed % 3) + 1
    sizes = [n_inputs, *hidden, n_outputs]
    net = Network(sizes, activation=hidden_activation, output_activation=output,
                  bias=bias[: len(sizes) - 1], loss=loss, init=init, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_inputs))
    return net, X, targets_for(loss, output, rng, n_samples, n_outputs)
