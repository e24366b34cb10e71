"""What the page draws, as JSON-able data: a part of
:class:`~chainrule.playground.session.Session`.

The state of the run at the update on show (weights, the last step's gradients, the row shown
of a batch shown row by row, the curves, the metrics on all rows), and for 2-D data the
pictures: every neuron's output over the plane. Arrays travel as base64 of little-endian
float64 (exact) or float32 (pictures).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..metrics import score
from ..network import Network
from ..preparation import split
from ..reference import forward
from .inputs import whole

__all__ = ["GRID", "HEATMAP_NEURONS", "Views", "encode"]

#: Points per side of the grid on which every neuron's output is drawn (2-D data only), and
#: the widest layer drawn that way.
GRID = 32
HEATMAP_NEURONS = 32


def encode(array: np.ndarray, dtype: str = "<f8") -> str:
    """An array's values as base64 of little-endian float64 (exact) or float32 (pictures)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


class Views:
    """The state and pictures of a run (mixed into
    :class:`~chainrule.playground.session.Session`)."""

    def _shown_state(self) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The parameters and batch normalisation's running statistics on show: before the
        pending update while a batch is shown row by row (``None``: the run's own), else the
        run's."""
        if self.sample:
            return self.last["before"], self.last["statistics"]
        return self.net.flat_parameters(), None

    def _probe_at(self, parameters: np.ndarray,
                  statistics: list[np.ndarray] | None = None) -> Network:
        """The probe network with ``parameters`` and the running ``statistics`` (default: the
        run's), which batch normalisation evaluates with."""
        self.probe.flat_parameters()[...] = parameters
        if any(self.net.normalization):
            self.probe.set_running_statistics(
                self.net.running_statistics() if statistics is None else statistics)
        return self.probe

    def _test_metrics(self) -> dict[str, Any]:
        X, Y = self.data.held_out
        if len(X) == 0:
            return {}
        return score(self.net, X, Y)

    def state(self, since: int = 0, pictures: bool = True, points: bool = True,
              metrics: bool = True) -> dict[str, Any]:
        """Everything the page draws, as JSON-able data (arrays as base64 float64): curves
        from epoch ``since`` on, the neurons' pictures over the plane (2-D data) if
        ``pictures``, the data's points too if ``points`` (they change only with the
        configuration), and the loss, accuracy or R² on all training and held-out rows if
        ``metrics`` (while playing, the page asks for those a few times a second)."""
        since = whole(since, "since")
        net = self._probe_at(*self._shown_state())
        trainer = self.trainer
        out: dict[str, Any] = {
            "position": self.shown_position, "sample": self.sample, "furthest": self.furthest,
            "epoch": trainer.epoch, "batch": trainer.batch, "n_batches": trainer.n_batches,
            "epochs": trainer.epochs, "finished": trainer.finished,
            "stopped": self.stopped or (trainer.stopped_reason or "reached the last epoch "
                                        f"({trainer.epochs})" if trainer.finished else None),
            "sizes": net.sizes, "activations": net.activations, "bias": net.has_bias,
            "loss_name": net.loss_name, "task": self.data.task,
            "weights": [encode(w) for w in net.weights],
            "biases": [None if b is None else encode(b) for b in net.biases],
            "learning_rate": trainer.schedule(trainer.learning_rate, trainer.epoch, trainer.epochs),
            "n_train": len(self.data.X_train), "n_test": self.data.n_held,
            "batch_size": self.batch_size or len(self.data.X_train),
            "edits": self.edits, "every": self.every, "snapshots": len(self.snapshots),
            "classes": self.data.metadata.get("classes", []),
        }
        last = self.last
        if last is not None:
            record = last["record"]
            if self.sample:
                weight_grads, bias_grads = self._partial_gradients(record, self.sample)
                out["pending"] = self._pending(record)
            else:
                weight_grads, bias_grads = record.weight_grads, record.bias_grads
            out["gradients"] = {"weights": [encode(g) for g in weight_grads],
                                "biases": [None if g is None else encode(g) for g in bias_grads]}
            out["step_loss"] = record.loss
        out["curves"] = {k: v[since:] for k, v in self.curves.items()}
        out["curves_from"] = since
        if metrics:
            out["metrics"] = {"train": score(net, self.data.X_train, self.data.Y_train)}
            if self.data.n_held:
                out["metrics"]["test"] = score(net, *self.data.held_out)
        if pictures and self.raw.X.shape[1] == 2:
            out["pictures"] = self._pictures(net, points)
        return out

    def _partial_gradients(self, record, rows: int):
        """The gradient summed over the batch's first ``rows`` rows (each row's term already
        carries the batch's 1/n): what the update will use once every row is in (L2 aside)."""
        inputs = [record.inputs, *record.outputs[:-1]]
        weight_grads = [layer_in[:rows].T @ delta[:rows]
                        for layer_in, delta in zip(inputs, record.deltas)]
        bias_grads = [delta[:rows].sum(axis=0) if b is not None else None
                      for delta, b in zip(record.deltas, record.bias_grads)]
        return weight_grads, bias_grads

    def _pending(self, record) -> dict[str, Any]:
        row = self.sample - 1
        return {"rows_shown": self.sample, "rows": len(record.rows),
                "row": int(record.rows[row]),
                "x": record.inputs[row].tolist(), "target": record.targets[row].tolist(),
                "sops": [s[row].tolist() for s in record.sops],
                "outputs": [o[row].tolist() for o in record.outputs]}

    def _pictures(self, net: Network, points: bool) -> dict[str, Any]:
        X = self.raw.X
        low, high = X.min(axis=0), X.max(axis=0)
        margin = np.maximum((high - low) * 0.1, 1e-3)
        low, high = low - margin, high + margin
        xs = np.linspace(low[0], high[0], GRID)
        ys = np.linspace(high[1], low[1], GRID)  # the picture's first row is the top
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        scaling = self.data.metadata.get("scaling")  # none for inputs not standardised
        inputs = grid if scaling is None else \
            (grid - np.asarray(scaling["mean"])) / np.asarray(scaling["scale"])
        with np.errstate(all="ignore"):
            _, outputs = forward(net, inputs)
        layers = [encode(np.concatenate([inputs[:, 0], inputs[:, 1]]), "<f4")]
        for output in outputs:
            layers.append(encode(output.T, "<f4") if output.shape[1] <= HEATMAP_NEURONS
                          else None)
        out = {"grid": GRID, "extent": [low[0], high[0], low[1], high[1]], "layers": layers}
        if points:
            out.update(points=encode(X), labels=self._labels().tolist(),
                       test_rows=self._test_rows().tolist())
        return out

    def _labels(self) -> np.ndarray:
        y = self.raw.y
        return y if y.ndim == 1 else y[:, 0]

    def _test_rows(self) -> np.ndarray:
        c = self.config
        if not c["test_split"]:
            return np.arange(0)
        return split(len(self.raw.X), c["test_split"], c["seed"])[1]
