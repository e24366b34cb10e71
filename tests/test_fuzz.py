"""Fuzz targets for the CSV reader and the model loader.

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
