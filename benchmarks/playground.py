"""How fast the web playground plays, with the page drawing every update.

    python benchmarks/playground.py [--seconds 8] [--json out.json]

``chainrule serve`` runs in its own process, as a user starts it; Debian's Chromium (headless,
driven by Playwright) opens the page with a configuration in its URL, sets the speed to "as
fast as it draws" and presses play: each update is one request to the server, whose answer the
page draws in full (network, neuron pictures, data plane, curves, metrics) before asking for
the next. Reported: updates per second over the measured window (after a warm-up), and the
mean time per update spent waiting for the server and drawing.

* W8a: 2-8-8-1 (tanh, sigmoid output, binary cross-entropy), circle data, 500 points, batch 10
  (TensorFlow Playground's defaults); target 30 updates per second.
* W8b: 64-100-10 (relu, softmax) on the digits, Adam, batch 32; target 10 updates per second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import browser  # noqa: E402

CASES = {
    "W8a": ("2-8-8-1, circle, 500 points, batch 10", 30, {
        "data": {"source": "generator", "name": "circle", "samples": 500, "noise": 0.08,
                 "classes": 2, "seed": 0},
        "hidden": [8, 8], "activations": ["tanh", "tanh", "sigmoid"],
        "loss": "binary_cross_entropy", "learning_rate": 0.03, "batch_size": 10,
        "epochs": 100000}),
    "W8b": ("64-100-10, digits, Adam, batch 32", 10, {
        "data": {"source": "builtin", "name": "digits"}, "hidden": [100],
        "activations": ["relu", "softmax"], "loss": "categorical_cross_entropy", "init": "he",
        "optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 100000}),
}


def measure(page, base_url: str, config: dict, warmup: float, seconds: float) -> dict:
    page.goto(f"{base_url}#c={browser.encode_config(config)}")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.select_option("#speed", "0")
    page.click("#play")
    time.sleep(warmup)
    first = page.evaluate("window.chainrule.stats()")
    start = time.perf_counter()
    time.sleep(seconds)
    last = page.evaluate("window.chainrule.stats()")
    elapsed = time.perf_counter() - start
    page.click("#play")  # pause
    steps = last["steps"] - first["steps"]
    frames = max(1, last["frames"] - first["frames"])
    return {"updates_per_s": steps / elapsed, "updates": steps,
            "request_ms": (last["requestMs"] - first["requestMs"]) / max(1, steps),
            "draw_ms": (last["drawMs"] - first["drawMs"]) / frames,
            "position": page.evaluate("window.chainrule.state().position")}


def run(seconds: float = 8.0, warmup: float = 2.0, cases=tuple(CASES)) -> dict:
    from playwright.sync_api import sync_playwright

    results = {}
    with browser.server_process() as url, sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        page = chromium.new_page(viewport={"width": 1500, "height": 1300})
        base = url.split("#")[0]
        for name in cases:
            title, target, config = CASES[name]
            result = measure(page, base, config, warmup, seconds)
            result.update(title=title, target=target)
            results[name] = result
            print(f"{name} {title}: {result['updates_per_s']:.1f} updates/s (target {target}); "
                  f"{result['request_ms']:.1f} ms waiting for the server, "
                  f"{result['draw_ms']:.1f} ms drawing per update", flush=True)
        chromium.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = run(args.seconds)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
