"""The playground's layout and controls, measured in a real browser (Debian's Chromium).

At a phone's width (390 px) up to a wide screen (1600 px): no panel is narrower than its
content and the page never scrolls sideways, no two panels (nor the header's controls, nor
two labels of the controls) overlap, the curves' legend lies outside their plot, and the
canvases are as sharp as the screen (one backing pixel per device pixel). Then the controls:
every one of them restarts the run at once, and the page calls the weight ``w`` and the step
size ``learning_rate`` wherever it names them.
"""

from __future__ import annotations

import re

import pytest
from browser import TOKEN
from browser import encode_config as encode
from browser_fixtures import playwright_api  # noqa: F401 - skips the module without Chromium

WIDTHS = [390, 768, 1024, 1280, 1600]
COLUMNS = {390: 1, 768: 1, 1024: 2, 1280: 2, 1600: 3}  # the design in style.css
CONFIG = {"data": {"source": "generator", "name": "spiral", "samples": 120, "noise": 0.05,
                   "classes": 3, "seed": 1},
          "test_split": 0.25, "hidden": [5, 4], "activations": ["tanh", "tanh", "softmax"],
          "loss": "categorical_cross_entropy", "init": "xavier", "seed": 3,
          "optimizer": "gd", "learning_rate": 0.1, "batch_size": 10, "epochs": 100}
FRAME = {"network": (760, 420), "data-canvas": (300, 300), "curves": (420, 220)}

MEASURE = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height]; };
  const shown = (e) => e.getClientRects().length > 0;
  const panels = [...document.querySelectorAll('main > .panel')].filter(shown).map((p) =>
    ({ id: p.id, box: box(p), scroll: p.scrollWidth, client: p.clientWidth }));
  const own = (l) => [...l.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent)
    .join('');  // a label's own words, without its options'
  const labels = [...document.querySelectorAll('.controls label, .layer-control')]
    .filter((e) => shown(e) && !e.closest('[hidden]'))
    .map((e) => ({ text: [...e.querySelectorAll('label'), e].map(own).join(' ').trim(),
                   box: box(e), group: e.classList.contains('layer-control'),
                   bias: Boolean(e.querySelector('input[data-bias-layer]')),
                   inGroup: Boolean(e.parentElement.closest('.layer-control')),
                   panel: e.closest('.panel') ? e.closest('.panel').id : 'header' }));
  const header = [...document.querySelectorAll('header > *, header .time > *, header .where > *')]
    .filter(shown).map((e) => ({ text: e.textContent.trim().slice(0, 20), box: box(e),
                                 parent: e.parentElement.tagName + e.parentElement.className }));
  const canvases = [...document.querySelectorAll('canvas')].map((c) => ({ id: c.id,
    box: box(c), css: c.clientWidth, cssHeight: c.clientHeight, width: c.width,
    height: c.height, panel: c.closest('.panel').clientWidth }));
  return { panels, labels, header, canvases, dpr: devicePixelRatio,
           page: [document.documentElement.scrollWidth, document.documentElement.clientWidth] };
}"""


def overlap(a, b, slack=0.5) -> bool:
    """Whether boxes [left, top, width, height] share more than ``slack`` pixels each way."""
    return (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > slack
            and min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) > slack)


def inside(a, b, slack=0.5) -> bool:
    return (a[0] >= b[0] - slack and a[1] >= b[1] - slack
            and a[0] + a[2] <= b[0] + b[2] + slack and a[1] + a[3] <= b[1] + b[3] + slack)


def settle(page) -> None:
    """Two animation frames: the layout and the canvases' redraw after a resize are done."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def open_page(context, url, config=CONFIG, position=0):
    page = context.new_page()
    page.goto(f"{url}/?token={TOKEN}#c={encode(config)}&p={position}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return page


def click_weight(page, layer, source, to):
    """A click on weights[layer][source, to] as a person makes it, whatever the canvas's size:
    edgePoint is in the network's frame (760 × 420), which fills the canvas's box."""
    point = page.evaluate(f"window.chainrule.edgePoint({layer}, {source}, {to})")
    box = page.locator("#network").bounding_box()
    page.mouse.click(box["x"] + point["x"] * box["width"] / 760,
                     box["y"] + point["y"] * box["height"] / 420)
    page.wait_for_function(
        "document.querySelector('#chain b') && document.querySelector('#chain b').textContent"
        f".includes('weights[{layer}][{source}, {to}]')")


@pytest.fixture(scope="module")
def trained(chromium, served):
    """One page for the layout tests: 30 updates in (the curves have epochs, the metrics a
    confusion matrix), the chain of a hidden weight open, the per-row values shown."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    page = open_page(context, served, position=30)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    click_weight(page, 1, 2, 1)
    page.click("#chain details summary")  # the neuron's own forward pass, unfolded
    page.click("#show-commands")
    page.wait_for_selector("#python")
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
    pages = []
    errors = []

    def make(url, config=CONFIG, position=0):
        made = open_page(context, url, config, position)
        made.on("pageerror", lambda error: errors.append(str(error)))
        pages.append(made)
        return made

    yield make
    context.close()
    assert not errors, errors


# ---------------------------------------------------------------------------- any screen
@pytest.mark.parametrize("width", WIDTHS)
def test_panels_fit_their_content_and_nothing_overlaps(trained, width):
    trained.set_viewport_size({"width": width, "height": 1000})
    settle(trained)
    m = trained.evaluate(MEASURE)
    assert m["page"][0] <= m["page"][1], "the page scrolls sideways"
    panels = m["panels"]
    assert len(panels) == 6
    for p in panels:
        assert p["scroll"] <= p["client"], f"{p['id']} is narrower than its content"
        assert p["box"][2] >= min(300, width - 20), f"{p['id']} is {p['box'][2]} px wide"
        assert p["box"][0] >= 0 and p["box"][0] + p["box"][2] <= width + 0.5, p["id"]
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            assert not overlap(a["box"], b["box"]), (a["id"], b["id"])
    lefts = {round(p["box"][0]) for p in panels}
    assert len(lefts) == COLUMNS[width], lefts
    header = m["header"]
    for i, a in enumerate(header):
        for b in header[i + 1:]:
            if a["parent"] == b["parent"]:
                assert not overlap(a["box"], b["box"]), (a["text"], b["text"])


@pytest.mark.parametrize("width", WIDTHS)
def test_labels_do_not_collide(trained, width):
    """No two labels of the controls overlap, and two on one line stand at least 6 px apart:
    a layer's bias box keeps clear of the next layer's label (it ran into it)."""
    trained.set_viewport_size({"width": width, "height": 1000})
    settle(trained)
    labels = trained.evaluate(MEASURE)["labels"]
    layers = [label for label in labels if label["group"]]
    assert len(layers) == 3 and all(label["bias"] and "bias" in label["text"] for label in layers)
    loose = [label for label in labels if not label["inGroup"]]  # a group stands for its two
    for i, a in enumerate(loose):
        for b in loose[i + 1:]:
            if a["panel"] != b["panel"]:
                continue
            assert not overlap(a["box"], b["box"]), (a["text"], b["text"])
            (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
            if min(ay + ah, by + bh) - max(ay, by) > min(ah, bh) / 2:  # on one line
                gap = max(bx - (ax + aw), ax - (bx + bw))
                assert gap >= 6, (a["text"], b["text"], gap)
    inner = [label for label in labels if label["inGroup"]]
    for i, a in enumerate(inner):
        for b in inner[i + 1:]:
            assert not overlap(a["box"], b["box"]), (a["text"], b["text"])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_curves_legend_lies_outside_the_plot(trained, width):
    trained.set_viewport_size({"width": width, "height": 1000})
    settle(trained)
    layout = trained.evaluate("window.chainrule.curvesLayout()")
    canvas = trained.evaluate(MEASURE)["canvases"]
    curves = next(c for c in canvas if c["id"] == "curves")["box"]
    names = [entry[0] for entry in layout["legend"]]
    assert names == ["loss", "test_loss", "accuracy", "test_accuracy"]
    plot = layout["plot"]
    assert inside(plot, curves) and plot[2] > 200 and plot[3] > 80
    boxes = [entry[1:] for entry in layout["legend"]]
    for i, box in enumerate(boxes):
        assert not overlap(box, plot), names[i]
        assert inside(box, curves), names[i]
        for other in boxes[i + 1:]:
            assert not overlap(box, other)


@pytest.mark.parametrize("width", WIDTHS)
def test_canvases_fill_their_panel(trained, width):
    """Each canvas scales with its panel (up to a width of its own), keeps its frame's shape,
    and has one backing pixel per CSS pixel here (devicePixelRatio 1)."""
    trained.set_viewport_size({"width": width, "height": 1000})
    settle(trained)
    m = trained.evaluate(MEASURE)
    for c in m["canvases"]:
        w, h = FRAME[c["id"]]
        assert c["css"] <= c["panel"] and c["css"] >= min(c["panel"] - 24, 340), c
        assert abs(c["cssHeight"] - c["css"] * h / w) <= 1.5, c
        assert c["width"] == round(c["css"] * m["dpr"]), c


def test_canvases_are_crisp_at_a_device_pixel_ratio_of_2(chromium, served):
    """On a screen of two device pixels per CSS pixel each canvas has twice the backing
    pixels, and a click still lands on the weight under the pointer."""
    context = chromium.new_context(viewport={"width": 1024, "height": 900},
                                   device_scale_factor=2, bypass_csp=True)
    page = open_page(context, served, position=3)
    m = page.evaluate(MEASURE)
    assert m["dpr"] == 2
    for c in m["canvases"]:
        w, h = FRAME[c["id"]]
        assert c["width"] == round(2 * c["css"]) and abs(c["height"] - c["width"] * h / w) <= 1
    click_weight(page, 0, 1, 3)
    context.close()


# ---------------------------------------------------------------------------- the controls
# (selector, how to change it, what the configuration then says)
CONTROLS = [
    ("#learning-rate", "0.05", "c.learning_rate === 0.05"),
    ("#batch-size", "0", "c.batch_size === 0"),
    ("#optimizer", "momentum", "c.optimizer === 'momentum'"),
    ("#opt-momentum", "0.5", "c.optimizer_settings.momentum === 0.5"),
    ("#schedule", "step", "c.schedule === 'step'"),
    ("#l2", "0.001", "c.l2 === 0.001"),
    ("#epochs", "50", "c.epochs === 50"),
    ("#target-loss", "0.2", "c.target_loss === 0.2"),
    ("#target-accuracy", "0.99", "c.target_accuracy === 0.99"),
    ("#hidden", "6,3", "c.hidden.join() === '6,3'"),
    ("#activation-controls select[data-layer='0']", "relu", "c.activations[0] === 'relu'"),
    ("#activation-controls input[data-bias-layer='1']", False, "c.bias[1] === false"),
    ("#activation-controls input[data-dropout-layer='0']", "0.2",
     "Array.isArray(c.dropout) && c.dropout[0] === 0.2"),
    ("#activation-controls select[data-norm-layer='1']", "layer",
     "Array.isArray(c.normalization) && c.normalization[1] === 'layer'"),
    ("#l1", "0.001", "c.l1 === 0.001"),
    ("#clip-norm", "1", "c.clip_norm === 1"),
    ("#clip-value", "0.5", "c.clip_value === 0.5"),
    ("#bias", True, "c.bias === true"),
    ("#init", "he", "c.init === 'he'"),
    ("#seed", "9", "c.seed === 9"),
    ("#data-samples", "100", "c.data.samples === 100"),
    ("#data-classes", "4", "c.data.classes === 4"),
    ("#data-seed", "4", "c.data.seed === 4"),
    ("#data-noise", "0.1", "c.data.noise === 0.1"),
    ("#test-split", "0.3", "c.test_split === 0.3"),
    ("#standardize", False, "c.standardize === false"),
]


def change(page, selector, value):
    tag = page.eval_on_selector(selector, "e => e.tagName + ':' + e.type")
    if tag.startswith("SELECT"):
        page.select_option(selector, value)
    elif tag.endswith("checkbox"):
        page.set_checked(selector, value)
    else:
        page.fill(selector, value)
        page.press(selector, "Enter")


def test_every_control_restarts_the_run_at_once(page, served):
    """The data's, the network's and the training's controls alike: a change starts the run
    the controls now describe, from update 0; there is no button to apply them."""
    p = page(served)
    assert p.locator("#apply").count() == 0
    assert not [t for t in p.eval_on_selector_all("button", "bs => bs.map(b => b.textContent)")
                if "apply" in t]
    for selector, value, holds in CONTROLS:
        p.click("#step-batch")
        p.wait_for_function("window.chainrule.state().position === 1")
        change(p, selector, value)
        p.wait_for_function(f"(() => {{ const c = window.chainrule.config(); return {holds}; }})()",
                            timeout=10_000)
        p.wait_for_function("window.chainrule.state().position === 0", timeout=10_000)
        assert not p.is_visible("#message"), (selector, p.inner_text("#message"))


def test_changes_made_in_a_row_all_reach_the_run(page, served):
    """Changes made faster than the server answers are none of them lost: the restarts run one
    after the other, and the controls keep what was set while one is under way."""
    p = page(served)
    p.select_option("#optimizer", "adam")
    p.fill("#opt-beta1", "0.8")
    p.fill("#learning-rate", "0.02")
    p.fill("#batch-size", "0")
    p.select_option("#activation-controls select[data-layer='1']", "sigmoid")
    p.fill("#l2", "0.003")
    p.press("#l2", "Enter")
    p.wait_for_function("window.chainrule.config().l2 === 0.003")
    config = p.evaluate("window.chainrule.config()")
    assert config["optimizer"] == "adam" and config["optimizer_settings"] == {"beta1": 0.8}
    assert config["learning_rate"] == 0.02 and config["batch_size"] == 0
    assert config["activations"] == ["tanh", "sigmoid", "softmax"]
    assert p.input_value("#opt-beta1") == "0.8" and p.input_value("#learning-rate") == "0.02"


def test_one_symbol_for_the_weight_and_learning_rate_spelt_out(page, served):
    """The training panel's w is the update table's w (the optimizer's own text says p), and
    the page says learning_rate where the optimizer says lr."""
    p = page(served, position=2)
    assert "w ← w − learning_rate · gradient" in p.inner_text("#panel-training")
    click_weight(p, 1, 2, 1)
    rows = p.eval_on_selector_all("#chain table.values tr",
                                  "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
    names = [row[0] for row in rows if len(row) == 3]
    assert "learning_rate · g" in names and "w" in names and "p" not in names
    formulas = {row[0]: row[1] for row in rows if len(row) == 3}
    assert formulas["w"] == "w - learning_rate · g"
    text = p.inner_text("#panel-chain") + p.inner_text("#panel-training")
    assert not re.search(r"\blr\b", text) and not re.search(r"\bp\b", text)
    assert not re.search(r"\blr\b", p.inner_text("header"))  # the status line too
    p.click("#chain details summary")
    p.click("#chain-bias")
    p.wait_for_function("document.querySelector('#chain b').textContent.includes('biases[1][1]')")
    names = p.eval_on_selector_all("#chain table.values tr td:first-child",
                                   "tds => tds.map(td => td.textContent)")
    assert "b" in names and "b after the update (the engine's)" in names
