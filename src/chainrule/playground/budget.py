"""What a session costs in memory, estimated from the network's sizes and the data's rows before
anything large is made, and the caps it is held to.

A session holds its data, its network (with the copies it keeps to look at past weights and
the step on show), at most :data:`~chainrule.playground.session.SNAPSHOT_BYTES` of snapshots,
the last watched step's values, and its curves. A request adds to that while it runs: a step
adds the engine's temporaries, the metrics on every row and its answer (the weights and
gradients as exact float64, about 21 MB of JSON for a million parameters); the chain of one
weight adds, for every neuron above it, that neuron's values and paths on every row of the
batch. The formulas below count each of those arrays (float64, eight bytes a number) the way
the engine, :func:`~chainrule.explain.explain` and the session allocate them;
``tests/test_playground_session.py`` checks them against the memory that
:mod:`tracemalloc` measures.

The caps: one request may add at most :data:`MAX_STEP_BYTES` (a configuration whose step would
cost more is refused before it is built, with the batch size that would fit; a chain that would
cost more is refused when asked for), and all sessions together may hold at most
:data:`MEMORY_BUDGET` (``serve(memory_budget=...)``), each counted as what it holds and what a
step request adds (:attr:`Footprint.total`), a chain reserving what it adds beyond that while it
runs: the least recently used sessions make room, and what cannot have room is refused with a
503 (413 for a run larger than the whole budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..arrays import ROWS_PER_SLICE

__all__ = ["MAX_STEP_BYTES", "MEMORY_BUDGET", "Footprint", "TooLarge", "chain_bytes", "estimate",
           "largest_batch", "size"]

#: The most one request (a step with its answer, or the chain of one weight) may add to what its
#: session holds.
MAX_STEP_BYTES = 512 * 2**20
#: The most all sessions together may hold, by default.
MEMORY_BUDGET = 2 * 2**30
FLOAT = 8
#: Points per side of the grid the neurons' pictures are drawn on (session.GRID).
GRID_ROWS = 32 * 32
#: The optimizers' state buffers, each as large as the parameters.
OPTIMIZER_BUFFERS = {"gd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1,
                     "adam": 2, "amsgrad": 3, "adamw": 2, "nadam": 2, "adadelta": 2}
#: Copies of the parameters a session keeps: the network's, its gradients and their slice sums;
#: the probe network's and its gradients; the initial ones; the step on show's weights before,
#: gradients and update, and the trainer's own copy before a watched step; the answer's.
PARAMETER_COPIES = 12
#: Arrays of a layer's values (one number per row and neuron) a watched step keeps: the engine's
#: workspace (sops, outputs, output gradients, deltas, scratch) and the step's record (sops,
#: outputs, deltas, output gradients); and those it makes while it runs.
WORKSPACE_ARRAYS, RECORD_ARRAYS = 5, 4
#: Arrays of a layer's values a workspace adds for a normalised layer (its centred sop and
#: ``z``, batch norm's scale on every row or layer norm's ``xhat`` and ``dxhat``) and for a
#: layer with dropout (its factors, and the mask and ``z > 0`` as bytes: a quarter each).
NORMALIZED_WORKSPACE_ARRAYS, DROPOUT_WORKSPACE_ARRAYS = 4, 1.5
#: Bytes of one epoch's records (the session's curves and the trainer's history, as Python
#: floats in lists): up to 8 records, twice.
EPOCH_BYTES = 16 * 40
#: What the estimate adds for what it does not count (small lists, NumPy's overheads).
SLACK = 2 * 2**20
#: The session's snapshots (session.MAX_SNAPSHOTS, session.SNAPSHOT_BYTES): at most this many,
#: or this many bytes and one more snapshot (or three snapshots, where one is larger).
MAX_SNAPSHOTS, SNAPSHOT_BYTES = 64, 32 * 2**20


def size(nbytes: float) -> str:
    """Bytes as a person reads them: ``"1.5 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"  # pragma: no cover


@dataclass(frozen=True)
class Footprint:
    """A session's memory in bytes: what it ``held`` between requests apart from the step on
    show, the values of the step on show it ``kept``, what a ``step`` request adds while it
    runs, and what the ``chain`` of a weight of the first layer adds (the costliest; a chain
    reserves what it adds beyond ``step`` when it is asked for)."""

    held: int
    kept: int
    step: int
    chain: int

    @property
    def step_cost(self) -> int:
        """What one step costs: the values it keeps and what it adds while it runs."""
        return self.kept + self.step

    @property
    def total(self) -> int:
        """What the session may take at once: what it holds, and a step request."""
        return self.held + self.kept + self.step


def _values(rows: int, sizes: list[int]) -> int:
    """The bytes of one array of every layer's values on ``rows`` rows."""
    return rows * sum(sizes[1:]) * FLOAT


def estimate(sizes: list[int], optimizer: str, batch_rows: int, n_train: int, n_held: int,
             n_points: int, epochs: int, couples_outputs: bool = False,
             normalization: str | list[str | None] | None = None,
             dropout: float | list[float] = 0.0) -> Footprint:
    """The footprint of a session training the network of layer ``sizes`` with ``optimizer``
    on batches of ``batch_rows`` of its ``n_train`` training rows (``n_held`` held out,
    ``n_points`` drawn) for at most ``epochs`` epochs; ``couples_outputs`` for a softmax
    output; ``normalization`` and ``dropout`` the hidden layers' (one value for all, or one
    per hidden layer)."""
    n_in, n_out = sizes[0], sizes[-1]
    parameters = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    buffers = OPTIMIZER_BUFFERS.get(optimizer, 2)
    n_rows = n_train + n_held
    data = FLOAT * (n_points * (n_in + n_out) + 2 * n_rows * (n_in + n_out))
    snapshot = FLOAT * (parameters * (1 + buffers) + n_train)
    snapshots = min((MAX_SNAPSHOTS + 1) * snapshot, max(SNAPSHOT_BYTES, 2 * snapshot) + snapshot)
    held = (data + snapshots + FLOAT * parameters * (PARAMETER_COPIES + 2 * buffers)
            + epochs * EPOCH_BYTES + SLACK)
    # The step on show: the engine's workspace for the batches (and the epoch's shorter last
    # one), the record's copies of every layer's values, its rows' inputs and targets.
    if not isinstance(normalization, list):  # one kind for every hidden layer
        normalization = [normalization] * (len(sizes) - 2)
    if not isinstance(dropout, list):
        dropout = [dropout] * (len(sizes) - 2)
    layered_width = sum(width * (NORMALIZED_WORKSPACE_ARRAYS * bool(kind)
                                 + DROPOUT_WORKSPACE_ARRAYS * bool(p))
                        for width, kind, p in zip(sizes[1:], normalization, dropout))
    remainder = n_train % batch_rows if batch_rows < n_train else 0
    kept = (WORKSPACE_ARRAYS * _values(batch_rows + remainder, sizes)
            + FLOAT * layered_width * (batch_rows + remainder)
            + RECORD_ARRAYS * _values(min(batch_rows, ROWS_PER_SLICE), sizes)
            + 2 * FLOAT * batch_rows * (n_in + n_out))
    # A step request: the step's own temporaries, or the metrics on every row (a workspace per
    # slice of rows), or the pictures (every layer on the grid), whichever is largest; and the
    # answer: the weights and gradients as base64 of float64, in the dict, the JSON text and its
    # bytes.
    # (A watched step makes its record while the previous one is still on show.)
    batch = min(batch_rows, ROWS_PER_SLICE)
    working = max((WORKSPACE_ARRAYS + RECORD_ARRAYS) * _values(batch, sizes),
                  WORKSPACE_ARRAYS * _values(min(max(n_train, n_held), ROWS_PER_SLICE), sizes)
                  + FLOAT * layered_width * min(max(n_train, n_held), ROWS_PER_SLICE)
                  + 4 * FLOAT * n_rows * n_out,
                  3 * _values(GRID_ROWS, sizes))
    step = working + 8 * FLOAT * parameters
    kinds = [*normalization, None]  # never the output layer
    chain = chain_bytes(sizes, 0, max(batch_rows, n_train), couples_outputs, kinds,
                        [*dropout, 0.0])
    return Footprint(int(held), int(kept), int(step), int(chain))


#: The arrays of a layer's width per row that a chain adds for a normalised layer and for a
#: layer with dropout, at or below the weight's layer and above it, where each of its neurons is
#: on the chain's paths and keeps its terms on every row, as arrays and as the answer's lists
#: (see :func:`chain_bytes`; measured with ``tests/test_playground_session.py``'s estimate
#: test: about 11 below, 27 above for batch norm and 31-64 for layer norm, 4 and 8 for dropout).
NORMALIZED_ARRAYS = 12
NORMALIZED_ABOVE = {"batch": 32, "layer": 72}
DROPOUT_ARRAYS, DROPOUT_ABOVE = 4, 10


def chain_bytes(sizes: list[int], layer: int, rows: int, couples_outputs: bool = False,
                normalization: list[str | None] | None = None,
                dropout: list[float] | None = None) -> int:
    """What the chain of a weight of ``layer`` on ``rows`` rows adds: the finite differences'
    float64 copy of the network (its parameters, gradients and scratch) and their forward
    passes (a workspace of their own per slice of rows), and
    :func:`~chainrule.explain.explain`'s values: the reference's arrays of every layer on every
    row (sops, outputs, derivatives, dError/dOutput and deltas, and for an output layer that
    couples its neurons, softmax, its Jacobian), and for each hidden neuron on the chain one
    product per path to the layer above (every neuron of every hidden layer above ``layer``,
    and the neuron the weight feeds); a normalised layer (``normalization``, one kind or None
    per layer) keeps about :data:`NORMALIZED_ARRAYS` more arrays of its width on every row (the
    reference's z, xhat and activated, and the chain's centred, dxhat, dsop and the others of
    :func:`~chainrule.explain_layers.layer_arrays`), :data:`NORMALIZED_ABOVE` above ``layer``
    (each neuron's terms, on the paths); a layer with dropout (``dropout``, one rate per layer)
    :data:`DROPOUT_ARRAYS` or :data:`DROPOUT_ABOVE` (its mask and factors)."""
    widths = sizes[1:]
    last = len(widths) - 1
    paths = (widths[layer + 1] if layer < last else 0) + sum(
        widths[at] * widths[at + 1] for at in range(layer + 1, last))
    per_row = 5 * sum(widths) + (widths[-1] ** 2 if couples_outputs else 0) + paths
    per_row += max(widths)  # a derivative's temporary
    for at, (width, kind, rate) in enumerate(zip(widths, normalization or [None] * len(widths),
                                                 dropout or [0.0] * len(widths))):
        above = at > layer
        if kind:
            per_row += width * (NORMALIZED_ABOVE[kind] if above else NORMALIZED_ARRAYS)
        if rate:
            per_row += width * (DROPOUT_ABOVE if above else DROPOUT_ARRAYS)
    forward = _values(rows, sizes) + WORKSPACE_ARRAYS * _values(min(rows, ROWS_PER_SLICE), sizes)
    copy = 3 * sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) * FLOAT
    # And the answer's Python objects and JSON: a dict per neuron and path, and the shown rows'
    # values of every layer as lists of floats.
    neurons = 1 + sum(widths[layer + 1:])
    objects = 4096 * (neurons + paths) + 160 * min(rows, 32) * sum(widths)
    return int(math.ceil((copy + forward + rows * per_row * FLOAT + objects) * 1.2))


def largest_batch(sizes: list[int], optimizer: str, n_train: int, n_held: int, n_points: int,
                  epochs: int, normalization: str | list[str | None] | None = None,
                  dropout: float | list[float] = 0.0) -> int:
    """The largest batch whose step fits :data:`MAX_STEP_BYTES` (0 where none does)."""
    low, high = 0, n_train
    while low < high:
        middle = (low + high + 1) // 2
        cost = estimate(sizes, optimizer, middle, n_train, n_held, n_points, epochs,
                        normalization=normalization, dropout=dropout)
        if cost.step_cost <= MAX_STEP_BYTES:
            low = middle
        else:
            high = middle - 1
    return low


class TooLarge(ValueError):
    """A request beyond the playground's limits on sizes or memory (answered 413)."""

    status = 413
