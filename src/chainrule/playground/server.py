"""The playground's web server: the page, and a JSON API over :class:`Session` objects.

Built on Starlette and uvicorn (``pip install "chainrule[serve]"``). Like Jupyter it is a local
server that guards itself:

* it binds 127.0.0.1 unless told otherwise;
* every request needs the token printed with the URL (``?token=`` once, which sets a
  same-site cookie, or an ``Authorization: token ...`` header);
* the ``Host`` header must name this server (no DNS rebinding) and a request that says where it
  comes from (``Origin``, ``Sec-Fetch-Site``) must come from this page (no cross-site requests);
* bodies are capped (:data:`MAX_JSON_BYTES`, :data:`MAX_UPLOAD_BYTES`), and an uploaded table's
  rows and columns too (:data:`MAX_ROWS`, :data:`MAX_COLUMNS`);
* a bad request gets a JSON ``{"error": ...}`` with status 400 and the server goes on;
* each tab has its own session; at most :data:`MAX_SESSIONS` are kept (the least recently used
  goes first), each bounded as :mod:`chainrule.playground.session` explains.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
from collections import OrderedDict
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..activations import ACTIVATIONS
from ..datasets import DATASETS, load_dataset
from ..datasets.planar import GENERATORS, MULTICLASS
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..network import load
from ..optimizers import OPTIMIZERS
from ..preparation import Preparation
from ..schedules import SCHEDULES
from ..tables import read_table
from .config import DEFAULT, LIMITS
from .session import Session

__all__ = ["MAX_SESSIONS", "MAX_UPLOAD_BYTES", "create_app", "serve"]

MAX_SESSIONS = 32
MAX_JSON_BYTES = 1 * 2**20
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_ROWS = 100_000
MAX_COLUMNS = 1_000
MAX_FILES = 32
COOKIE = "chainrule_token"
STATIC = resources.files(__package__).joinpath("static")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the server answers with an error status and a message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Files:
    """Uploaded CSV files and imported model files, kept in a private folder by the SHA-256 of
    their bytes (at most :data:`MAX_FILES`; the oldest goes first)."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="chainrule-serve-")
        self.names: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, name: str, content: bytes) -> tuple[str, str]:
        key = hashlib.sha256(content).hexdigest()[:24]
        name = _SAFE_NAME.sub("_", os.path.basename(name or "upload"))[:100].lstrip(".") \
            or "upload"  # never "." or "..": the file stays inside its folder
        with self.lock:
            folder = os.path.join(self.folder, key)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            with open(path, "wb") as handle:
                handle.write(content)
            self.names[key] = name
            self.names.move_to_end(key)
            while len(self.names) > MAX_FILES:
                old, _ = self.names.popitem(last=False)
                shutil.rmtree(os.path.join(self.folder, old), ignore_errors=True)
        return key, path

    def path(self, key: str) -> str | None:
        name = self.names.get(key)
        return None if name is None else os.path.join(self.folder, key, name)

    def name(self, key: str) -> str:
        return self.names[key]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Sessions:
    """The open sessions, least recently used first, each with its own lock."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self.items: OrderedDict[str, tuple[Session, threading.Lock]] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, session: Session) -> str:
        key = secrets.token_urlsafe(12)
        with self.lock:
            self.items[key] = (session, threading.Lock())
            while len(self.items) > self.limit:
                self.items.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[Session, threading.Lock]:
        with self.lock:
            if key not in self.items:
                raise Refused(404, "this page's session is gone (the server restarted, or more "
                                   f"than {self.limit} tabs were opened since): reload the page")
            self.items.move_to_end(key)
            return self.items[key]

    def remove(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they travel as the strings "nan", "inf" and "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSON answer, with non-finite numbers spelled out (see :func:`_finite`)."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_finite(content), allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")


@functools.cache
def _dataset_facts() -> dict[str, dict[str, Any]]:
    """Each built-in dataset's task, classes and rows, so the page can pick a loss that fits."""
    facts = {}
    for name in DATASETS:
        data = load_dataset(name)
        facts[name] = {"task": data.task, "rows": len(data.X), "features": data.X.shape[1],
                       "classes": len(set(data.y.tolist())) if data.task == "classification"
                       else 0}
    return facts


def _options() -> dict[str, Any]:
    """What the page offers in its menus, from the library's own tables."""
    return {
        "version": __version__,
        "activations": sorted(a for a in ACTIVATIONS if a != "linear"),
        "losses": list(LOSSES),
        "optimizers": {name: cls().hyperparameters() for name, cls in OPTIMIZERS.items()},
        "schedules": {name: cls().settings() for name, cls in SCHEDULES.items()},
        "initializers": list(INITIALIZERS),
        "generators": list(GENERATORS), "multiclass": list(MULTICLASS),
        "datasets": _dataset_facts(),
        "limits": LIMITS | {"upload_bytes": MAX_UPLOAD_BYTES, "rows": MAX_ROWS,
                            "columns": MAX_COLUMNS, "sessions": MAX_SESSIONS},
        "default": DEFAULT,
    }


def create_app(token: str, port: int, host: str = "127.0.0.1",
               max_sessions: int = MAX_SESSIONS) -> Starlette:
    """The Starlette application for a server on ``host:port`` that wants ``token``."""
    files = Files()
    sessions = Sessions(max_sessions)
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::", ""):  # every interface: the names this machine goes by too
        names |= _machine_names()
    else:
        names.add(f"[{host}]" if ":" in host else host)
    allowed_hosts = {f"{name}:{port}" for name in names}
    allowed_origins = {f"http://{h}" for h in allowed_hosts}

    def check(request: Request) -> bool:
        """Host, Origin and token; returns whether the token came in the query (so the page's
        answer sets the cookie)."""
        if request.headers.get("host", "") not in allowed_hosts:
            raise Refused(403, "this server answers only to the address it printed (Host "
                               "header refused)")
        origin = request.headers.get("origin")
        if origin is not None and origin not in allowed_origins:
            raise Refused(403, "cross-site request refused (Origin)")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Refused(403, "cross-site request refused (Sec-Fetch-Site)")
        given = request.query_params.get("token")
        from_query = given is not None
        if given is None:
            header = request.headers.get("authorization", "")
            given = header[6:] if header.startswith("token ") else request.cookies.get(COOKIE)
        if not given or not secrets.compare_digest(given.encode(), token.encode()):
            raise Refused(403, "this server wants its token: open the URL that `chainrule "
                               "serve` printed")
        return from_query

    async def body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"the upload is larger than the limit of {limit:,} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"the upload is larger than the limit of {limit:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await body(request, MAX_JSON_BYTES)
        try:
            message = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(400, f"the request is not JSON: {exc}") from None
        except RecursionError:
            raise Refused(400, "the request is nested too deeply") from None
        if not isinstance(message, dict):
            raise Refused(400, "the request must be a JSON object")
        return message

    def field(message: dict, name: str, default: Any = ...) -> Any:
        if name in message:
            return message[name]
        if default is ...:
            raise Refused(400, f"the request has no {name!r}")
        return default

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                from_query = check(request)
                response = await handler(request)
            except Refused as exc:
                return _error(exc.status, str(exc))
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                message = str(exc) if isinstance(exc, ValueError) else f"bad request: {exc!r}"
                return _error(400, message)
            except MemoryError:
                return _error(503, "not enough memory for this request; try a smaller network "
                                   "or data")
            except Exception as exc:  # noqa: BLE001 - the server outlives any one request
                return _error(500, f"internal error: {type(exc).__name__}: {exc}")
            for name, value in _HEADERS.items():
                response.headers.setdefault(name, value)
            if from_query:
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return endpoint

    def run(session_key: str, work):
        session, lock = sessions.get(session_key)
        with lock:
            return work(session)

    async def threaded(function, *args):
        return await run_in_threadpool(function, *args)

    async def index(request: Request) -> Response:
        return FileResponse(str(STATIC.joinpath("index.html")), media_type="text/html")

    async def options(request: Request) -> Response:
        return JSONResponse(_options())

    async def new_session(request: Request) -> Response:
        message = await json_body(request)
        config = field(message, "config", {})
        position = field(message, "position", 0)
        sample = field(message, "sample", 0)

        def build():
            session = Session(config, files)
            if position or sample:  # reopened from a URL: replayed up to the step it names
                if not isinstance(position, int) or not isinstance(sample, int) or \
                        isinstance(position, bool) or position < 0 or sample < 0:
                    raise ValueError(f"position and sample: whole numbers >= 0, got "
                                     f"{position!r} and {sample!r}")
                session.furthest = max(session.furthest, position + (1 if sample else 0))
                session.goto(position, sample)
            return session

        session = await threaded(build)
        key = sessions.add(session)
        state = await threaded(run, key, lambda s: s.state())
        return JSONResponse({"session": key, "config": session.config, "state": state,
                             "data": session.data_info()})

    def session_action(action):
        async def handler(request: Request) -> Response:
            message = await json_body(request) if request.method == "POST" else {}
            key = request.path_params["key"]
            return await threaded(run, key, lambda s: action(s, message, request))
        return handler

    def stepped(session: Session, message: dict, request: Request) -> Response:
        session.step(field(message, "unit", "batch"), field(message, "count", 1))
        return JSONResponse(session.state(field(message, "since", 0),
                                          field(message, "pictures", True),
                                          field(message, "points", True),
                                          field(message, "metrics", True)))

    def moved(session: Session, message: dict, request: Request) -> Response:
        session.goto(field(message, "position"), field(message, "sample", 0))
        return JSONResponse(session.state(field(message, "since", 0)))

    def edited(session: Session, message: dict, request: Request) -> Response:
        session.edit(field(message, "layer"), field(message, "to"), field(message, "value"),
                     field(message, "from", None))
        return JSONResponse(session.state(0))

    def chained(session: Session, message: dict, request: Request) -> Response:
        return JSONResponse(session.chain(field(message, "layer"), field(message, "to"),
                                          field(message, "from", None)))

    def state(session: Session, message: dict, request: Request) -> Response:
        since = request.query_params.get("since", "0")
        return JSONResponse(session.state(int(since) if since.isdigit() else since))

    def commands(session: Session, message: dict, request: Request) -> Response:
        return JSONResponse(session.commands())

    def download(kind: str):
        def make(session: Session, message: dict, request: Request) -> Response:
            stem = session.raw.name
            if kind == "model":
                content, name, media = session.model_bytes(), f"{stem}-model.npz", \
                    "application/octet-stream"
            elif kind == "data":  # an uploaded file as it came; generated data as CSV
                name = session.data_file()
                content = session.data_bytes()
                media = "text/csv" if name.lower().endswith(".csv") or session.upload is None \
                    else "application/octet-stream"
            else:
                content, name, media = session.curves_csv(), f"{stem}-curves.csv", "text/csv"
            return Response(content, media_type=media,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return make

    async def close(request: Request) -> Response:
        sessions.remove(request.path_params["key"])
        return JSONResponse({"closed": True})

    async def upload(request: Request) -> Response:
        content = await body(request, MAX_UPLOAD_BYTES)
        name = request.query_params.get("name", "upload.csv")
        if not content:
            raise Refused(400, f"{name}: the file is empty")
        key, path = files.add(name, content)
        shown = files.name(key)

        def check_table():
            # Read with its types, as chainrule train reads it (the same checks and messages),
            # then capped before anything else, then prepared as training will prepare it.
            try:
                table = read_table(path)
            except ValueError as exc:
                raise ValueError(str(exc).replace(path, shown)) from None
            rows, columns = table.num_rows, table.num_columns
            if rows > MAX_ROWS or columns > MAX_COLUMNS:
                raise Refused(413, f"{shown}: {rows:,} rows and {columns:,} columns; the "
                                   f"playground takes at most {MAX_ROWS:,} rows and "
                                   f"{MAX_COLUMNS:,} columns")
            try:
                prep = Preparation(request.query_params.get("target") or None).fit(table)
            except ValueError as exc:
                raise ValueError(f"{shown}: {str(exc).replace(path, shown)}") from None
            labels = list(prep.classes)
            return {"upload": key, "name": shown, "rows": rows,
                    "rows_without_target": prep.rows_without_target,
                    "columns": list(table.column_names), "target": prep.target_name,
                    "task": prep.task, "classes": len(labels), "labels": labels,
                    "features": prep.feature_names, "summary": prep.summary()}

        return JSONResponse(await threaded(check_table))

    async def import_model(request: Request) -> Response:
        content = await body(request, MAX_UPLOAD_BYTES)
        name = request.query_params.get("name", "model.npz")
        key, path = files.add(name, content)
        shown = files.name(key)

        def read():
            try:
                net = load(path)
            except ValueError as exc:
                raise ValueError(str(exc).replace(path, shown)) from None
            return {"model": key, "name": shown, "sizes": net.sizes,
                    "activations": net.activations,
                    "bias": net.bias if len(set(net.bias)) > 1 else net.bias[0],
                    "loss": net.loss_name}

        return JSONResponse(await threaded(read))

    routes = [
        Route("/", guarded(index)),
        Route("/api/options", guarded(options)),
        Route("/api/session", guarded(new_session), methods=["POST"]),
        Route("/api/session/{key}/step", guarded(session_action(stepped)), methods=["POST"]),
        Route("/api/session/{key}/goto", guarded(session_action(moved)), methods=["POST"]),
        Route("/api/session/{key}/edit", guarded(session_action(edited)), methods=["POST"]),
        Route("/api/session/{key}/chain", guarded(session_action(chained)), methods=["POST"]),
        Route("/api/session/{key}/state", guarded(session_action(state))),
        Route("/api/session/{key}/commands", guarded(session_action(commands))),
        Route("/api/session/{key}/model.npz", guarded(session_action(download("model")))),
        Route("/api/session/{key}/data.csv", guarded(session_action(download("data")))),
        Route("/api/session/{key}/curves.csv", guarded(session_action(download("curves")))),
        Route("/api/session/{key}/close", guarded(close), methods=["POST"]),
        Route("/api/upload", guarded(upload), methods=["POST"]),
        Route("/api/import-model", guarded(import_model), methods=["POST"]),
        Mount("/static", app=_guarded_static(check)),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        files.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sessions, app.state.files = sessions, files
    return app


def _machine_names() -> set[str]:
    """This machine's host name, fully qualified name and addresses (for a server that listens
    on every interface: the names other machines reach it by)."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return {f"[{n}]" if ":" in n else n for n in names if n}


def _guarded_static(check):
    """The page's assets, behind the same checks as everything else."""
    static = StaticFiles(directory=str(STATIC))

    async def app(scope, receive, send):
        if scope["type"] == "http":
            try:
                check(Request(scope, receive))
            except Refused as exc:
                await _error(exc.status, str(exc))(scope, receive, send)
                return
        await static(scope, receive, send)
    return app


def _error(status: int, message: str) -> Response:
    response = JSONResponse({"error": message}, status_code=status)
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def serve(host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          open_browser: bool = True, max_sessions: int = MAX_SESSIONS,
          announce=None) -> None:
    """Run the playground until Ctrl-C: bind ``host:port`` (port 0: any free one), print the
    URL with its token, open it in the browser unless told not to."""
    import uvicorn

    token = token or secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)  # accepting before the URL is printed: the first request never fails
    port = sock.getsockname()[1]
    app = create_app(token, port, host, max_sessions)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={token}"
    if announce is None:
        def announce(text: str) -> None:
            print(text, flush=True)
    announce(f"chainrule playground: {url}")
    announce("(Ctrl-C stops it)")
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
