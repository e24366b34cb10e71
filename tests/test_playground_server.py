"""The playground's server over real HTTP: what it refuses (token, Host, Origin, sizes), that a
bad message is a clear error and never a dead server, and that tabs are independent."""

from __future__ import annotations

import contextlib
import io
import socket

import httpx
import pytest
from browser import TOKEN, server_thread

from chainrule import cli
from chainrule.playground import server as server_module

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
    monkeypatch.setattr(server_module, "MAX_UPLOAD_BYTES", 1000)
    big = b"a,b\n" + b"1,2\n" * 400
    answer = client.post("/api/upload?name=big.csv", content=big)
    assert answer.status_code == 413 and "1,000 bytes" in answer.json()["error"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"1,2\n" * 10

    answer = client.post("/api/upload?name=big.csv", content=chunks())
    assert answer.status_code == 413
    monkeypatch.setattr(server_module, "MAX_UPLOAD_BYTES", 10**7)
    monkeypatch.setattr(server_module, "MAX_ROWS", 50)
    answer = client.post("/api/upload?name=rows.csv", content=big)  # capped before prepared
    assert answer.status_code == 413 and "at most 50 rows" in answer.json()["error"]
    monkeypatch.setattr(server_module, "MAX_ROWS", 10**5)
    monkeypatch.setattr(server_module, "MAX_COLUMNS", 3)
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
