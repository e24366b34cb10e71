"""Fuzz targets for the CSV readers, the Parquet reader and the model loader.

In ``make test`` they run as ordinary Hypothesis tests (the profile's examples); ``make fuzz``
runs them with the ``fuzz`` profile, thousands of examples each. The property is the same
either way: whatever the bytes, the reader returns what the file says or raises a
``ValueError`` that names the file — never another exception, never altered weights.
"""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule import Network
from chainrule.datasets import read_csv
from chainrule.persistence import ModelFileError, _digest

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", " ", "x", "1e309", "-0", "nan", "1,5", '"2"', '"a,b"', "\ufeff1",
                     "\x00", "1\n2", "0x10", "1_000", "  3  ", "'"]),
    st.text(max_size=8),
)


@st.composite
def csv_texts(draw):
    width = draw(st.integers(1, 5))
    header = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "label", "", "a"]),
                                     st.text(max_size=5)), min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(width - 1, 0), max_size=width + 1),
                         max_size=6))
    separator = draw(st.sampled_from(["\n", "\r\n"]))
    text = separator.join(",".join(row) for row in [header, *rows])
    return draw(st.sampled_from(["", "\ufeff"])) + text


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_texts())
def test_csv_reader_returns_the_file_or_names_it(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        header, data = read_csv(str(path))
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    assert data.ndim == 2 and data.shape[1] == len(header) and data.shape[0] >= 1
    assert np.isfinite(data).all() and len(set(header)) == len(header)


def _model(tmp_path):
    net = Network([3, 4, 2], output_activation="softmax", loss="categorical_cross_entropy",
                  seed=0)
    net.metadata = {"task": "classification", "classes": [0, 1]}
    path = tmp_path / "model.npz"
    net.save(str(path))
    return net, path


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_model_bytes_never_load_altered_weights(tmp_path, data):
    net, path = _model(tmp_path)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            raw[at:at + 8] = bytes(8)
        if not raw:
            break
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    try:
        loaded = chainrule.load(str(damaged))
    except ModelFileError as exc:
        assert str(damaged) in str(exc)
        return
    for a, b in zip(loaded.parameters(), net.parameters()):
        np.testing.assert_array_equal(a, b)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_forged_headers_are_checked_field_by_field(tmp_path, data):
    """A header edited anywhere, its checksum recomputed as a forger would: the schema still
    decides, with a ModelFileError, or the file loads as a working network."""
    net, path = _model(tmp_path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("chainrule.json")))
    target = header
    keys = data.draw(st.lists(st.sampled_from(
        ["architecture", "metadata", "sizes", "activations", "bias", "loss", "classes", "task",
         "dtype", "format_version", "leaky_relu_slopes", "scaling"]), min_size=1, max_size=2))
    for key in keys[:-1]:
        if isinstance(target.get(key), dict):
            target = target[key]
    target[keys[-1]] = data.draw(JSON_VALUES)
    header.pop("checksum", None)
    model = {k: v for k, v in arrays.items() if k.startswith("layers.")}
    header["checksum"] = _digest(model, header)
    with open(path, "wb") as handle:
        np.savez(handle, **{"chainrule.json": np.array(json.dumps(header))}, **arrays)
    try:
        loaded = chainrule.load(str(path))
    except ModelFileError:
        return
    assert np.isfinite(loaded.predict(np.zeros((2, loaded.n_inputs)))).all()


# ---------------------------------------------------------------------------- the typed reader
TABLE_CELLS = st.one_of(
    CELLS,
    st.sampled_from(["true", "False", "yes", "NA", "null", "2024-01-31", "2024-13-01",
                     "12:30", "1e-320", "-1e308", "9" * 400, "a" * 300, "\u00e9", "x\ty",
                     '"quoted ""twice"""', "\r", " , "]),
)


@st.composite
def table_texts(draw):
    """CSV-ish text as people have it, and as they break it: ragged rows, quotes, blank lines,
    types mixed in a column, a header missing or repeated."""
    width = draw(st.integers(1, 5))
    header = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "label", "", "Unnamed: 0"]),
                                     st.text(max_size=5)), min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(TABLE_CELLS, min_size=max(width - 1, 0),
                                  max_size=width + 1), max_size=30))
    separator = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(row) for row in [header, *rows]]
    if lines and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", " ", ",,"])))
    return draw(st.sampled_from(["", "\ufeff"])) + separator.join(lines)


def _one_line_value_error(path, read, named=True):
    """``read(path)`` returns, or raises a ValueError of one line (that names the file)."""
    try:
        read(str(path))
    except ValueError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message.strip(), message
        assert not named or str(path) in message, message
    # Any other exception fails the test with its traceback.


def _prepared(path):
    from chainrule.preparation import prepare

    return prepare(path, test_split=0.25, validation_split=0.1, seed=0)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=table_texts(), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_the_typed_reader_and_preparation_take_any_text(tmp_path, text, encoding):
    from chainrule.tables import read_table

    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _one_line_value_error(path, read_table)
    _one_line_value_error(path, _prepared, named=False)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=600), suffix=st.sampled_from([".csv", ".parquet"]))
def test_the_typed_reader_and_preparation_take_any_bytes(tmp_path, raw, suffix):
    from chainrule.tables import read_table

    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(raw)
    _one_line_value_error(path, read_table)
    _one_line_value_error(path, _prepared, named=False)


def _parquet_bytes() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.normal(size=300), "s": [f"v{i % 4}" for i in range(300)],
                      "label": rng.integers(0, 2, 300)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=100)
    return sink.getvalue()


PARQUET = _parquet_bytes()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_parquet_file_is_one_line_naming_it(tmp_path, data):
    from chainrule.tables import iter_batches, read_table

    raw = bytearray(PARQUET)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "zero", "cut"]))
        if kind == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "zero":
            raw[at:at + 16] = bytes(len(raw[at:at + 16]))
        else:
            del raw[at:at + data.draw(st.integers(1, 64))]
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(raw))
    _one_line_value_error(path, read_table)
    _one_line_value_error(path, _prepared, named=False)
    _one_line_value_error(path, lambda p: list(iter_batches(p, ["a", "s"])))
