"""The server's sockets and connections: what uvicorn does not bound by itself.

* **No Nagle delay.** Every connection has ``TCP_NODELAY``: an answer goes out in two writes
  (headers, then body), and with Nagle's algorithm the second waits for the client's delayed
  ACK, about 40 ms on every request of a kept-alive connection. asyncio sets the option only on
  sockets made with ``IPPROTO_TCP``, so :func:`listen` makes its socket so, sets the option on
  it, and :class:`protocol <_Protocol>` sets it again on every accepted connection.
* **No slow clients.** A connection must deliver a request's headers within
  :data:`HEADER_TIMEOUT` seconds of opening or of its previous answer (a connection that sends
  half its headers gets a 408 and is closed; an idle kept-alive one is closed); headers are at
  most :data:`MAX_HEADER_BYTES`; a body is read with its own time limits
  (:func:`~chainrule.playground.guard.read_body`); the rest of a body answered before it
  arrived (a 403, a 413) is read and dropped within the same time limit, then the connection
  is closed.
* **No lock-out.** ``chainrule serve`` raises its limit on open files to the system's
  (:func:`raise_files_limit`). At most :func:`connection_limit` connections are open (256, and
  a quarter of the file limit), accepted at most :func:`accept_burst` at a time so that a flood
  of connections never runs out of files. A new connection beyond it closes the connections that
  have waited longest without a request under way (idle ones, or ones that never finished their
  headers), so clients that open connections and send nothing (without the token, they can do
  nothing else) never keep the user's page out; only when every connection is busy with a
  request is the new one refused, with a 503. uvicorn's ``limit_concurrency`` is not used: it
  counts idle connections and answers the user's request with a 503, which is the lock-out
  itself.
"""

from __future__ import annotations

import socket
from typing import Any

from .guard import raw_error

__all__ = ["HEADER_TIMEOUT", "MAX_CONNECTIONS", "MAX_HEADER_BYTES", "accept_burst",
           "connection_limit", "files_limit", "listen", "make_server", "raise_files_limit"]

#: Seconds a connection may take to deliver a request's headers (from its start, or from its
#: previous answer: uvicorn's keep-alive timeout is the same).
HEADER_TIMEOUT = 5.0
#: The most bytes a request's line and headers may have (h11's limit; a larger one is a 400).
MAX_HEADER_BYTES = 16 * 1024
#: The most connections open at once (see :func:`connection_limit`).
MAX_CONNECTIONS = 256


def files_limit() -> int | None:
    """The process's limit on open files (``None``: none known)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on Unix
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def raise_files_limit(wanted: int = 65536) -> None:
    """Raise the process's soft limit on open files towards its hard limit (best effort: the
    server of ``chainrule serve`` is the whole process)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - not allowed, not Unix
        pass


def connection_limit(requested: int = MAX_CONNECTIONS) -> int:
    """``requested``, and at most a quarter of the process's limit on open files (a socket is a
    file; the rest is left to uploads, the model files and the Python runtime)."""
    soft = files_limit()
    return requested if soft is None else max(8, min(requested, soft // 4))


def accept_burst(limit: int) -> int:
    """How many connections asyncio may accept at once (uvicorn's ``backlog``, which asyncio
    also takes as the listening queue's length): small enough that a burst of new connections,
    accepted before the oldest idle ones are closed, never runs out of files."""
    soft = files_limit()
    return 2048 if soft is None else max(16, min(2048, (soft - limit - 64) // 3))


def _no_delay(sock: Any) -> None:
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - a socket already closing
            pass


def listen(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: any free one), with ``TCP_NODELAY``;
    a ``ValueError`` says why it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _no_delay(sock)  # Linux and the BSDs give accepted connections the listener's options
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _protocol(base: type, limit: int, header_timeout: float) -> type:
    """uvicorn's h11 protocol with the rules of the module's text."""
    import h11

    class _Protocol(base):
        _waiting: Any = None
        _waiting_since = 0.0

        def connection_made(self, transport) -> None:
            _no_delay(transport.get_extra_info("socket"))
            super().connection_made(transport)
            self._wait()
            self._make_room()

        def connection_lost(self, exc) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers are in: it is under way
                self._stop_waiting()

        def on_response_complete(self) -> None:
            # The next request's headers are waited for from now (and the rest of a body that
            # was answered before it came is read and dropped meanwhile, so that the client
            # reads the answer rather than a reset). First: a pipelined request, handled by
            # uvicorn below, stops the wait again.
            self._wait()
            super().on_response_complete()

        def send_400_response(self, msg: str) -> None:
            if not self.transport.is_closing():
                self.transport.write(raw_error(400, f"not a valid HTTP request ({msg.rstrip('.')}"
                                                    f"; headers are at most {MAX_HEADER_BYTES:,}"
                                                    " bytes)"))
                self.transport.close()

        # ---------------------------------------------------------------- waiting for headers
        def _wait(self) -> None:
            self._stop_waiting()
            self._waiting_since = self.loop.time()
            self._waiting = self.loop.call_later(header_timeout, self._too_slow)

        def _stop_waiting(self) -> None:
            if self._waiting is not None:
                self._waiting.cancel()
                self._waiting = None

        def _too_slow(self) -> None:
            self._waiting = None
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                # part of a request's headers came: say why it ends
                self.transport.write(raw_error(408, "the request's headers did not come within "
                                                    f"{header_timeout:g} s"))
            self.transport.close()

        def _make_room(self) -> None:
            live = [c for c in self.connections if not c.transport.is_closing()]
            excess = len(live) - limit
            if excess <= 0:
                return
            waiting = sorted((c for c in live if c is not self
                              and getattr(c, "_waiting", None) is not None),
                             key=lambda c: c._waiting_since)
            for other in waiting[:excess]:
                other._stop_waiting()
                other.transport.close()
            if len(waiting) < excess:  # every other connection is busy with a request
                self._stop_waiting()
                self.transport.write(raw_error(503, f"the server has {limit} connections busy; "
                                                    "try again in a moment"))
                self.transport.close()

    return _Protocol


def make_server(app, max_connections: int | None = None,
                header_timeout: float = HEADER_TIMEOUT, log_level: str = "warning"):
    """The ``uvicorn.Server`` that runs ``app`` with the rules of this module; run it with
    ``server.run(sockets=[listen(host, port)])``."""
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    limit = connection_limit() if max_connections is None else max_connections
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", ws="none",
                            http=_protocol(H11Protocol, limit, header_timeout),
                            backlog=accept_burst(limit),
                            timeout_keep_alive=max(1, round(header_timeout)),
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    return uvicorn.Server(config)
