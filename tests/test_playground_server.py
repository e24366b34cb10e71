"""The playground's server over real HTTP: what it refuses (token, Host, Origin, sizes), that a
bad message is a clear error and never a dead server, and that tabs are independent."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile

import httpx
import numpy as np
import pytest
from browser import TOKEN, server_thread

from chainrule import cli
from chainrule.persistence import _digest
from chainrule.playground import connections, guard, routes, uploads
from chainrule.playground import server as server_module
from chainrule.playground.guard import SECURITY_HEADERS
from chainrule.playground.session import Session

MAX_JSON = server_module.MAX_JSON_BYTES

SMALL = {"data": {"source": "generator", "name": "xor", "samples": 40, "noise": 0.05,
                  "classes": 2, "seed": 1},
         "hidden": [3], "activations": ["tanh", "sigmoid"], "loss": "binary_cross_entropy",
         "batch_size": 5}


@pytest.fixture(scope="module")
def served():
    with server_thread() as (url, app):
        yield url, app


@pytest.fixture
def client(served):
    url, _ = served
    with httpx.Client(base_url=url, headers={"Authorization": f"token {TOKEN}"},
                      timeout=30) as client:
        yield client


def new_session(client, config=SMALL):
    answer = client.post("/api/session", json={"config": config})
    assert answer.status_code == 200, answer.text
    return answer.json()["session"]


# ---------------------------------------------------------------------------- the page's policy
def test_the_options_carry_the_librarys_loss_policy(client):
    """The page fits the loss and the output layer to the data by this answer, which is the
    library's rule (choose_loss, each loss's combined activation), not a copy of it."""
    from chainrule.losses import LOSSES
    from chainrule.preparation import choose_loss

    policy = client.get("/api/options").json()["loss_policy"]
    assert policy["default"] == {"regression": choose_loss(None, "regression", 0),
                                 "two_classes": choose_loss(None, "classification", 2),
                                 "more_classes": choose_loss(None, "classification", 3)}
    assert policy["output"] == {name: loss.combined_activation for name, loss in LOSSES.items()}
    assert policy["output"]["categorical_cross_entropy"] == "softmax"
    assert policy["takes"]["binary_cross_entropy"] == {"regression": False, "two_classes": True,
                                                       "more_classes": False}
    assert all(policy["takes"][name]["regression"] for name in ("mse", "squared_error"))
    assert not policy["takes"]["categorical_cross_entropy"]["regression"]
    assert policy["coupled"] == ["softmax"] and policy["plain"] == "identity"


def test_the_page_makes_markup_in_one_place():
    """Every script of the page sets markup through html.js's setHtml (whose html`` escapes
    what is put into it); no other script touches innerHTML or its kin."""
    static = routes.STATIC
    scripts = {path.name: path.read_text() for path in static.iterdir()
               if path.name.endswith(".js")}
    assert {"app.js", "state.js", "controls.js", "play.js", "html.js"} <= set(scripts)
    for name, text in scripts.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert (sink in text) == (name == "html.js" and sink == "innerHTML"), (name, sink)
    assert scripts["html.js"].count("innerHTML =") == 1


# ---------------------------------------------------------------------------- refusals
def test_no_token_no_page(served):
    url, _ = served
    for path in ("/", "/api/options", "/static/app.js"):
        answer = httpx.get(url + path)
        assert answer.status_code == 403 and "token" in answer.json()["error"]
    assert httpx.get(url + "/api/options?token=wrong").status_code == 403
    assert httpx.get(url + "/api/options", headers={"Authorization": "token wrong"}
                     ).status_code == 403


def test_the_token_in_the_url_sets_a_strict_cookie(served):
    url, _ = served
    with httpx.Client(base_url=url) as browser_like:
        page = browser_like.get(f"/?token={TOKEN}")
        assert page.status_code == 200 and "<title>chainrule playground" in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser_like.get("/static/app.js").status_code == 200  # the cookie alone
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"


PAGE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Chromium's


@pytest.mark.parametrize("query, headers", [
    ("", {}),
    ("?token=wrong", {}),
    ("?token=%3Cscript%3Ealert(1)%3C/script%3E", {}),
    ("", {"Host": "evil.example:80"}),
    (f"?token={TOKEN}", {"Sec-Fetch-Site": "cross-site"}),
])
def test_a_browser_refused_a_page_is_told_how_to_open_the_playground(served, query, headers):
    """A link opened without the server's token (a teacher's link on a student's own server)
    is a small HTML page that says what to run, with every security header, no script and
    nothing of the request in it; the API's clients keep the JSON error."""
    url, _ = served
    for path in ("/", "/static/app.js", "/no/such/page"):
        answer = httpx.get(url + path + query, headers={"Accept": PAGE_ACCEPT, **headers})
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, name
        assert "set-cookie" not in answer.headers
        text = answer.text
        assert text.startswith("<!doctype html>") and "<code>chainrule serve</code>" in text
        assert "open the link it prints" in text
        assert "<script" not in text.lower() and "alert" not in text and "wrong" not in text
        assert "evil" not in text and TOKEN not in text
    for path, accept in (("/api/options", PAGE_ACCEPT), ("/", "application/json"),
                         ("/", "*/*")):
        answer = httpx.get(url + path + query, headers={"Accept": accept, **headers})
        assert answer.status_code == 403 and "error" in answer.json(), (path, accept)
    posted = httpx.post(url + "/" + query, headers={"Accept": PAGE_ACCEPT, **headers})
    assert posted.status_code in (403, 405) and "error" in posted.json()


def test_the_cookie_is_named_for_the_servers_port(served):
    """Two servers on one machine share the browser's cookies for 127.0.0.1 whatever their
    port: each names its cookie for its port, so neither overwrites the other's token."""
    url, _ = served
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url) as browser_like:
        cookie = browser_like.get(f"/?token={TOKEN}").headers["set-cookie"]
        assert cookie.startswith(f"chainrule_token_{port}={TOKEN};")
        assert browser_like.get("/api/options").status_code == 200
    other = httpx.get(url + "/api/options", cookies={"chainrule_token_1": TOKEN})
    assert other.status_code == 403


@pytest.mark.parametrize("host", ["evil.example:80", "attacker.test", "127.0.0.1:1", ""])
def test_another_host_name_is_refused(client, host):
    answer = client.get("/api/options", headers={"Host": host})
    assert answer.status_code == 403 and "Host" in answer.json()["error"]


def test_cross_site_requests_are_refused(client, served):
    url, _ = served
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": url.replace("127.0.0.1", "127.0.0.2")},
                    {"Sec-Fetch-Site": "cross-site"}):
        answer = client.post("/api/session", json={"config": SMALL}, headers=headers)
        assert answer.status_code == 403, headers
    same = client.post("/api/session", json={"config": SMALL}, headers={"Origin": url})
    assert same.status_code == 200
    localhost = url.replace("127.0.0.1", "localhost")
    assert client.get("/api/options", headers={"Origin": localhost,
                                                "Host": localhost[7:]}).status_code == 200


# ---------------------------------------------------------------------------- bad messages
@pytest.mark.parametrize("body, message", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe\x00", "not JSON"),
    (b'{"config": {"hidden": [-1]}}', "hidden[0]"),
    (b'{"config": {"loss": 7}}', "loss"),
    (b'{"config": "circle"}', "JSON object"),
    (b'{"config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"config": {"data": {"source": "generator", "name": "circle", "samples": 1e300}}}',
     "data.samples"),
])
def test_a_bad_message_is_a_clear_error(client, body, message):
    answer = client.post("/api/session", content=body,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert client.get("/api/options").status_code == 200  # and the server goes on


@pytest.mark.parametrize("path, body, message", [
    ("step", {"unit": "week"}, "unit"),
    ("step", {"count": "many"}, "count"),
    ("step", {"count": 10**9}, "count"),
    ("goto", {"position": 10**6}, "beyond"),
    ("goto", {"position": -1}, "position"),
    ("goto", {}, "position"),
    ("edit", {"layer": 9, "to": 0, "value": 1}, "layer"),
    ("edit", {"layer": 0, "to": 0, "value": "big"}, "value"),
    ("chain", {"layer": 0, "to": 99}, "outside"),
    ("chain", {"layer": [], "to": 0}, "layer"),
])
def test_a_bad_action_is_a_clear_error(client, path, body, message):
    key = new_session(client)
    answer = client.post(f"/api/session/{key}/{path}", json=body)
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    assert client.post(f"/api/session/{key}/step", json={}).status_code == 200


def test_an_unknown_session_says_to_reload(client):
    answer = client.post("/api/session/nope/step", json={})
    assert answer.status_code == 404 and "reload" in answer.json()["error"]


def test_garbage_never_kills_the_server(client):
    key = new_session(client)
    bodies = [b"", b"null", b"0", b'"x"', b"{" * 10000, b'{"unit": null}', b"\x00" * 64,
              b'{"count": 1e999}', b'{"since": -5}', b'{"since": "a"}']
    for path in ("step", "goto", "edit", "chain"):
        for body in bodies:
            answer = client.post(f"/api/session/{key}/{path}", content=body)
            assert answer.status_code in (200, 400), (path, body[:20], answer.text)
            assert "error" in answer.json() or answer.status_code == 200
    assert client.get("/api/options").status_code == 200


# ---------------------------------------------------------------------------- uploads
def test_a_good_csv_is_taken(client):
    text = "a,b,label\n" + "".join(f"{i * 0.1},{(i % 7) * 0.3},{i % 2}\n" for i in range(40))
    answer = client.post("/api/upload?name=mine.csv", content=text.encode())
    assert answer.status_code == 200, answer.text
    info = answer.json()
    assert info["columns"] == ["a", "b", "label"] and info["task"] == "classification"
    config = {**SMALL, "data": {"source": "upload", "upload": info["upload"], "target": "label"}}
    session = client.post("/api/session", json={"config": config})
    assert session.status_code == 200 and session.json()["state"]["sizes"][0] == 2
    # The whole-number target as values, as --task regression says on the command line.
    config = {**SMALL, "activations": ["tanh", "identity"], "loss": "mse",
              "data": {"source": "upload", "upload": info["upload"], "target": "label",
                       "task": "regression"}}
    session = client.post("/api/session", json={"config": config})
    assert session.status_code == 200 and session.json()["state"]["task"] == "regression"


@pytest.mark.parametrize("content, message", [
    (b"a,b,c,label\n1,2,3,0\n4,5,1\n", "bad.csv: row 3 has 3 values but the header has 4"),
    (b"a,b,label\n1,2,0\n3,4,0\n", "bad.csv: column 'label': the target has a single class"),
    (b"a,a,label\n1,2,0\n", "bad.csv: the column name 'a' appears twice"),
    (b"a,b,label\n", "bad.csv: only a header, no data rows"),
])
def test_a_bad_csv_gets_the_command_lines_message(client, tmp_path, content, message):
    answer = client.post("/api/upload?name=bad.csv", content=content)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error.startswith(message), error
    assert "/tmp" not in error and "chainrule-serve" not in error  # not the server's folder
    # The command line says the same of the same file.
    (tmp_path / "bad.csv").write_bytes(content)
    code, out, err = _cli(["train", str(tmp_path / "bad.csv"), "--epochs", "1",
                           "--out", str(tmp_path / "model.npz")])
    assert code == 2 and message.replace("bad.csv", str(tmp_path / "bad.csv")) in err


def test_a_table_as_it_comes(client, tmp_path):
    """A pandas-written CSV with text labels, a yes/no column, a category, missing cells and
    its index column: the upload says what becomes of each column, the run trains on it, and
    the model file it gives predicts the table's own labels from the same file."""
    text = ",age,color,member,label\n" + "".join(
        f"{i},{'' if i % 7 == 3 else 20 + (i * 37) % 50},{['red', 'green', 'blue', ''][i % 4]},"
        f"{'yes' if i % 3 else 'no'},{'<b>big</b>' if (i * 37) % 50 > 20 else 'small'}\n"
        for i in range(60))
    answer = client.post("/api/upload?name=people.csv", content=text.encode())
    assert answer.status_code == 200, answer.text
    info = answer.json()
    assert info["columns"] == ["Unnamed: 0", "age", "color", "member", "label"]
    assert info["target"] == "label" and info["task"] == "classification"
    assert info["labels"] == ["<b>big</b>", "small"] and info["classes"] == 2
    assert {row["column"]: row["role"] for row in info["summary"]} == {
        "Unnamed: 0": "dropped", "age": "numeric", "color": "categorical", "member": "boolean",
        "label": "target"}
    assert "age (missing)" in info["features"] and "color=(missing)" in info["features"]
    config = {**SMALL, "activations": ["tanh", "softmax"], "loss": "categorical_cross_entropy",
              "data": {"source": "upload", "upload": info["upload"]}}
    started = client.post("/api/session", json={"config": config})
    assert started.status_code == 200, started.text
    key, data = started.json()["session"], started.json()["data"]
    assert data["file"] == "people.csv" and data["labels"] == info["labels"]
    assert [row["column"] for row in data["summary"]] == info["columns"]
    assert started.json()["state"]["classes"] == info["labels"]
    client.post(f"/api/session/{key}/step", json={"unit": "epoch", "count": 2})
    assert client.get(f"/api/session/{key}/data.csv").content == text.encode()  # as it came
    (tmp_path / "model.npz").write_bytes(client.get(f"/api/session/{key}/model.npz").content)
    (tmp_path / "people.csv").write_text(text)
    code, out, err = _cli(["predict", str(tmp_path / "model.npz"), str(tmp_path / "people.csv")])
    assert code == 0, err
    assert out.splitlines()[0] == "predicted,probability_<b>big</b>,probability_small"
    assert {line.split(",")[0] for line in out.splitlines()[1:]} <= set(info["labels"])
    commands = client.get(f"/api/session/{key}/commands").json()
    assert commands["data_file"] == "people.csv"
    assert commands["cli"].startswith("chainrule train people.csv --target label")
    # Points are not added to an uploaded file: it is trained on as it is.
    config["data"]["added"] = [[0.0, 0.0, 1]]
    refused = client.post("/api/session", json={"config": config})
    assert refused.status_code == 400 and "data.added" in refused.json()["error"]


def test_uploads_are_capped(client, monkeypatch):
    monkeypatch.setattr(routes, "MAX_UPLOAD_BYTES", 1000)
    big = b"a,b\n" + b"1,2\n" * 400
    answer = client.post("/api/upload?name=big.csv", content=big)
    assert answer.status_code == 413 and "1,000 bytes" in answer.json()["error"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"1,2\n" * 10

    answer = client.post("/api/upload?name=big.csv", content=chunks())
    assert answer.status_code == 413
    monkeypatch.setattr(routes, "MAX_UPLOAD_BYTES", 10**7)
    monkeypatch.setattr(routes, "MAX_ROWS", 50)
    answer = client.post("/api/upload?name=rows.csv", content=big)  # capped before prepared
    assert answer.status_code == 413 and "at most 50 rows" in answer.json()["error"]
    monkeypatch.setattr(routes, "MAX_ROWS", 10**5)
    monkeypatch.setattr(routes, "MAX_COLUMNS", 3)
    wide = b"a,b,c,label\n" + b"1,2,3,0\n4,5,6,1\n" * 5
    answer = client.post("/api/upload?name=wide.csv", content=wide)
    assert answer.status_code == 413 and "4 columns" in answer.json()["error"]
    assert "at most 100,000 rows and 3 columns" in answer.json()["error"]
    assert client.post("/api/upload?name=empty.csv", content=b"").status_code == 400


def test_a_model_file_that_is_not_one(client):
    answer = client.post("/api/import-model?name=x.npz", content=b"PK\x03\x04 not a zip")
    assert answer.status_code == 400 and answer.json()["error"].startswith("x.npz")


# ---------------------------------------------------------------------------- sessions
def test_tabs_are_independent(client):
    first, second = new_session(client), new_session(client)
    client.post(f"/api/session/{first}/step", json={"count": 7})
    a = client.get(f"/api/session/{first}/state").json()
    b = client.get(f"/api/session/{second}/state").json()
    assert (a["position"], b["position"]) == (7, 0) and a["weights"] != b["weights"]
    client.post(f"/api/session/{first}/close", json={})
    assert client.get(f"/api/session/{first}/state").status_code == 404
    assert client.get(f"/api/session/{second}/state").status_code == 200


def test_the_least_recently_used_session_goes_first():
    with server_thread(max_sessions=2) as (url, _), httpx.Client(
            base_url=url, headers={"Authorization": f"token {TOKEN}"}) as client:
        keys = [new_session(client) for _ in range(2)]
        client.get(f"/api/session/{keys[0]}/state")  # used: the other one is older
        new_session(client)
        assert client.get(f"/api/session/{keys[0]}/state").status_code == 200
        assert client.get(f"/api/session/{keys[1]}/state").status_code == 404


def test_downloads(client):
    key = new_session(client)
    client.post(f"/api/session/{key}/step", json={"unit": "epoch", "count": 2})
    model = client.get(f"/api/session/{key}/model.npz")
    assert model.status_code == 200 and model.content[:2] == b"PK"
    assert "attachment" in model.headers["content-disposition"]
    assert client.get(f"/api/session/{key}/curves.csv").text.startswith("epoch,loss")
    assert client.get(f"/api/session/{key}/data.csv").text.startswith("x1,x2,label")
    commands = client.get(f"/api/session/{key}/commands").json()
    assert commands["cli"].startswith("chainrule train xor.csv")


# ---------------------------------------------------------------------------- the command
def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_serve_help_documents_every_option():
    with pytest.raises(SystemExit):
        _cli(["serve", "--help"])
    parser = cli.build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    text = serve.format_help()
    for option in ("--host", "--port", "--token", "--no-browser", "--max-sessions"):
        assert option in text
    assert "127.0.0.1" in text and "8765" in text


def test_a_busy_port_is_one_line_and_exit_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, out, err = _cli(["serve", "--port", str(busy.getsockname()[1]), "--no-browser"])
    assert code == 2 and err.count("\n") == 1 and "cannot listen" in err


@pytest.mark.parametrize("missing", ["uvicorn", "starlette.applications"])
def test_without_the_serve_extra_the_command_says_what_to_install(monkeypatch, missing):
    import sys

    monkeypatch.delitem(sys.modules, "chainrule.playground.server", raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    code, out, err = _cli(["serve", "--no-browser"])
    assert code == 2 and "pip install 'chainrule[serve]'" in err and err.count("\n") == 1


def test_listening_everywhere_answers_to_the_machines_names():
    name = socket.gethostname()
    auth = {"Authorization": f"token {TOKEN}"}
    for host, answers in (("0.0.0.0", True), ("127.0.0.1", name in ("localhost", "127.0.0.1"))):
        with server_thread(host=host) as (url, _):
            port = url.rsplit(":", 1)[1]
            named = httpx.get(url + "/api/options", headers={**auth, "Host": f"{name}:{port}"})
            assert (named.status_code == 200) == answers, host
            evil = httpx.get(url + "/api/options", headers={**auth, "Host": f"evil.example:{port}"})
            assert evil.status_code == 403


# ---------------------------------------------------------------------------- round 3
# Faults and hostile input as Jupyter's threat model has them for a local server: every answer
# guarded, no input a 500, model files checked before they are read, slow or idle clients
# unable to hold the server, memory within a budget.
def _server(app, server, sock):
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    return thread


@contextlib.contextmanager
def served_as_serve(header_timeout=connections.HEADER_TIMEOUT, max_connections=None,
                    **options):
    """The app behind ``chainrule serve``'s own socket and connection rules, in a thread."""
    sock = connections.listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = server_module.create_app(TOKEN, port, **options)
    server = connections.make_server(app, max_connections, header_timeout)
    thread = _server(app, server, sock)
    try:
        yield f"http://127.0.0.1:{port}", app, server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def real():
    with served_as_serve(header_timeout=2.0) as running:
        yield running


AUTH = {"Authorization": f"token {TOKEN}"}


def _raw(url, data: bytes, wait: float = 20.0) -> tuple[bytes, float]:
    """Send ``data`` on a new connection; return all it gets back and when it was closed."""
    host, port = url[7:].split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        start, received = time.monotonic(), b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received, time.monotonic() - start
            received += chunk


def _assert_guarded(headers) -> None:
    lower = {name.lower(): value for name, value in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        assert lower.get(name.lower()) == value, (name, lower)


def test_every_answer_carries_the_security_headers(client, served):
    url, _ = served
    key = new_session(client)
    answers = [
        client.get("/"), client.get("/static/app.js"), client.get("/static/style.css"),
        client.get("/static/missing.js"), client.get("/static/../server.py"),
        client.get("/api/options"), client.get("/no/such/page"),
        client.get("/api/session"),  # a POST-only route
        client.post("/api/session", content=b"{bad"), client.get(f"/api/session/{key}/state"),
        client.get(f"/api/session/{key}/model.npz"), client.get("/api/session/gone/state"),
        httpx.get(url + "/static/app.js"), httpx.get(url + "/nowhere"),  # without the token
        client.get("/api/options", headers={"Host": "evil.example"}),
        client.post("/api/session", content=b"x" * (MAX_JSON + 1)),
    ]
    statuses = {answer.status_code for answer in answers}
    assert {200, 400, 403, 404, 405, 413} <= statuses and 500 not in statuses
    for answer in answers:
        _assert_guarded(answer.headers)
        if answer.status_code >= 400:
            assert answer.json()["error"]


def test_answers_before_a_request_is_read_carry_them_too(real):
    url, _, _ = real
    declared = (f"POST /api/upload HTTP/1.1\r\nHost: {url[7:]}\r\nAuthorization: token {TOKEN}"
                f"\r\nContent-Length: {10**12}\r\n\r\n").encode()  # refused before any byte
    for data, status in ((b"NOT HTTP AT ALL\r\n\r\n", b"400"),
                         # headers still unfinished past the limit, in one read: bytes left
                         # unread when the server closes would make the kernel reset the
                         # connection, and the client could lose the answer with them
                         (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: "
                          + b"a" * (connections.MAX_HEADER_BYTES + 1024), b"400"),
                         (declared, b"413")):
        received, _ = _raw(url, data)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.split()[1] == status and json.loads(body)["error"]
        _assert_guarded(dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:]))


BIG = 10**400  # 401 digits: beyond any double, a Python int of any length


@pytest.mark.parametrize("field, value", [
    *((name, BIG) for name in ("seed", "learning_rate", "l2", "batch_size", "epochs",
                               "test_split", "target_loss", "target_accuracy", "stop_loss",
                               "stop_accuracy")),
    ("hidden", [BIG]), ("hidden", [-BIG]), ("hidden", [1e300]),
    ("optimizer_settings", {"momentum": BIG}), ("schedule_settings", {"gamma": -BIG}),
    ("edits", [{"step": BIG, "layer": 0, "to": 0, "value": 1}]),
    ("edits", [{"step": 0, "layer": 0, "to": 0, "value": BIG}]),
    ("data", {"source": "generator", "name": "circle", "samples": BIG}),
    ("data", {"source": "generator", "name": "circle", "seed": -BIG}),
    ("data", {"source": "generator", "name": "circle", "removed": [BIG]}),
    ("data", {"source": "generator", "name": "circle", "added": [[BIG, 0, 1]]}),
    ("data", {"source": "generator", "name": "circle", "added": [[1e300, 0, 1]]}),
    ("data", {"source": "generator", "name": "circle", "added": [[0, 0, 7]]}),
])
def test_a_number_too_large_anywhere_in_a_configuration_is_a_400(client, field, value):
    body = json.dumps({"config": {**SMALL, field: value}})
    answer = client.post("/api/session", content=body.encode())
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.split(":")[0].split(".")[0].split("[")[0] in (field, "data"), error
    assert len(error) < 400  # a 401-digit number is not echoed whole


@pytest.mark.parametrize("path, body", [
    ("step", {"count": BIG}), ("step", {"count": -BIG}), ("step", {"count": 1e999}),
    ("step", {"since": BIG}), ("goto", {"position": BIG}), ("goto", {"position": 1e308}),
    ("goto", {"position": 1, "sample": BIG}), ("edit", {"layer": BIG, "to": 0, "value": 1}),
    ("edit", {"layer": 0, "to": 0, "from": 0, "value": BIG}),
    ("edit", {"layer": 0, "to": 0, "from": 0, "value": -BIG}),
    ("edit", {"layer": 0, "to": 0, "from": 0, "value": 1e999}),
    ("chain", {"layer": BIG, "to": 0}), ("chain", {"layer": 0, "to": -BIG}),
    ("chain", {"layer": 0, "to": 0, "from": 1e300}),
])
def test_a_number_too_large_in_an_action_is_a_400(client, path, body):
    key = new_session(client)
    answer = client.post(f"/api/session/{key}/{path}", content=json.dumps(body).encode())
    assert answer.status_code == 400 and answer.json()["error"], answer.text
    assert client.post(f"/api/session/{key}/step", json={}).status_code == 200


@pytest.mark.parametrize("since", ["9" * 401, "9" * 5000, "²", "٣", "1_000", "-1", "1e3", "",
                                   " 1", "0x10", "1" * 17])
def test_a_number_in_a_query_string_is_checked(client, since):
    key = new_session(client)
    answer = client.get(f"/api/session/{key}/state", params={"since": since})
    assert answer.status_code == 400 and "since" in answer.json()["error"]
    assert client.get(f"/api/session/{key}/state?since=3").status_code == 200


@pytest.mark.parametrize("content", [
    b"a,b,label\n" + b"1" * (3 * 2**20) + b",2,0\n1,2,1\n3,4,0\n5,6,1\n",  # a 3 MiB number
    b"a" * (3 * 2**20) + b",b,label\n1,2,0\n3,4,1\n",  # a 3 MiB header
    b'a,b,label\n"' + b"x" * (3 * 2**20) + b'",2,0\n1,2,1\n3,4,0\n5,6,1\n',  # a 3 MiB cell
    b"a,b,label\n1e999,2,0\n1,2,1\n3,4,0\n5,6,1\n", b"a,b,label\n-1e999,2,0\n1,2,1\n3,4,0\n",
    b"a,b,label\n" + b"9" * 401 + b",2,0\n1,2,1\n3,4,0\n5,6,1\n",
    b"a,b,y\n1,2,1e308\n1,2,-1e308\n3,4,0\n5,6,1\n",
    b"a,b,label\n1,2," + b"9" * 401 + b"\n1,2,1\n3,4,0\n5,6,1\n",
    b"a,b,label\n9223372036854775807,2,0\n-9223372036854775808,2,1\n3,4,0\n",
])
def test_a_csv_with_numbers_beyond_a_double_is_never_a_500(client, content):
    answer = client.post("/api/upload?name=big.csv", content=content)
    assert answer.status_code in (200, 400, 413), answer.text
    if answer.status_code != 200:
        assert answer.json()["error"].startswith("big.csv")
        return
    config = {**SMALL, "data": {"source": "upload", "upload": answer.json()["upload"]}}
    for task in (None, "regression"):
        config["data"]["task"] = task
        started = client.post("/api/session", json={"config": config})
        assert started.status_code in (200, 400), started.text


def test_a_prepared_table_beyond_the_cap_is_refused(client, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_PREPARED_CELLS", 1000)
    text = "c,label\n" + "".join(f"{['a', 'b', 'c', 'd'][i % 4]},{i % 2}\n" for i in range(300))
    answer = client.post("/api/upload?name=wide.csv", content=text.encode())
    assert answer.status_code == 413 and "one-hot" in answer.json()["error"]
    config = {**SMALL, "data": {"source": "upload", "upload": "0" * 24}}
    assert "not on this server" in client.post("/api/session", json={"config": config}).text


# ---------------------------------------------------------------------------- model files
def _forged_model(path, sizes, compressed=True, damage=False, order_rows=0):
    """A model file as ``chainrule.save`` writes it (a valid checksum over zeros), its arrays
    compressed as an attacker would (a few KiB for hundreds of MB); ``damage`` breaks the
    checksum; ``order_rows`` makes it a checkpoint with a sample order of that many rows."""
    arrays = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        arrays[f"layers.{layer}.weight"] = np.zeros((n_in, n_out))
        arrays[f"layers.{layer}.bias"] = np.zeros(n_out)
    header = {"format": "chainrule", "format_version": 3, "chainrule_version": "0",
              "architecture": {"sizes": sizes, "activations": ["tanh"] * (len(sizes) - 2)
                               + ["sigmoid"], "leaky_relu_slopes": [None] * (len(sizes) - 1),
                               "bias": [True] * (len(sizes) - 1), "loss": "squared_error"},
              "dtype": "float64", "metadata": {}}
    header["checksum"] = _digest(arrays, header)
    if damage:
        header["checksum"] = "0" * 64
    if order_rows:
        arrays["trainer.order"] = np.zeros(order_rows, dtype=np.int64)
        header["checkpoint"] = {"epoch": 0, "batch": 0, "first_loss": None,
                                "optimizer": {"name": "gd", "hyperparameters": {}, "steps": 0},
                                "rng_state": np.random.default_rng(0).bit_generator.state,
                                "history": {}}
        header["checkpoint_checksum"] = _digest(arrays, header)
    save = np.savez_compressed if compressed else np.savez
    save(str(path), **{"chainrule.json": np.array(json.dumps(header))}, **arrays)
    return path


def _import(client, path, monkeypatch):
    """Import ``path`` through the page; returns the answer, the members read whole and the
    peak of memory the server took."""
    from chainrule import persistence

    reads = []
    original = persistence._Archive.read
    monkeypatch.setattr(persistence._Archive, "read",
                        lambda self, name: reads.append(name) or original(self, name))
    content = path.read_bytes()
    tracemalloc.start()
    try:
        answer = client.post(f"/api/import-model?name={path.name}", content=content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return answer, reads, peak


def test_a_model_too_large_for_the_page_is_refused_from_its_header(client, tmp_path,
                                                                    monkeypatch):
    # 9 million parameters, 72 MB as float64, under the loader's cap of 5e8 but not the page's.
    path = _forged_model(tmp_path / "huge.npz", [1, 3000, 3000, 1])
    assert path.stat().st_size < 500_000
    answer, reads, peak = _import(client, path, monkeypatch)
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert "9,012,001 parameters" in error and "at most 1,000,000" in error
    assert reads == ["chainrule.json"] and peak < 8 * 2**20, (reads, peak)
    # The same file named by a configuration is checked the same way.
    key = hashlib.sha256(path.read_bytes()).hexdigest()[:24]  # the server's id of the file
    refused = client.post("/api/session", json={"config": {**SMALL, "model": key}})
    assert refused.status_code == 413 and "parameters" in refused.json()["error"]


def test_a_damaged_model_is_refused_by_its_checksum_before_its_arrays_are_read(
        client, tmp_path, monkeypatch):
    # Just under the page's million parameters: 7.9 MB of weights in layers.1.weight alone.
    path = _forged_model(tmp_path / "damaged.npz", [2, 990, 1000, 1], damage=True)
    answer, reads, peak = _import(client, path, monkeypatch)
    assert answer.status_code == 400 and "checksum mismatch" in answer.json()["error"]
    assert answer.json()["error"].startswith("damaged.npz")
    assert reads == ["chainrule.json"] and peak < 3 * 2**20, (reads, peak)


def test_a_checkpoint_declaring_large_arrays_is_refused_before_they_are_read(
        client, tmp_path, monkeypatch):
    path = _forged_model(tmp_path / "order.npz", [2, 3, 1], order_rows=20_000_000)  # 160 MB
    answer, reads, peak = _import(client, path, monkeypatch)
    assert answer.status_code == 413 and "bytes" in answer.json()["error"], answer.text
    assert reads == ["chainrule.json"] and peak < 8 * 2**20


def test_a_good_model_and_checkpoint_still_import(client, tmp_path):
    from chainrule import Network, persistence
    from chainrule.training import Trainer

    net = Network([2, 3, 1], seed=0)
    net.save(str(tmp_path / "good.npz"))
    trainer = Trainer(net, np.zeros((4, 2)), np.zeros((4, 1)), epochs=2, progress=False)
    trainer.run()
    persistence.write_checkpoint(net, trainer.state_dict(), str(tmp_path / "checkpoint.npz"))
    for name in ("good.npz", "checkpoint.npz"):
        answer = client.post(f"/api/import-model?name={name}",
                             content=(tmp_path / name).read_bytes())
        assert answer.status_code == 200 and answer.json()["sizes"] == [2, 3, 1], answer.text


def test_a_zip_directory_of_many_members_is_refused_before_it_is_parsed(client, tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(uploads.MAX_MODEL_MEMBERS + 10):
            archive.writestr(f"layers.{index}.weight.npy", b"")
    answer = client.post("/api/import-model?name=many.npz", content=path.read_bytes())
    assert answer.status_code == 413 and "members" in answer.json()["error"]


# ---------------------------------------------------------------------------- connections
def test_a_kept_alive_connection_answers_without_a_nagle_delay(real):
    url, _, _ = real
    host, port = url[7:].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        connection.request("GET", "/api/options", headers=AUTH)
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        assert response.status == 200
    connection.close()
    # Without TCP_NODELAY each answer's body waits for the client's delayed ACK: about 44 ms.
    assert statistics.median(times) < 0.020, times


def test_a_connection_that_never_finishes_its_headers_is_closed():
    with served_as_serve(header_timeout=1.0) as (url, _, _):
        host = url[7:]
        received, waited = _raw(url, f"GET /api/options HTTP/1.1\r\nHost: {host}\r\n".encode())
        assert waited < 3.0 and received.split()[1] == b"408", (waited, received[:80])
        received, waited = _raw(url, b"")  # nothing at all
        assert waited < 3.0 and received == b""
        # A kept-alive connection is closed the same way after its answer.
        request = (f"GET /api/options HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: token {TOKEN}\r\n\r\n").encode()
        received, waited = _raw(url, request)
        assert received.split()[1] == b"200" and waited < 3.0


def test_a_body_that_stops_coming_is_a_408(monkeypatch):
    monkeypatch.setattr(guard, "BODY_PAUSE", 1.0)
    with served_as_serve() as (url, _, _):
        host = url[7:]
        request = (f"POST /api/session HTTP/1.1\r\nHost: {host}\r\nAuthorization: token "
                   f"{TOKEN}\r\nContent-Length: 1000\r\n\r\n{{\"config\":").encode()
        received, waited = _raw(url, request)
        assert waited < 3.0 and received.split()[1] == b"408", received[:100]
        assert b"stopped coming" in received


def test_idle_connections_never_keep_the_user_out():
    with served_as_serve(max_connections=40) as (url, _, server):
        host, port = url[7:].split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(200)]
        idle[-1].sendall(b"GET / HTTP/1.1\r\n")  # half a request, too
        try:
            start = time.monotonic()
            answer = httpx.get(url + "/api/options", headers=AUTH, timeout=10)
            assert answer.status_code == 200 and time.monotonic() - start < 2.0
            assert len(server.server_state.connections) <= 41
        finally:
            for sock in idle:
                sock.close()


def test_chainrule_serve_at_1024_files_outlives_1100_idle_connections(tmp_path):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1100 + 100  # this process holds the 1,100 client sockets
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this process may open only {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    log = tmp_path / "serve.log"
    with open(log, "w") as errors:  # 1,024 files, as many shells give, and no more to raise
        process = subprocess.Popen(
            ["/bin/sh", "-c", 'ulimit -n 1024 && exec "$0" "$@"', sys.executable, "-m",
             "chainrule", "serve", "--port", "0", "--no-browser", "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=errors, text=True)
    idle = []
    try:
        url = re.search(r"(http://[^/]+)", process.stdout.readline()).group(1)
        host, port = url[7:].split(":")
        for _ in range(1100):
            idle.append(socket.create_connection((host, int(port))))
        start = time.monotonic()
        answer = httpx.get(url + "/api/options", headers=AUTH, timeout=10)
        assert answer.status_code == 200 and time.monotonic() - start < 2.0
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        process.wait(10)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "Too many open files" not in log.read_text()  # it never ran out


# ---------------------------------------------------------------------------- memory
def test_the_sessions_stay_within_the_memory_budget():
    one = Session(SMALL).footprint.total
    with served_as_serve(memory_budget=int(2.5 * one)) as (url, app, _), httpx.Client(
            base_url=url, headers=AUTH, timeout=30) as client:
        sessions = app.state.sessions
        keys = [new_session(client) for _ in range(4)]
        assert sessions.used() <= sessions.budget and len(sessions.items) == 2
        assert client.get(f"/api/session/{keys[0]}/state").status_code == 404  # made room
        assert client.get(f"/api/session/{keys[3]}/state").status_code == 200
        # A run larger than the whole budget is refused, saying so.
        big = {**SMALL, "hidden": [256, 256], "activations": ["tanh", "tanh", "sigmoid"]}
        answer = client.post("/api/session", json={"config": big})
        assert answer.status_code == 413 and "budget" in answer.json()["error"]
        # While the other tabs are busy, there is no room: a 503 that says so.
        locks = [lock for _, lock in sessions.items.values()]
        for lock in locks:
            lock.acquire()
        try:
            answer = client.post("/api/session", json={"config": SMALL})
            assert answer.status_code == 503 and "try again" in answer.json()["error"]
        finally:
            for lock in locks:
                lock.release()
        assert client.post("/api/session", json={"config": SMALL}).status_code == 200
        assert sessions.reserved == 0


def test_a_step_beyond_the_cap_is_refused_with_the_batch_that_fits(client):
    limits = {**SMALL, "data": {"source": "generator", "name": "circle", "samples": 5000},
              "hidden": [1024, 970], "activations": ["tanh", "tanh", "sigmoid"],
              "batch_size": 0}
    answer = client.post("/api/session", json={"config": limits})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.startswith("batch_size:") and "a batch size of at most" in error
    fits = int(re.search(r"at most ([\d,]+)", error).group(1).replace(",", ""))
    limits["batch_size"] = fits
    started = client.post("/api/session", json={"config": limits})
    assert started.status_code == 200, started.text
