"""Links people can share, in a real browser (Debian's Chromium, headless, driven by
Playwright): once the page has its cookie the token leaves the address bar, the address that is
left reloads and replays the same run, and a browser without the token is told how to open the
playground."""

from __future__ import annotations

import pytest
from browser import TOKEN
from browser import encode_config as encode
from browser_fixtures import playwright_api  # noqa: F401 - skips the module without Chromium

CONFIG = {"data": {"source": "generator", "name": "xor", "samples": 40, "noise": 0.05,
                   "classes": 2, "seed": 3},
          "hidden": [3], "activations": ["tanh", "sigmoid"], "loss": "binary_cross_entropy",
          "seed": 4, "learning_rate": 0.5, "batch_size": 5, "epochs": 20}


@pytest.fixture
def context(chromium):
    # wait_for_function evaluates strings, which the page's policy forbids (as in
    # test_playground_browser.py); the policy itself is tested there without the bypass.
    context = chromium.new_context(viewport={"width": 1500, "height": 1300}, bypass_csp=True)
    yield context
    context.close()


def ready(page) -> dict:
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert not page.is_visible("#message"), page.inner_text("#message")
    return page.evaluate("window.chainrule.state()")


def test_the_token_leaves_the_address_bar_and_the_address_left_replays(context, served):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    hash_part = f"#c={encode(CONFIG)}&p=3&hide=panel-export"
    page.goto(f"{served}/?token={TOKEN}&lesson=2{hash_part}")
    shown = ready(page)
    href = page.evaluate("location.href")
    assert TOKEN not in href and "token" not in href
    # The rest of the address is kept (the page writes the hash again, its configuration
    # completed with every default).
    assert href.startswith(f"{served}/?lesson=2#c=") and "&p=3&hide=panel-export" in href
    assert shown["position"] == 3 and not page.is_visible("#panel-export")

    page.click("#step-batch")
    page.wait_for_function("window.chainrule.state().position === 4")
    before = page.evaluate("window.chainrule.state()")
    href = page.evaluate("location.href")
    assert "token" not in href and "p=4" in href

    # A reload of the address without the token: the cookie lets it in, and the hash replays
    # the run to the same weights, bit for bit.
    answer = page.reload()
    assert answer.status == 200
    after = ready(page)
    assert after["position"] == 4 and after["weights"] == before["weights"]
    assert after["biases"] == before["biases"] and not page.is_visible("#panel-export")
    assert "token" not in page.evaluate("location.href")

    # The same address in another tab of this browser opens the same run.
    other = context.new_page()
    assert other.goto(href).status == 200
    assert ready(other)["weights"] == before["weights"]
    assert not errors, errors


def test_an_address_without_the_token_elsewhere_says_how_to_open_the_playground(
        chromium, context, served):
    page = context.new_page()
    page.goto(f"{served}/?token={TOKEN}#c={encode(CONFIG)}")
    ready(page)
    shared = page.evaluate("location.href")

    # Opened in a browser without this server's cookie (a student's own, another server):
    # a page that says what to run, not a raw JSON error, and it runs no script.
    stranger = chromium.new_context()
    try:
        other = stranger.new_page()
        problems = []
        other.on("console", lambda message: problems.append(message.text)
                 if message.type == "error" and "403" not in message.text else None)
        answer = other.goto(shared)
        assert answer.status == 403
        assert answer.headers["content-type"].startswith("text/html")
        text = other.inner_text("body")
        assert "chainrule serve" in text and "open the link it prints" in text
        assert other.evaluate("document.scripts.length") == 0
        assert other.evaluate("document.body.dataset.ready") is None
        # A wrong token, as a teacher's own link on a student's server carries it.
        answer = other.goto(f"{served}/?token=not-{TOKEN}#c={encode(CONFIG)}")
        assert answer.status == 403 and "chainrule serve" in other.inner_text("body")
        assert f"not-{TOKEN}" not in other.content()
        assert not problems, problems
    finally:
        stranger.close()
