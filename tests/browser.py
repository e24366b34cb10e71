"""Helpers for the playground's tests, benchmarks and screenshots: a server on a free port,
and Debian's Chromium driven by Playwright (``playwright install`` is never needed)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: As the machine's notes advise: no sandbox (root), no GPU, and no background connections
#: (this machine's network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
TOKEN = "test-token-0123456789"


def encode_config(config: dict) -> str:
    """A run's configuration as the page's address carries it (``#c=...``)."""
    return base64.urlsafe_b64encode(json.dumps(config).encode()).decode().rstrip("=")


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def server_thread(token: str = TOKEN, max_sessions: int = 32, host: str = "127.0.0.1"):
    """The playground's app on a free port of 127.0.0.1, in this process, made as for a server
    bound to ``host`` (its Host check); yields ``(base_url, app)``."""
    from chainrule.playground.connections import listen, make_server
    from chainrule.playground.server import create_app

    sock = listen("127.0.0.1", 0)  # as `chainrule serve` makes it: TCP_NODELAY, its limits
    port = sock.getsockname()[1]
    app = create_app(token, port, host, max_sessions=max_sessions)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the playground server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def server_process(token: str = TOKEN):
    """``chainrule serve`` in its own process (as a user runs it); yields the URL it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "serve", "--port", "0", "--no-browser",
         "--token", token], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        if not match:
            raise RuntimeError(f"chainrule serve printed {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(10)
