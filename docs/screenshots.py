"""The playground's screenshots in docs/img/ (``make screenshots``).

Starts ``chainrule serve``, opens the page in headless Chromium on a spiral with three classes,
trains a while, clicks a hidden weight, and photographs each panel; then the whole page at each
width of ``WIDTHS`` (``playground-<width>.png``: a phone, a tablet, a laptop, wide screens; the
layout tests in tests/test_playground_layout.py measure the same widths); then the tutorial's
one sample, whose chain is the one Part 1 of the tutorial derives by hand.
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
WIDTHS = [390, 768, 1024, 1280, 1600]


def compact(path: str) -> None:
    """A whole-page shot in 256 colours (a third of the bytes, the same to the eye); kept as
    it is where Pillow (matplotlib's, in the dev extra) is missing."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


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
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            # two frames: the layout, then the canvases drawn again at their new size
            page.evaluate("() => new Promise((r) => requestAnimationFrame("
                          "() => requestAnimationFrame(r)))")
            shot = os.path.join(folder, f"playground-{width}.png")
            page.screenshot(path=shot, full_page=True)
            compact(shot)
        page.set_viewport_size({"width": 1500, "height": 1300})
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
