"""The playground's web server: the page, and a JSON API over :class:`Session` objects.

Built on Starlette and uvicorn (``pip install "chainrule[serve]"``). Like Jupyter it is a local
server that guards itself, each rule in one place that every request goes through:

* it binds 127.0.0.1 unless told otherwise;
* :class:`~chainrule.playground.guard.Guard`, around the whole application: every request
  needs the token printed with the URL, the ``Host`` header must name this server and a
  request that says where it comes from must come from this page; every answer, the static
  files and every error included, carries the security headers; every exception is a JSON
  ``{"error": ...}`` with a 4xx for what the client sent, and the server goes on (a browser
  refused a page gets a small HTML page instead, which says how to open the playground);
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
import secrets
import socket
import threading

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from .budget import MEMORY_BUDGET
from .connections import listen, make_server, raise_files_limit
from .guard import Guard
from .routes import MAX_JSON_BYTES, ROUTES, STATIC, http_error
from .store import MAX_FILES, MAX_SESSIONS, Files, Sessions
from .uploads import MAX_UPLOAD_BYTES

__all__ = ["MAX_FILES", "MAX_JSON_BYTES", "MAX_SESSIONS", "MAX_UPLOAD_BYTES", "STATIC",
           "allowed_hosts", "create_app", "serve"]


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` headers a server bound to ``host:port`` answers: its loopback names, and
    the name it was bound to (for every interface, the names this machine goes by)."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::", ""):  # every interface: the names this machine goes by too
        names |= _machine_names()
    else:
        names.add(f"[{host}]" if ":" in host else host)
    return {f"{name}:{port}" for name in names}


def create_app(token: str, port: int, host: str = "127.0.0.1",
               max_sessions: int = MAX_SESSIONS, memory_budget: int = MEMORY_BUDGET) -> Starlette:
    """The Starlette application for a server on ``host:port`` that wants ``token``, keeping at
    most ``max_sessions`` sessions within ``memory_budget`` bytes. Its routes
    (:mod:`~chainrule.playground.routes`) find the sessions and the uploaded files in the
    application's state (``app.state.sessions``, ``app.state.files``)."""
    files = Files()
    sessions = Sessions(max_sessions, memory_budget)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        files.close()

    app = Starlette(routes=ROUTES, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token,
                                           hosts=allowed_hosts(host, port), port=port)],
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
