import os

import matplotlib
import pytest
from hypothesis import settings

matplotlib.use("Agg")  # tests only: the library itself never picks a backend

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=30, deadline=None)
# make fuzz: the fuzz targets (tests/test_fuzz.py) and every other property test, at length.
settings.register_profile("fuzz", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------- the browser tests
# Shared by the modules that import browser_fixtures (which skips them without Chromium); a
# module may define its own ``served``.
@pytest.fixture(scope="module")
def served():
    from browser import server_thread

    with server_thread() as (url, _):
        yield url


@pytest.fixture(scope="module")
def chromium():
    from browser import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
