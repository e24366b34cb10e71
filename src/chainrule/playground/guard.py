"""What every request and every answer of the server goes through, in one ASGI middleware.

:class:`Guard` wraps the whole application (every route, the static files, Starlette's own 404
and 405, and every error), so that a rule holds for all of them rather than route by route:

* every answer carries :data:`SECURITY_HEADERS` (a Content Security Policy that allows only the
  page's own files, ``nosniff``, ``no-referrer``, no caching, no framing);
* every request is checked before it is routed: the ``Host`` header must name this server (no
  DNS rebinding), a request that says where it comes from (``Origin``, ``Sec-Fetch-Site``) must
  come from this page, and the token must come with it (``?token=`` once, which sets an
  HttpOnly, SameSite=Strict cookie named for the port, or an ``Authorization: token ...``
  header);
* a request refused there that a browser makes for a page (a ``GET`` that accepts
  ``text/html``, outside ``/api/``) is answered with a small HTML page that says how to open the
  playground (:func:`refusal_page`); the API's clients get the JSON error;
* every exception becomes a JSON ``{"error": ...}`` by one table (:func:`status_of`): what the
  client sent is a 4xx with a message, memory running out a 503, only a fault of the server
  itself a 500; the server goes on.

:func:`read_body` reads a request's body within a byte limit and a time limit (a body that
stalls for :data:`BODY_PAUSE` seconds, or takes longer than :data:`BODY_TIMEOUT`, is a 408).
"""

from __future__ import annotations

import html
import http.cookies
import json
import logging
import math
import secrets
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse
from starlette.responses import JSONResponse as StarletteJSONResponse

from .inputs import shown, whole_text

__all__ = ["BODY_PAUSE", "BODY_TIMEOUT", "SECURITY_HEADERS", "Guard", "JSONResponse", "Refused",
           "error_response", "read_body", "refusal_page", "status_of", "wants_page"]

COOKIE = "chainrule_token"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_RAW_HEADERS = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in SECURITY_HEADERS.items()]
#: A body must keep coming: no pause longer than this many seconds between two of its parts...
BODY_PAUSE = 5.0
#: ... and all of it within this many (20 MiB at 350 KB/s).
BODY_TIMEOUT = 60.0
_log = logging.getLogger("chainrule.playground")


class Refused(Exception):
    """A request the server answers with an error status and a message (``close``: and ends
    the connection, for an answer given before the request's body was read)."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(message)
        self.status, self.close = status, close


def status_of(exc: BaseException) -> tuple[int, str]:
    """The status and message an exception is answered with: the one table of the server."""
    status = getattr(exc, "status", None)  # Refused, and the playground's own errors
    if type(status) is int and 400 <= status < 600:
        return status, str(exc)
    if isinstance(exc, MemoryError):
        return 503, "not enough memory for this request; try a smaller network or data"
    if isinstance(exc, RecursionError):
        return 400, "the request is nested too deeply"
    if isinstance(exc, ValueError):  # ConfigError, ModelFileError, DataError, JSON, ...
        return 400, str(exc) or type(exc).__name__
    if isinstance(exc, ArithmeticError):  # OverflowError and its kin: a number out of range
        return 400, f"a number is out of range: {exc}"
    if isinstance(exc, (KeyError, TypeError, IndexError)):
        return 400, f"bad request: {shown(exc, 300)}"
    return 500, f"internal error: {type(exc).__name__}: {exc}"


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


def error_response(status: int, message: str, close: bool = False) -> JSONResponse:
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def wants_page(request: Request) -> bool:
    """Whether a browser asks for a page: a ``GET`` (or ``HEAD``) that accepts ``text/html``,
    outside the API (whose clients, the page's own scripts included, read JSON)."""
    return (request.method in ("GET", "HEAD") and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", "").lower())


_REFUSAL_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>chainrule playground: open the link it printed</title></head>
<body>
<h1>chainrule playground</h1>
<p>The server refused this request ({reason}).</p>
<p>The playground runs on your own computer, and only the link it prints opens it:</p>
<ol>
<li>run <code>chainrule serve</code> in a terminal (after
<code>pip install "chainrule[serve]"</code>);</li>
<li>open the link it prints, like <code>http://127.0.0.1:8765/?token=...</code> (its token lets
your browser in; the page then keeps it in a cookie and takes it out of the address bar).</li>
</ol>
<p>A link someone shared names its run in the part of the address from <code>#</code> on: add
that part to the link <code>chainrule serve</code> printed, and the page replays the same run.</p>
</body>
</html>
"""


def refusal_page(status: int, message: str) -> HTMLResponse:
    """The answer to a browser's request for a page that the checks refused: how to open the
    playground, and the reason (the server's own message, escaped; nothing of the request)."""
    reason = html.escape(message.rstrip("."), quote=True)
    return HTMLResponse(_REFUSAL_PAGE.format(reason=reason), status_code=status)


def raw_error(status: int, message: str) -> bytes:
    """A whole HTTP answer as bytes, for the connection layer to write where no request was
    read (a timeout, a refused connection): the same JSON error, the same headers."""
    from http import HTTPStatus

    body = json.dumps({"error": message}).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
             "content-type: application/json", f"content-length: {len(body)}",
             "connection: close", *(f"{k.lower()}: {v}" for k, v in SECURITY_HEADERS.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Guard:
    """The ASGI middleware around the whole application (see the module's text)."""

    def __init__(self, app, token: str, hosts: set[str], port: int | None = None) -> None:
        self.app, self.token = app, token
        self.hosts = hosts
        self.origins = {f"http://{h}" for h in hosts}
        # A browser keeps one set of cookies for a host whatever the port: a cookie named for
        # the port keeps two servers on one machine from overwriting each other's token.
        self.cookie_name = COOKIE if port is None else f"{COOKIE}_{port}"
        cookie = http.cookies.SimpleCookie()
        cookie[self.cookie_name] = token
        cookie[self.cookie_name].update({"httponly": True, "samesite": "Strict", "path": "/"})
        self.cookie = cookie.output(header="").strip().encode("latin-1")

    def check(self, request: Request) -> bool:
        """Host, Origin and token; returns whether the token came in the query (so the answer
        sets the cookie)."""
        if request.headers.get("host", "") not in self.hosts:
            raise Refused(403, "this server answers only to the address it printed (Host "
                               "header refused)")
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.origins:
            raise Refused(403, "cross-site request refused (Origin)")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Refused(403, "cross-site request refused (Sec-Fetch-Site)")
        given = request.query_params.get("token")
        from_query = given is not None
        if given is None:
            header = request.headers.get("authorization", "")
            given = (header[6:] if header.startswith("token ")
                     else request.cookies.get(self.cookie_name))
        if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
            raise Refused(403, "this server wants its token: open the URL that `chainrule "
                               "serve` printed")
        return from_query

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":  # the page has none
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, cookie = False, None

        async def guarded(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _RAW_HEADERS if n not in present]
                if cookie is not None:
                    headers.append((b"set-cookie", cookie))
                message = {**message, "headers": headers}
            await send(message)

        try:
            request = Request(scope)
            try:
                if self.check(request):
                    cookie = self.cookie
            except Refused as exc:
                if not wants_page(request):
                    raise
                await refusal_page(exc.status, str(exc))(scope, receive, guarded)
                return
            await self.app(scope, receive, guarded)
        except ClientDisconnect:
            return  # nobody to answer
        except Exception as exc:  # noqa: BLE001 - the server outlives any one request
            if started:  # half an answer is out: nothing more can be said on this connection
                raise
            status, message = status_of(exc)
            if status >= 500 and not isinstance(exc, (Refused, MemoryError)):
                _log.error("internal error on %s %s", scope.get("method"), scope.get("path"),
                           exc_info=exc)
            close = getattr(exc, "close", False)
            await error_response(status, message, close)(scope, receive, guarded)


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (413 beyond, counted as it streams in), with
    no pause over :data:`BODY_PAUSE` seconds and all of it within :data:`BODY_TIMEOUT` (408)."""
    too_large = f"the upload is larger than the limit of {limit:,} bytes"
    declared = request.headers.get("content-length")
    if declared is not None and whole_text(declared, "Content-Length") > limit:
        raise Refused(413, too_large)
    chunks, size = [], 0
    deadline = anyio.current_time() + BODY_TIMEOUT
    while True:
        wait = min(BODY_PAUSE, deadline - anyio.current_time())
        message = None
        with anyio.move_on_after(max(wait, 0)):
            message = await request.receive()
        if message is None:
            raise Refused(408, f"the request's body stopped coming (nothing for {BODY_PAUSE:g} "
                               f"s, or not all of it within {BODY_TIMEOUT:g} s)", close=True)
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, too_large)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
