"""Play in a real browser: at full speed the page draws every update the server made, in order,
each with the engine's own numbers, however many a request brings; at a set speed one a time."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from browser import TOKEN
from browser import encode_config as encode
from browser_fixtures import playwright_api  # noqa: F401 - skips the module without Chromium

from chainrule.playground.session import Session

CONFIG = {"data": {"source": "generator", "name": "circle", "samples": 80, "noise": 0.05,
                   "classes": 2, "seed": 1},
          "hidden": [5, 4], "activations": ["tanh", "tanh", "sigmoid"],
          "loss": "binary_cross_entropy", "batch_size": 6, "learning_rate": 0.2,
          "epochs": 1000}

# Every position the page writes into #position while it plays, in order (one per drawing):
# each record keeps the value its write replaced (records of one task come together).
_WATCH = """() => {
  window.replacedPositions = [];
  new MutationObserver((records) => { for (const r of records)
    window.replacedPositions.push(Number(r.oldValue)); })
    .observe(document.getElementById("position"), { attributes: true, attributeOldValue: true,
                                                    attributeFilter: ["data-position"] });
}"""


@pytest.fixture
def page(chromium, served):
    context = chromium.new_context(viewport={"width": 1500, "height": 1300}, bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{served}/?token={TOKEN}#c={encode(CONFIG)}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    yield page
    context.close()
    assert not errors, errors


def play_until(page, speed: str, position: int) -> dict:
    page.evaluate(_WATCH)
    page.select_option("#speed", speed)
    page.click("#play")
    page.wait_for_function(f"window.chainrule.state().position >= {position}", timeout=60_000)
    page.click("#play")
    page.wait_for_function("document.getElementById('play').textContent.includes('play')")
    seen = page.evaluate("({ stats: window.chainrule.stats(), state: window.chainrule.state(),"
                         " replaced: window.replacedPositions })")
    seen["drawn"] = seen["replaced"][1:] + [seen["state"]["position"]]
    return seen


def weights(state) -> list[np.ndarray]:
    return [np.frombuffer(base64.b64decode(w), "<f8") for w in state["weights"]]


def test_full_speed_draws_every_update_in_order_with_the_engines_numbers(page):
    seen = play_until(page, "0", 120)
    stats, state, drawn = seen["stats"], seen["state"], seen["drawn"]
    position = state["position"]
    assert drawn[:position] == list(range(1, position + 1))  # none skipped, none twice
    assert stats["steps"] == position  # every update the server made during play was drawn
    # (How many updates a request brings follows the measured drawing time: W8 reports it.)
    session = Session(CONFIG)
    session.step("batch", position)
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights(state), session.net.weights))


def test_a_set_speed_asks_for_one_update_at_a_time(page):
    seen = play_until(page, "30", 6)
    stats, position = seen["stats"], seen["state"]["position"]
    assert seen["drawn"][:position] == list(range(1, position + 1))
    assert stats["steps"] == stats["requests"] == position
