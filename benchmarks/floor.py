"""The floor: a minimal hand-written NumPy MLP step (forward, backward, update, nothing else).

relu hidden layers, softmax + categorical cross-entropy output, plain SGD. No loss value, no
checks, no history: what NumPy itself costs for the same arithmetic.
"""

from __future__ import annotations

import numpy as np


class NumpyFloor:
    def __init__(self, sizes, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.weights = [(rng.uniform(-1, 1, (a, b)) * np.sqrt(6 / (a + b))).astype(dtype)
                        for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(b, dtype=dtype) for b in sizes[1:]]

    def step(self, X, Y, lr):
        activations = [X]
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            activations.append(np.maximum(activations[-1] @ W + b, 0))
        logits = activations[-1] @ self.weights[-1] + self.biases[-1]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        delta = (probabilities - Y) / len(X)
        for layer in range(len(self.weights) - 1, -1, -1):
            grad_W = activations[layer].T @ delta
            grad_b = delta.sum(axis=0)
            if layer:
                delta = (delta @ self.weights[layer].T) * (activations[layer] > 0)
            self.weights[layer] -= lr * grad_W
            self.biases[layer] -= lr * grad_b

    def fit(self, X, Y, epochs, batch_size, lr, seed=0):
        rng = np.random.default_rng(seed)
        n = len(X)
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                index = order[start:start + batch_size]
                self.step(X[index], Y[index], lr)

    def predict(self, X):
        out = X
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            out = np.maximum(out @ W + b, 0)
        return out @ self.weights[-1] + self.biases[-1]
