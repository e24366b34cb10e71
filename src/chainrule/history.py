"""What a training run recorded, epoch by epoch."""

from __future__ import annotations

from typing import Any

from .notebook import history_html

__all__ = ["History"]


class History:
    """Per-epoch records of a training run, as a dict of lists (Keras' convention).

    ``history["loss"]`` (or ``history.history["loss"]``) is the training loss of each epoch: the
    mean over the epoch's batches of the loss each batch had *before* its update (with full-batch
    gradient descent, the loss of the weights that the epoch started from). Other keys:
    ``val_loss``, ``accuracy`` and ``val_accuracy`` (classification losses), ``learning_rate``
    and ``time`` (seconds since the start of ``fit``).

    ``stopped_reason`` says why training ended; ``epochs`` and ``updates`` count what was done.
    ``predicted`` holds, for a network with one output trained on one sample, the prediction
    made in each epoch (by the weights the epoch started from, as the tutorial's loop prints
    it); with ``fit(..., record_predictions=True)``, the predictions on all of ``X`` after each
    epoch instead.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"loss": [], "learning_rate": [], "time": []}
        self.stopped_reason: str = ""
        self.updates: int = 0
        self.predicted: list[Any] = []
        self.params: dict[str, Any] = {}
        self.diverged: bool = False
        self.best_epoch: int | None = None

    @property
    def epochs(self) -> int:
        """The number of epochs recorded."""
        return len(self.history["loss"])

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def record(self, **values: float) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)

    def last(self, key: str) -> float | None:
        values = self.history.get(key)
        return values[-1] if values else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (used by model files and checkpoints)."""
        return {
            "history": {k: [float(v) for v in vs] for k, vs in self.history.items()},
            "stopped_reason": self.stopped_reason,
            "epochs": self.epochs,
            "updates": self.updates,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        history = cls()
        history.history.update({k: [float(x) for x in v]
                                for k, v in data.get("history", {}).items()})
        history.stopped_reason = str(data.get("stopped_reason", ""))
        history.updates = int(data.get("updates", 0))
        history.params = dict(data.get("params", {}))
        return history

    def plot(self, path: str | None = None, ax: Any = None):
        """Draw the error against the epoch (and the prediction, when recorded); see plotting."""
        from .plotting import plot_history

        return plot_history(self, path=path, ax=ax)

    def _repr_html_(self) -> str:
        """The curves (an inline SVG) and the last epoch, for Jupyter (see
        :mod:`chainrule.notebook`)."""
        return history_html(self)

    def __repr__(self) -> str:
        last = self.last("loss")
        return (
            f"<History epochs={self.epochs} updates={self.updates} last loss={last!r} "
            f"stopped_reason={self.stopped_reason!r}>"
        )
