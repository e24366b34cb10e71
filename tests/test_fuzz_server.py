"""Fuzz targets for the playground's message handlers, as tests/test_fuzz.py has them for the CSV
reader and the model loader.

In ``make test`` they run as ordinary Hypothesis tests (the profile's examples); with
``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``) thousands of examples each. The property is the same
either way: whatever the configuration, the action, the query string or the uploaded bytes, the
server answers a JSON ``{"error": ...}`` with a 4xx (or a 503 for memory) and goes on answering —
never a 500, never an exception out of the application.
"""

from __future__ import annotations

import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import Network
from chainrule.playground.config import DEFAULT
from chainrule.playground.connections import listen, make_server
from chainrule.playground.server import create_app

TOKEN = "fuzz-token"
ALLOWED = {200, 400, 403, 404, 405, 408, 413, 503}
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow], deadline=None)

#: Numbers where conversions break: beyond a double, beyond int64 and 2**53, signed zeros,
#: the smallest and largest doubles, and JSON's non-finite spellings.
EDGES = st.sampled_from([0, -0.0, 1, -1, 0.5, 2**31, 2**53, 2**53 + 1, 2**63, -2**63, 2**64,
                         10**20, 10**400, -10**400, 1e308, -1e308, 1.7976931348623157e308,
                         5e-324, 1e-308, float("inf"), float("-inf"), float("nan")])
NUMBERS = st.one_of(EDGES, st.integers(-5, 40), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-10**500, 10**500))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
JSON = st.recursive(LEAVES, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12)


def _small(values):
    """Mostly valid small values, sometimes anything."""
    return st.one_of(values, values, values, JSON)


DATA = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["generator", "builtin", "upload", "web", 3]),
    "name": st.sampled_from(["circle", "xor", "spiral", "moons", "plane", "iris", "tutorial",
                             "nope"]),
    "samples": _small(st.integers(4, 300)), "noise": _small(st.floats(0, 1)),
    "classes": _small(st.integers(2, 10)), "seed": _small(st.integers(0, 2**32 - 1)),
    "added": _small(st.lists(st.lists(NUMBERS, min_size=3, max_size=3), max_size=3)),
    "removed": _small(st.lists(st.integers(0, 50), max_size=3)),
    "upload": st.text(max_size=30), "target": LEAVES, "task": LEAVES,
})
CONFIGS = st.fixed_dictionaries({}, optional={
    "data": st.one_of(DATA, JSON), "test_split": _small(st.floats(0, 0.9)),
    "hidden": _small(st.lists(st.integers(1, 24), max_size=3)),
    "activations": _small(st.lists(st.sampled_from(["tanh", "relu", "sigmoid", "softmax",
                                                    "identity", "nope"]), max_size=4)),
    "bias": _small(st.booleans()), "loss": st.sampled_from(
        ["binary_cross_entropy", "categorical_cross_entropy", "mse", "squared_error", "x"]),
    "init": st.sampled_from(["xavier", "he", "uniform", "zeros?"]),
    "seed": _small(st.integers(0, 100)),
    "optimizer": st.sampled_from(["gd", "adam", "momentum", "nesterov", "rmsprop", "adagrad"]),
    "optimizer_settings": _small(st.dictionaries(st.sampled_from(
        ["momentum", "beta1", "beta2", "epsilon", "decay", "x"]), NUMBERS, max_size=2)),
    "learning_rate": _small(st.floats(1e-4, 1)), "l2": _small(st.floats(0, 1)),
    "schedule": st.sampled_from(["constant", "exponential", "step", "cosine", "x"]),
    "schedule_settings": _small(st.dictionaries(st.sampled_from(
        ["gamma", "step_size", "drop", "minimum", "x"]), NUMBERS, max_size=2)),
    "batch_size": _small(st.integers(0, 64)), "epochs": _small(st.integers(1, 50)),
    "target_loss": LEAVES, "target_accuracy": LEAVES,
    "stop_loss": LEAVES, "stop_accuracy": LEAVES,  # their old names, still taken
    "edits": _small(st.lists(st.fixed_dictionaries({
        "step": _small(st.integers(0, 5)), "layer": _small(st.integers(0, 2)),
        "to": _small(st.integers(0, 3)), "value": NUMBERS}, optional={"from": LEAVES}),
        max_size=2)),
    "model": LEAVES, "surprise": JSON,
})
#: Positions a reopened URL names: small ones (replayed), and ones refused at once (not the
#: 100,000 updates a request may replay, which would only be slow).
POSITIONS = st.one_of(st.integers(0, 20), EDGES, LEAVES)


@pytest.fixture(scope="module")
def client():
    """``chainrule serve``'s server (its socket, connections and application) in a thread."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(create_app(TOKEN, port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          headers={"Authorization": f"token {TOKEN}"}) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _answered(answer) -> None:
    assert answer.status_code in ALLOWED, (answer.status_code, answer.text[:300])
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert isinstance(error, str) and error and not error.startswith("internal error")


def _alive(client) -> None:
    assert client.get("/api/options").status_code == 200


@pytest.fixture(scope="module")
def session(client):
    config = {**{k: DEFAULT[k] for k in ("hidden", "activations", "loss")},
              "data": {"source": "generator", "name": "xor", "samples": 40}, "batch_size": 5}
    return client.post("/api/session", json={"config": config}).json()["session"]


def _send(client, path, value) -> object:
    """``value`` as the body: JSON where it can be written, else its repr's bytes."""
    try:
        body = json.dumps(value).encode()
    except (ValueError, TypeError):
        body = repr(value).encode()
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@FUZZ
@given(config=st.one_of(CONFIGS, JSON), position=POSITIONS, sample=POSITIONS)
def test_any_configuration_is_a_run_or_a_clear_error(client, config, position, sample):
    _answered(_send(client, "/api/session", {"config": config, "position": position,
                                             "sample": sample}))
    _alive(client)


ACTIONS = st.sampled_from(["step", "goto", "edit", "chain"])
MESSAGES = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    "unit": st.sampled_from(["batch", "epoch", "sample", "week"]),
    "count": _small(st.integers(1, 3)), "since": _small(st.integers(0, 5)),
    "position": POSITIONS, "sample": POSITIONS,
    "layer": _small(st.integers(0, 2)), "to": _small(st.integers(0, 8)),
    "from": _small(st.integers(0, 8)), "value": NUMBERS,
    "pictures": LEAVES, "points": LEAVES, "metrics": LEAVES}))


@FUZZ
@given(path=ACTIONS, message=MESSAGES)
def test_any_action_is_answered_and_the_session_goes_on(client, session, path, message):
    _answered(_send(client, f"/api/session/{session}/{path}", message))
    assert client.get(f"/api/session/{session}/state?since=0").status_code == 200


QUERY_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(
    ["9" * 401, "9" * 5000, "²", "٣", "-1", "1e3", "", " ", "0x10", "%00", "\x00", "1" * 17]))


@FUZZ
@given(since=QUERY_TEXT, name=QUERY_TEXT, target=QUERY_TEXT,
       where=st.sampled_from(["state", "commands", "curves.csv", "data.csv", "model.npz"]))
def test_any_query_string_is_answered(client, session, since, name, target, where):
    _answered(client.get(f"/api/session/{session}/{where}", params={"since": since}))
    _answered(client.post("/api/upload", params={"name": name, "target": target},
                          content=b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"))
    _alive(client)


CELLS = st.one_of(
    NUMBERS.map(repr), st.integers(-10**450, 10**450).map(str),
    st.sampled_from(["", " ", "x", "1e309", "-1e999", "nan", "inf", "1,5", '"2"', "\ufeff1",
                     "\x00", "0x10", "1_000", "yes", "no", "2021-02-30", "9999-12-31", "'",
                     "9" * 401]),
    st.text(max_size=6))


@st.composite
def tables(draw):
    width = draw(st.integers(1, 4))
    header = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "label", "", "a"]),
                                     st.text(max_size=4)), min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(width - 1, 1), max_size=width + 1),
                         max_size=8))
    separator = draw(st.sampled_from(["\n", "\r\n"]))
    return separator.join(",".join(row) for row in [header, *rows]).encode(
        "utf-8", errors="replace")


@FUZZ
@given(content=st.one_of(tables(), st.binary(max_size=200)),
       task=st.sampled_from([None, "classification", "regression"]))
def test_any_uploaded_table_is_a_table_or_a_clear_error(client, content, task):
    answer = client.post("/api/upload?name=fuzz.csv", content=content)
    _answered(answer)
    if answer.status_code == 200:
        config = {"data": {"source": "upload", "upload": answer.json()["upload"],
                           "task": task}, "hidden": [3], "activations": ["tanh", "sigmoid"]}
        started = client.post("/api/session", json={"config": config})
        _answered(started)
        if started.status_code == 200:
            key = started.json()["session"]
            _answered(client.post(f"/api/session/{key}/step", json={"unit": "epoch"}))
    _alive(client)


def _model_bytes() -> bytes:
    net = Network([2, 3, 1], seed=0)
    buffer = io.BytesIO()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        net.save(f"{folder}/m.npz")
        with open(f"{folder}/m.npz", "rb") as handle:
            buffer.write(handle.read())
    return buffer.getvalue()


MODEL = _model_bytes()


@FUZZ
@given(data=st.data())
def test_any_model_file_is_a_model_or_a_clear_error(client, data):
    raw = bytearray(MODEL)
    for _ in range(data.draw(st.integers(0, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        at = data.draw(st.integers(0, len(raw) - 1)) if raw else 0
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            raw[at:at + 8] = bytes(8)
    answer = client.post("/api/import-model?name=fuzz.npz", content=bytes(raw))
    _answered(answer)
    if answer.status_code == 200:
        config = {"model": answer.json()["model"], "hidden": [3],
                  "activations": ["sigmoid", "sigmoid"], "loss": "squared_error",
                  "data": {"source": "generator", "name": "xor", "samples": 20}}
        _answered(client.post("/api/session", json={"config": config}))
    _alive(client)


def test_the_fuzz_strategies_reach_the_handlers(client):
    """The strategies are not all refused at the door: a drawn valid run starts and steps."""
    config = {"data": {"source": "generator", "name": "circle", "samples": 40}, "hidden": [4],
              "activations": ["tanh", "sigmoid"], "batch_size": 8}
    started = client.post("/api/session", json={"config": config})
    assert started.status_code == 200
    key = started.json()["session"]
    assert client.post(f"/api/session/{key}/step", json={"count": 3}).status_code == 200
    assert np.isfinite(client.post(f"/api/session/{key}/chain",
                                   json={"layer": 0, "to": 0, "from": 0}).json()["gradient"])
