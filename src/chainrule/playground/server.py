"""The playground's web server: the page, and a JSON API over :class:`Session` objects.

Built on Starlette and uvicorn (``pip install "chainrule[serve]"``). Like Jupyter it is a local
server that guards itself, each rule in one place that every request goes through:

* it binds 127.0.0.1 unless told otherwise;
* :class:`~chainrule.playground.guard.Guard`, around the whole application: every request
  needs the token printed with the URL, the ``Host`` header must name this server and a
  request that says where it comes from must come from this page; every answer, the static
  files and every error included, carries the security headers; every exception is a JSON
  ``{"error": ...}`` with a 4xx for what the client sent, and the server goes on;
* :mod:`~chainrule.playground.connections`: ``TCP_NODELAY``, a time limit on a request's
  headers and body, and a cap on connections that idle clients cannot use to lock the user out;
* :mod:`~chainrule.playground.inputs`: every number from the client converted by one checked
  helper;
* bodies are capped (:data:`MAX_JSON_BYTES`, :data:`MAX_UPLOAD_BYTES`), uploaded tables and
  model files checked within the page's limits before they are read further
  (:mod:`~chainrule.playground.uploads`);
* each tab has its own session; at most ``max_sessions`` are kept (the least recently used goes
  first), all of them within ``memory_budget`` bytes (:mod:`~chainrule.playground.budget`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import socket
import threading
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..activations import ACTIVATIONS
from ..datasets import DATASETS, load_dataset
from ..datasets.planar import GENERATORS, MULTICLASS
from ..features import Preparation
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..optimizers import OPTIMIZERS
from ..schedules import SCHEDULES
from .budget import MAX_STEP_BYTES, MEMORY_BUDGET
from .config import DEFAULT, LIMITS
from .connections import listen, make_server, raise_files_limit
from .guard import Guard, JSONResponse, Refused, error_response, read_body
from .inputs import whole, whole_text
from .session import Session
from .store import MAX_FILES, MAX_SESSIONS, Files, Sessions
from .uploads import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    check_prepared,
    count_prepared,
    read_model,
    read_upload,
)

__all__ = ["MAX_FILES", "MAX_SESSIONS", "MAX_UPLOAD_BYTES", "create_app", "serve"]

MAX_JSON_BYTES = 1 * 2**20
STATIC = resources.files(__package__).joinpath("static")


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
                            "columns": MAX_COLUMNS, "sessions": MAX_SESSIONS,
                            "step_bytes": MAX_STEP_BYTES},
        "default": DEFAULT,
    }


def create_app(token: str, port: int, host: str = "127.0.0.1",
               max_sessions: int = MAX_SESSIONS, memory_budget: int = MEMORY_BUDGET) -> Starlette:
    """The Starlette application for a server on ``host:port`` that wants ``token``, keeping at
    most ``max_sessions`` sessions within ``memory_budget`` bytes."""
    files = Files()
    sessions = Sessions(max_sessions, memory_budget)
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::", ""):  # every interface: the names this machine goes by too
        names |= _machine_names()
    else:
        names.add(f"[{host}]" if ":" in host else host)
    allowed_hosts = {f"{name}:{port}" for name in names}

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await read_body(request, MAX_JSON_BYTES)
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
        position = whole(field(message, "position", 0), "position")
        sample = whole(field(message, "sample", 0), "sample")

        def build():
            session = Session(config, files, sessions)  # its footprint reserved in the budget
            if position or sample:  # reopened from a URL: replayed up to the step it names
                try:
                    session.furthest = max(session.furthest, position + (1 if sample else 0))
                    session.goto(position, sample)
                except BaseException:
                    sessions.release(session.footprint.total)
                    raise
            return session

        session = await threaded(build)
        key = sessions.add(session, session.footprint.total)
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
        return JSONResponse(session.state(whole_text(request.query_params.get("since", "0"),
                                                     "since")))

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
        content = await read_body(request, MAX_UPLOAD_BYTES)
        name = request.query_params.get("name", "upload.csv")
        if not content:
            raise Refused(400, f"{name}: the file is empty")
        key, path = files.add(name, content)
        shown = files.name(key)

        def check_table():
            # Read with its types, as chainrule train reads it (the same checks and messages),
            # then capped before anything else, then prepared as training will prepare it.
            table = read_upload(path, shown, MAX_ROWS, MAX_COLUMNS)
            rows, target = table.num_rows, request.query_params.get("target") or None
            try:
                prep = Preparation(target).fit(table)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the table, it is the file's
                text = str(exc) if isinstance(exc, ValueError) else \
                    f"{type(exc).__name__}: {exc}"
                raise ValueError(f"{shown}: {text.replace(path, shown)}") from None
            counts = count_prepared(path, table, target, None, prep)
            count_prepared(path, table, prep.target_name, None, prep)  # as the page will ask
            check_prepared(counts, rows, shown)
            labels = list(prep.classes)
            return {"upload": key, "name": shown, "rows": rows,
                    "rows_without_target": prep.rows_without_target,
                    "columns": list(table.column_names), "target": prep.target_name,
                    "task": prep.task, "classes": len(labels), "labels": labels,
                    "features": prep.feature_names, "summary": prep.summary()}

        return JSONResponse(await threaded(check_table))

    async def import_model(request: Request) -> Response:
        content = await read_body(request, MAX_UPLOAD_BYTES)
        name = request.query_params.get("name", "model.npz")
        key, path = files.add(name, content)
        shown = files.name(key)

        def read():
            net = read_model(path, shown)  # sizes and checksums first, within the page's caps
            return {"model": key, "name": shown, "sizes": net.sizes,
                    "activations": net.activations,
                    "bias": net.bias if len(set(net.bias)) > 1 else net.bias[0],
                    "loss": net.loss_name}

        return JSONResponse(await threaded(read))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        response = error_response(exc.status_code, f"{exc.detail}: {request.url.path}"[:300])
        response.headers.update(exc.headers or {})
        return response

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/session", new_session, methods=["POST"]),
        Route("/api/session/{key}/step", session_action(stepped), methods=["POST"]),
        Route("/api/session/{key}/goto", session_action(moved), methods=["POST"]),
        Route("/api/session/{key}/edit", session_action(edited), methods=["POST"]),
        Route("/api/session/{key}/chain", session_action(chained), methods=["POST"]),
        Route("/api/session/{key}/state", session_action(state)),
        Route("/api/session/{key}/commands", session_action(commands)),
        Route("/api/session/{key}/model.npz", session_action(download("model"))),
        Route("/api/session/{key}/data.csv", session_action(download("data"))),
        Route("/api/session/{key}/curves.csv", session_action(download("curves"))),
        Route("/api/session/{key}/close", close, methods=["POST"]),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/import-model", import_model, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC))),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        files.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, hosts=allowed_hosts)],
                    exception_handlers={HTTPException: http_error})
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


def serve(host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          open_browser: bool = True, max_sessions: int = MAX_SESSIONS,
          announce=None, memory_budget: int = MEMORY_BUDGET) -> None:
    """Run the playground until Ctrl-C: bind ``host:port`` (port 0: any free one), print the
    URL with its token, open it in the browser unless told not to. The sessions together hold
    at most ``memory_budget`` bytes."""
    token = token or secrets.token_urlsafe(24)
    raise_files_limit()  # the more files, the more idle connections it takes to matter
    sock = listen(host, port)  # accepting before the URL is printed: the first request works
    port = sock.getsockname()[1]
    app = create_app(token, port, host, max_sessions, memory_budget)
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
    server = make_server(app)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
