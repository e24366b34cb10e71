"""The playground's routes, one module-level handler each, over the application's state.

Every handler is a Starlette endpoint that finds what it works on in ``request.app.state``:
``sessions`` (:class:`~chainrule.playground.store.Sessions`) and ``files``
(:class:`~chainrule.playground.store.Files`). What guards them all (the token, the Host and
Origin checks, the headers, the error table) is the middleware around the application
(:mod:`~chainrule.playground.guard`); what a handler does itself is read its body within its
cap, convert its numbers by :mod:`~chainrule.playground.inputs`, and run the library's work in
a thread, one request at a time per session (its lock).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..features import Preparation
from .guard import JSONResponse, Refused, error_response, read_body
from .inputs import whole, whole_text
from .options import page_options
from .session import Session
from .uploads import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    check_prepared,
    count_prepared,
    read_model,
    read_upload,
)

__all__ = ["MAX_JSON_BYTES", "ROUTES", "STATIC", "http_error"]

MAX_JSON_BYTES = 1 * 2**20
STATIC = resources.files(__package__).joinpath("static")

#: What a session route does: ``action(session, message, request)`` gives the answer.
Action = Callable[[Session, dict, Request], Response]


# ---------------------------------------------------------------------------- reading a request
async def json_body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, read within :data:`MAX_JSON_BYTES`."""
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
    """``message[name]``; without a ``default``, a 400 that names it when it is missing."""
    if name in message:
        return message[name]
    if default is ...:
        raise Refused(400, f"the request has no {name!r}")
    return default


def on_session(action: Action):
    """The handler of a session's route: ``action`` on the session the path's ``key`` names,
    under the session's lock, in a thread (a POST's body is read first)."""
    async def handler(request: Request) -> Response:
        message = await json_body(request) if request.method == "POST" else {}
        sessions = request.app.state.sessions

        def locked():
            session, lock = sessions.get(request.path_params["key"])
            with lock:
                return action(session, message, request)

        return await run_in_threadpool(locked)

    handler.__name__ = handler.__qualname__ = action.__name__
    handler.__doc__ = action.__doc__
    return handler


# ---------------------------------------------------------------------------- the page
async def index(request: Request) -> Response:
    """The page itself."""
    return FileResponse(str(STATIC.joinpath("index.html")), media_type="text/html")


async def options(request: Request) -> Response:
    """The menus, limits, first run and loss policy (:mod:`~chainrule.playground.options`)."""
    return JSONResponse(page_options())


# ---------------------------------------------------------------------------- sessions
def _build(config: Any, files: Any, sessions: Any, position: int, sample: int) -> Session:
    session = Session(config, files, sessions)  # its footprint reserved in the budget
    if position or sample:  # reopened from a URL: replayed up to the step it names
        try:
            session.furthest = max(session.furthest, position + (1 if sample else 0))
            session.goto(position, sample)
        except BaseException:
            sessions.release(session.footprint.total)
            raise
    return session


async def new_session(request: Request) -> Response:
    """A new session of the configuration sent, replayed to the ``position`` (and ``sample``)
    a URL names."""
    message = await json_body(request)
    config = field(message, "config", {})
    position = whole(field(message, "position", 0), "position")
    sample = whole(field(message, "sample", 0), "sample")
    files, sessions = request.app.state.files, request.app.state.sessions
    session = await run_in_threadpool(_build, config, files, sessions, position, sample)
    key = sessions.add(session, session.footprint.total)

    def state():
        session, lock = sessions.get(key)
        with lock:
            return session.state()

    return JSONResponse({"session": key, "config": session.config,
                         "state": await run_in_threadpool(state), "data": session.data_info()})


@on_session
def step(session: Session, message: dict, request: Request) -> Response:
    """Steps (batches, epochs or samples), then the state."""
    session.step(field(message, "unit", "batch"), field(message, "count", 1))
    return JSONResponse(session.state(field(message, "since", 0), field(message, "pictures", True),
                                      field(message, "points", True),
                                      field(message, "metrics", True)))


@on_session
def play(session: Session, message: dict, request: Request) -> Response:
    """Up to ``count`` updates, and the state after each one (``{"states": [...]}``)."""
    return JSONResponse({"states": session.play(
        field(message, "count", 1), field(message, "since", 0), field(message, "pictures", True),
        field(message, "points", True), field(message, "metrics", True))})


@on_session
def goto(session: Session, message: dict, request: Request) -> Response:
    """To an earlier or a replayed position, then the state."""
    session.goto(field(message, "position"), field(message, "sample", 0))
    return JSONResponse(session.state(field(message, "since", 0)))


@on_session
def edit(session: Session, message: dict, request: Request) -> Response:
    """A weight or a bias set by hand, then the state."""
    session.edit(field(message, "layer"), field(message, "to"), field(message, "value"),
                 field(message, "from", None))
    return JSONResponse(session.state(0))


@on_session
def chain(session: Session, message: dict, request: Request) -> Response:
    """The chain of derivatives of one weight or bias."""
    return JSONResponse(session.chain(field(message, "layer"), field(message, "to"),
                                      field(message, "from", None)))


@on_session
def state(session: Session, message: dict, request: Request) -> Response:
    """The state, the curves from epoch ``since`` (the query string) on."""
    return JSONResponse(session.state(whole_text(request.query_params.get("since", "0"),
                                                 "since")))


@on_session
def commands(session: Session, message: dict, request: Request) -> Response:
    """The equivalent command and Python code."""
    return JSONResponse(session.commands())


def _attachment(content: bytes | str, name: str, media: str) -> Response:
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@on_session
def model_file(session: Session, message: dict, request: Request) -> Response:
    """The weights on show as a model file."""
    return _attachment(session.model_bytes(), f"{session.raw.name}-model.npz",
                       "application/octet-stream")


@on_session
def data_file(session: Session, message: dict, request: Request) -> Response:
    """An uploaded file as it came; generated data as CSV."""
    name = session.data_file()
    csv = name.lower().endswith(".csv") or session.upload is None
    return _attachment(session.data_bytes(), name,
                       "text/csv" if csv else "application/octet-stream")


@on_session
def curves_file(session: Session, message: dict, request: Request) -> Response:
    """The curves as CSV."""
    return _attachment(session.curves_csv(), f"{session.raw.name}-curves.csv", "text/csv")


async def close(request: Request) -> Response:
    """The session forgotten (the page leaves, or starts another)."""
    request.app.state.sessions.remove(request.path_params["key"])
    return JSONResponse({"closed": True})


# ---------------------------------------------------------------------------- files
def _check_table(path: str, shown: str, key: str, target: str | None) -> dict[str, Any]:
    """An uploaded table read with its types, as ``chainrule train`` reads it (the same checks
    and messages), capped before anything else, then prepared as training will prepare it:
    what the page shows of it."""
    table = read_upload(path, shown, MAX_ROWS, MAX_COLUMNS)
    rows = table.num_rows
    try:
        prep = Preparation(target).fit(table)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the table, it is the file's
        text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
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


async def upload(request: Request) -> Response:
    """A CSV or Parquet file kept for sessions to train on, and what it holds."""
    content = await read_body(request, MAX_UPLOAD_BYTES)
    name = request.query_params.get("name", "upload.csv")
    if not content:
        raise Refused(400, f"{name}: the file is empty")
    files = request.app.state.files
    key, path = files.add(name, content)
    target = request.query_params.get("target") or None
    return JSONResponse(await run_in_threadpool(_check_table, path, files.name(key), key,
                                                target))


def _read_model_file(path: str, shown: str, key: str) -> dict[str, Any]:
    net = read_model(path, shown)  # sizes and checksums first, within the page's caps
    return {"model": key, "name": shown, "sizes": net.sizes, "activations": net.activations,
            "bias": net.has_bias if len(set(net.has_bias)) > 1 else net.has_bias[0],
            "loss": net.loss_name, "dropout": net.dropout[:-1],
            "normalization": net.normalization[:-1]}


async def import_model(request: Request) -> Response:
    """A model file kept for a session to start from, and the network it holds."""
    content = await read_body(request, MAX_UPLOAD_BYTES)
    name = request.query_params.get("name", "model.npz")
    files = request.app.state.files
    key, path = files.add(name, content)
    return JSONResponse(await run_in_threadpool(_read_model_file, path, files.name(key), key))


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own errors (no such route, a method not allowed) as the guard's JSON."""
    response = error_response(exc.status_code, f"{exc.detail}: {request.url.path}"[:300])
    response.headers.update(exc.headers or {})
    return response


ROUTES = [
    Route("/", index),
    Route("/api/options", options),
    Route("/api/session", new_session, methods=["POST"]),
    Route("/api/session/{key}/step", step, methods=["POST"]),
    Route("/api/session/{key}/play", play, methods=["POST"]),
    Route("/api/session/{key}/goto", goto, methods=["POST"]),
    Route("/api/session/{key}/edit", edit, methods=["POST"]),
    Route("/api/session/{key}/chain", chain, methods=["POST"]),
    Route("/api/session/{key}/state", state),
    Route("/api/session/{key}/commands", commands),
    Route("/api/session/{key}/model.npz", model_file),
    Route("/api/session/{key}/data.csv", data_file),
    Route("/api/session/{key}/curves.csv", curves_file),
    Route("/api/session/{key}/close", close, methods=["POST"]),
    Route("/api/upload", upload, methods=["POST"]),
    Route("/api/import-model", import_model, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=str(STATIC))),
]
