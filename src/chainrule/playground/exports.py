"""What a run gives away, as the page offers it: a part of
:class:`~chainrule.playground.session.Session`.

The model file of the weights on show (``chainrule.load`` and ``chainrule predict`` take it),
the data file the command and the code read (an uploaded file as it came, generated data as
CSV), the curves as CSV, what the page says of the data, and the equivalent command and code
(:mod:`~chainrule.playground.commands`).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from typing import Any

from .. import persistence
from .config import ConfigError

__all__ = ["Exports"]


class Exports:
    """The downloads of a run (mixed into :class:`~chainrule.playground.session.Session`)."""

    def model_bytes(self) -> bytes:
        """The network on show as a model file (``chainrule.load`` and ``chainrule predict``
        take it)."""
        net = self.net.copy()
        parameters, statistics = self._shown_state()
        net.flat_parameters()[...] = parameters
        if statistics is not None:
            net.set_running_statistics(statistics)
        net.metadata = dict(self.net.metadata)
        net.metadata["training"] = {**self.trainer.history.params,
                                    "epochs_done": self.trainer.history.epochs,
                                    "updates": self.position,
                                    "stopped_reason": self.stopped or "playground"}
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.npz")
            persistence.save(net, path)
            with open(path, "rb") as handle:
                return handle.read()

    def data_info(self) -> dict[str, Any]:
        """What the page says of the data: its name, task, target and class labels (as the
        table has them), and for an uploaded file its columns and what the preparation did
        with each (:meth:`~chainrule.features.Preparation.summary`)."""
        prep = self.data.preparation
        labels = list(self.data.metadata.get("classes") or [])
        info: dict[str, Any] = {
            "name": self.raw.name, "task": self.data.task,
            "target": prep.target_name if prep is not None else self.raw.target_name,
            "labels": labels, "classes": len(labels),
            "features": list(self.data.metadata.get("feature_names") or []),
            "rows": len(self.raw.X), "file": None, "columns": None, "summary": None}
        if self.upload is not None:
            info.update(file=self.upload["name"], columns=self.upload["columns"],
                        summary=prep.summary())
        return info

    def data_file(self) -> str:
        """The name of the data file the command and the code read: the uploaded file as it was
        uploaded, or ``<data>.csv`` as :meth:`data_csv` writes it."""
        return self.upload["name"] if self.upload is not None else f"{self.raw.name}.csv"

    def data_bytes(self) -> bytes:
        """The data file's bytes: the uploaded file itself (so that ``chainrule train`` and
        ``chainrule predict`` read the table as it came), or :meth:`data_csv`."""
        if self.upload is None:
            return self.data_csv().encode("utf-8")
        try:
            with open(self.upload["path"], "rb") as handle:
                return handle.read()
        except OSError:
            raise ConfigError(f"{self.upload['name']}: the file is no longer on this server "
                              "(more files were uploaded since): upload it again") from None

    def data_csv(self) -> str:
        """The data as a CSV file that ``chainrule train`` reads to the same numbers: for an
        uploaded CSV file, the file itself."""
        if self.upload is not None:
            try:
                return self.data_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{self.upload['name']} is not a CSV file; its bytes are "
                                 "data_bytes()") from None
        raw = self.raw
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*raw.feature_names, raw.target_name])
        y = raw.y.reshape(len(raw.y), -1)
        for features, target in zip(raw.X.tolist(), y.tolist()):
            writer.writerow([repr(v) for v in features] +
                            [str(int(t)) if raw.task == "classification" else repr(t)
                             for t in target])
        return out.getvalue()

    def curves_csv(self) -> str:
        out = io.StringIO()
        keys = [k for k in self.curves if self.curves[k]]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for epoch in range(len(self.curves.get("loss", []))):
            writer.writerow([epoch + 1, *(repr(self.curves[k][epoch])
                                          if epoch < len(self.curves[k]) else "" for k in keys)])
        return out.getvalue()

    def commands(self) -> dict[str, Any]:
        """The ``chainrule`` command and the Python code that give this run's numbers."""
        from .commands import equivalents
        return equivalents(self)
