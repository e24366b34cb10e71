"""The playground's screenshots in docs/img/ (``make screenshots``).

Starts ``chainrule serve``, opens the page in headless Chromium on a spiral with three classes,
trains a while, clicks a hidden weight, and photographs each panel; then the tutorial's one
sample, whose chain is the one Part 1 of the tutorial derives by hand.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import browser  # noqa: E402

SPIRAL = {"data": {"source": "generator", "name": "spiral", "samples": 300, "noise": 0.03,
                   "classes": 3, "seed": 0},
          "hidden": [16, 16], "activations": ["tanh", "tanh", "softmax"],
          "loss": "categorical_cross_entropy", "optimizer": "adam", "learning_rate": 0.01,
          "batch_size": 16, "epochs": 1000}
STEPS = 15000  # about 1,000 epochs: the spiral learnt (100% of training rows, 91% held out)
TUTORIAL = {"data": {"source": "builtin", "name": "tutorial"}, "test_split": 0,
            "standardize": False, "hidden": [], "activations": ["sigmoid"], "bias": False,
            "loss": "squared_error", "init": "uniform", "optimizer": "gd",
            "learning_rate": 0.5, "epochs": 10000}
PANELS = ["data", "network", "training", "metrics", "chain", "export"]


def click_weight(page, layer: int, source: int, to: int) -> None:
    point = page.evaluate(f"window.chainrule.edgePoint({layer}, {source}, {to})")
    box = page.locator("#network").bounding_box()
    page.mouse.click(box["x"] + point["x"] * box["width"] / 760,
                     box["y"] + point["y"] * box["height"] / 420)
    page.wait_for_selector("#chain [data-key=gradient]")


def main(folder: str) -> None:
    from playwright.sync_api import sync_playwright

    os.makedirs(folder, exist_ok=True)
    with browser.server_process() as url, sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        page = chromium.new_page(viewport={"width": 1500, "height": 1300})
        base = url.split("#")[0]
        page.goto(f"{base}#c={browser.encode_config(SPIRAL)}&p={STEPS}")
        page.wait_for_selector("body[data-ready=true]")
        click_weight(page, 1, 2, 9)
        page.hover("#step-batch")
        page.screenshot(path=os.path.join(folder, "playground.png"), full_page=True)
        for panel in PANELS:
            page.locator(f"#panel-{panel}").screenshot(
                path=os.path.join(folder, f"playground-{panel}.png"))
        page.goto("about:blank")
        page.goto(f"{base}#c={browser.encode_config(TUTORIAL)}&p=3")
        page.wait_for_selector("body[data-ready=true]")
        click_weight(page, 0, 0, 0)
        page.locator("#panel-chain").screenshot(
            path=os.path.join(folder, "playground-tutorial-chain.png"))
        chromium.close()
    print(f"screenshots in {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "img"))
