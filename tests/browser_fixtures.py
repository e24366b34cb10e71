"""Imported by a browser test module: skips it where Playwright or Debian's Chromium is missing
(and fails where CI requires them). The fixtures those modules share, ``served`` (a playground
server in a thread) and ``chromium``, are in ``conftest.py``."""

from __future__ import annotations

import os

import pytest
from browser import chromium_available

playwright_api = pytest.importorskip("playwright.sync_api")
if not chromium_available():
    if os.environ.get("CHAINRULE_BROWSER_TESTS") == "required":
        raise RuntimeError("Chromium is missing; .ci/run installs it (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)",
                allow_module_level=True)
