"""The playground in a real browser: Debian's Chromium, headless, driven by Playwright.

The tests click as a person would and compare what the page shows with the Python API, number
for number (the page writes each value as the shortest text that reads back to the same
double, so ``float(text)`` is the engine's value exactly).
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from browser import TOKEN
from browser import encode_config as encode
from browser_fixtures import playwright_api  # noqa: F401 - skips the module without Chromium

from chainrule import load
from chainrule.datasets.planar import generate
from chainrule.explain import explain
from chainrule.gradcheck import numerical_derivative
from chainrule.metrics import score
from chainrule.network import Network
from chainrule.optimizers import get_optimizer
from chainrule.preparation import prepare

CONFIG = {"data": {"source": "generator", "name": "spiral", "samples": 60, "noise": 0.05,
                   "classes": 3, "seed": 2},
          "test_split": 0.25, "hidden": [4, 3], "activations": ["tanh", "relu", "softmax"],
          "loss": "categorical_cross_entropy", "init": "xavier", "seed": 5,
          "optimizer": "momentum", "optimizer_settings": {"momentum": 0.8},
          "learning_rate": 0.1, "batch_size": 7, "l2": 0.01, "epochs": 40}
WIDTH, HEIGHT = 760, 420  # the network canvas's own pixels


@pytest.fixture
def page(chromium):
    # Playwright's wait_for_function evaluates strings, which the page's Content Security
    # Policy forbids; test_the_page_keeps_its_own_policy runs without this bypass.
    context = chromium.new_context(viewport={"width": 1500, "height": 1300},
                                   accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def open_page(page, url, config=CONFIG, extra="", exact=True):
    """The page on ``config``; with ``exact``, its full-precision switch on (so that each
    number's text is the engine's value exactly: the tests compare with ``==``)."""
    page.goto("about:blank")  # a new hash alone would not load the page again
    page.goto(f"{url}/?token={TOKEN}#c={encode(config)}{extra}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert not page.is_visible("#message"), page.inner_text("#message")
    if exact:
        page.check("#precision-full")
        page.wait_for_selector("body[data-precision=full]")
        page.locator("#precision-full").blur()  # the page's keys act when no input has focus


def state(page) -> dict:
    return page.evaluate("window.chainrule.state()")


def click_step(page, button, position):
    page.click(button)
    page.wait_for_function(f"window.chainrule.state().position === {position}")


def canvas_click(page, selector, x, y, width, height, **options):
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height,
                     **options)


def click_weight(page, layer, source, to):
    point = page.evaluate(f"window.chainrule.edgePoint({layer}, {source}, {to})")
    canvas_click(page, "#network", point["x"], point["y"], WIDTH, HEIGHT)
    page.wait_for_function(
        "document.querySelector('#chain b') && document.querySelector('#chain b').textContent"
        f".includes('weights[{layer}][{source}, {to}]')")


def chain_numbers(page) -> dict[str, float]:
    pairs = page.eval_on_selector_all("#chain [data-key]",
                                      "els => els.map(e => [e.dataset.key, e.textContent])")
    return {key: float(text) for key, text in pairs}


def weights_of(state_: dict) -> list[np.ndarray]:
    return [np.frombuffer(base64.b64decode(w), dtype="<f8") for w in state_["weights"]]


# ---------------------------------------------------------------------------- the reference
def python_api_run(config: dict, steps: int):
    """The same run through the Python API alone: the data, the network, a trainer stepped
    ``steps`` times (the last one watched), and what the chain panel explains."""
    d = config["data"]
    data = prepare(generate(d["name"], d["seed"], d["samples"], d["noise"], d["classes"]),
                   config["loss"], config["test_split"], 0.0, config["seed"])
    sizes = [2, *config["hidden"], data.Y_train.shape[1]]
    net = Network(sizes, activation=config["activations"], loss=config["loss"],
                  init=config["init"], seed=config["seed"], bias=config.get("bias", True))
    trainer = net.trainer(data.X_train, data.Y_train, epochs=config["epochs"],
                          learning_rate=config["learning_rate"],
                          optimizer=get_optimizer(config["optimizer"],
                                                  **config["optimizer_settings"]),
                          batch_size=config["batch_size"] or None, l2=config["l2"],
                          progress=False)
    for _ in range(steps - 1):
        trainer.step()
    before = net.flat_parameters().copy()
    optimizer_before = {k: v[0].copy() for k, v in trainer.optimizer.state.items()}
    record = trainer.step(watch=True)
    return net, trainer, before, optimizer_before, record


def flat_index(net, layer, source, to):
    offset = 0
    for at in range(layer):
        offset += net.sizes[at] * net.sizes[at + 1] + (net.sizes[at + 1] if net.bias[at] else 0)
    return offset + source * net.sizes[layer + 1] + to


def expected_chain(config, steps, layer, source, to) -> dict[str, float]:
    net, trainer, before, optimizer_before, record = python_api_run(config, steps)
    probe = net.copy()
    probe.flat_parameters()[...] = before
    ex = explain(probe, record.inputs, record.targets, layer, (source, to))
    out = {"value": probe.weights[layer][source, to], "gradient": ex.gradient,
           "numerical": numerical_derivative(probe, record.inputs, record.targets, layer,
                                             (source, to)),
           "engine_gradient": record.weight_grads[layer][source, to],
           "l2_term": config["l2"] * probe.weights[layer][source, to],
           "g3": ex.sop_weight_deriv.value[0], "error": ex.error,
           f"sop:{layer}:{to}": ex.sops[layer][0, to],
           f"output:{layer}:{to}": ex.outputs[layer][0, to],
           "row_term": ex.delta.value[0] * ex.sop_weight_deriv.value[0],  # carries 1/n
           "learning_rate": record.learning_rate, "update_gradient":
               record.weight_grads[layer][source, to],
           "after": net.weights[layer][source, to]}
    layer_inputs = record.inputs if layer == 0 else ex.outputs[layer - 1]
    for i in range(net.sizes[layer]):
        out[f"in:{i}"] = layer_inputs[0, i]
        out[f"w:{i}"] = probe.weights[layer][i, to]
    out["bias"] = probe.biases[layer][to]
    for k in range(net.sizes[-1]):
        out[f"predicted:{k}"] = ex.outputs[-1][0, k]
        out[f"target:{k}"] = ex.targets[0, k]
    for delta in ex.derivation:
        key = f"{delta.layer}:{delta.neuron}"
        out[f"delta:{key}"] = delta.value[0]
        for index, factor in enumerate(delta.factors):
            if np.ndim(factor.value) == 1:
                out[f"factor:{key}:{index}"] = factor.value[0]
        if delta.output_grad is not None:
            out[f"output_grad:{key}"] = delta.output_grad[0]
        for path in delta.paths:
            out[f"path:{key}:{path['to_neuron']}"] = path["weight"]
    index = flat_index(net, layer, source, to)
    terms = trainer.optimizer.terms(
        before[index], record.weight_grads[layer][source, to], record.learning_rate,
        {name: buffer[index] for name, buffer in optimizer_before.items()},
        trainer.optimizer.steps)
    for name, _, value in terms:
        out[f"term:{name}"] = value
    return {k: float(v) for k, v in out.items()}


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("layer, source, to", [(0, 1, 2), (1, 3, 0), (2, 2, 1)])
def test_every_number_of_a_chain_is_the_python_apis(page, served, layer, source, to):
    open_page(page, served)
    for position in range(1, 4):
        click_step(page, "#step-batch", position)
    click_weight(page, layer, source, to)
    shown = chain_numbers(page)
    expected = expected_chain(CONFIG, 3, layer, source, to)
    assert set(expected) <= set(shown), set(expected) - set(shown)
    for key, value in expected.items():
        assert shown[key] == value, key
    assert len(shown) >= len(expected)
    # The page's weights are the engine's after those three updates, and its metrics are
    # chainrule.metrics.score's (what chainrule evaluate prints) on the same rows.
    net = python_api_run(CONFIG, 3)[0]
    for mine, theirs in zip(weights_of(state(page)), net.weights):
        assert np.array_equal(mine, theirs.ravel())
    d = CONFIG["data"]
    data = prepare(generate(d["name"], d["seed"], d["samples"], d["noise"], d["classes"]),
                   CONFIG["loss"], CONFIG["test_split"], 0.0, CONFIG["seed"])
    net.metadata = data.metadata
    shown = dict(page.eval_on_selector_all("#metrics [data-key]",
                                           "els => els.map(e => [e.dataset.key, e.textContent])"))
    for part, (X, Y) in (("train", (data.X_train, data.Y_train)), ("test", data.held_out)):
        expected = score(net, X, Y)
        assert float(shown[f"{part}-loss"]) == expected["loss"]
        assert float(shown[f"{part}-accuracy"]) == expected["accuracy"]


def test_hover_shows_a_weights_exact_value(page, served):
    open_page(page, served)
    click_step(page, "#step-batch", 1)
    point = page.evaluate("window.chainrule.edgePoint(0, 0, 1)")
    box = page.locator("#network").bounding_box()
    page.mouse.move(box["x"] + point["x"] * box["width"] / WIDTH,
                    box["y"] + point["y"] * box["height"] / HEIGHT)
    text = page.inner_text("#hover")
    assert text.startswith("weights[0][0, 1] = ")
    value = float(text.splitlines()[0].split("= ")[1])
    assert value == python_api_run(CONFIG, 1)[0].weights[0][0, 1]


def test_scrub_back_then_reload_gives_the_same_numbers(page, served):
    open_page(page, served)
    seen = {0: state(page)["weights"]}
    for position in range(1, 6):
        click_step(page, "#step-batch", position)
        seen[position] = state(page)["weights"]
    page.fill("#scrub", "2")
    page.wait_for_function("window.chainrule.state().position === 2")
    assert state(page)["weights"] == seen[2] and state(page)["furthest"] == 5
    click_weight(page, 1, 0, 1)
    before_reload = chain_numbers(page)
    assert "&p=2" in page.url
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert state(page)["position"] == 2 and state(page)["weights"] == seen[2]
    click_weight(page, 1, 0, 1)
    assert chain_numbers(page) == before_reload
    assert before_reload == expected_chain(CONFIG, 2, 1, 0, 1) | {
        k: v for k, v in before_reload.items() if k not in expected_chain(CONFIG, 2, 1, 0, 1)}
    # Forward again through the replayed run: the same weights as the first time.
    click_step(page, "#step-batch", 3)
    assert state(page)["weights"] == seen[3]


def test_rows_one_by_one_and_a_whole_epoch(page, served):
    open_page(page, served)
    start = state(page)["weights"]
    page.click("#step-sample")
    page.wait_for_function("window.chainrule.state().sample === 1")
    page.click("#step-sample")
    page.wait_for_function("window.chainrule.state().sample === 2")
    assert "row 2 of 7" in page.inner_text("#position")
    # Until the batch's last row, the weights on show are those the update starts from.
    assert state(page)["weights"] == start and state(page)["pending"]["rows_shown"] == 2
    page.click("#step-epoch")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    assert state(page)["position"] == state(page)["n_batches"]


def test_editing_a_weight_and_training_on(page, served):
    open_page(page, served)
    click_step(page, "#step-batch", 1)
    click_weight(page, 0, 1, 0)
    page.fill("#edit-value", "0.25")
    page.click("#edit-apply")
    page.wait_for_function("window.chainrule.state().edits.length === 1")
    assert weights_of(state(page))[0][1 * 4 + 0] == 0.25
    click_step(page, "#step-batch", 2)
    net, trainer, *_ = python_api_run(CONFIG, 1)
    net.weights[0][1, 0] = 0.25
    trainer.step()
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights_of(state(page)),
                                                           net.weights))
    page.reload()  # the edit is in the URL
    page.wait_for_selector("body[data-ready=true]")
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights_of(state(page)),
                                                           net.weights))


def test_uploading_a_good_and_a_bad_csv(page, served):
    open_page(page, served)
    good = "a,b,label\n" + "".join(f"{i * 0.1},{(i % 7) * 0.3},{i % 3}\n" for i in range(45))
    page.set_input_files("#upload-csv", files=[{"name": "mine.csv", "mimeType": "text/csv",
                                                "buffer": good.encode()}])
    page.wait_for_function("window.chainrule.state().n_train + "
                           "window.chainrule.state().n_test === 45")
    assert "mine.csv: 45 rows" in page.inner_text("#message")
    click_step(page, "#step-batch", 1)
    bad = b"a,b,label\n1,2,0\n3,oops\n"
    page.set_input_files("#upload-csv", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                                "buffer": bad}])
    page.wait_for_function("document.getElementById('message').textContent.includes('bad')")
    message = page.inner_text("#message")
    assert message.startswith("bad.csv: row 3 has 2 values but the header has 3"), message
    click_step(page, "#step-batch", 2)  # the page and the server go on


def test_an_uploaded_table_shows_what_became_of_each_column(page, served):
    """A pandas-written table: the data panel lists each column's role, the class labels are
    the table's own text (markup in them stays text), and the metrics name them."""
    open_page(page, served)
    evil = "<img src=x id=injected>"
    text = ",age,color,member,label\n" + "".join(
        f"{i},{'' if i % 7 == 3 else 20 + (i * 37) % 50},{['red', 'green', 'blue', ''][i % 4]},"
        f"{'yes' if i % 3 else 'no'},{evil if (i * 37) % 50 > 20 else 'small'}\n"
        for i in range(60))
    page.set_input_files("#upload-csv", files=[{"name": "people.csv", "mimeType": "text/csv",
                                                "buffer": text.encode()}])
    page.wait_for_selector("#data-summary")
    page.wait_for_function("window.chainrule.config().data.source === 'upload'")
    rows = page.eval_on_selector_all(
        "#data-summary tr", "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))")
    assert rows[0] == ["column", "role", "encoding", "filled", "note"]
    roles = {row[0]: row[1] for row in rows[1:]}
    assert roles == {"Unnamed: 0": "dropped", "age": "numeric", "color": "categorical",
                     "member": "boolean", "label": "target"}
    assert evil in page.inner_text("#data-columns") and evil in page.inner_text("#message")
    assert page.locator("#injected").count() == 0
    options = page.eval_on_selector_all("#data-target option", "os => os.map(o => o.value)")
    assert options == ["Unnamed: 0", "age", "color", "member", "label"]
    assert page.input_value("#data-target") == "label"
    click_step(page, "#step-batch", 1)
    assert state(page)["classes"] == [evil, "small"]
    headers = page.eval_on_selector_all("#metrics table.confusion th",
                                        "ths => ths.map(th => th.textContent)")
    assert evil in headers and page.locator("#injected").count() == 0
    # Reopened from its URL, the page shows the same columns.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#data-summary")
    assert page.input_value("#data-target") == "label"


def test_markup_in_a_files_column_names_stays_text(page, served):
    """Column names that are markup (a feature's and the target's) show as text everywhere the
    page shows them (the columns, the target's choices, the message, the chain, the command and
    the code), and nothing in them runs, even with the page's policy bypassed."""
    open_page(page, served, {**CONFIG, "hidden": [3], "activations": ["tanh", "softmax"],
                             "optimizer_settings": {}, "batch_size": 0})
    feature, target = "<img src=x onerror=window.__xss=1>", "<svg onload=window.__xss=2>"
    text = f"{feature},b,{target}\n" + "".join(
        f"{i * 0.1},{(i % 5) * 0.2},{i % 2}\n" for i in range(40))
    page.set_input_files("#upload-csv", files=[{"name": "evil.csv", "mimeType": "text/csv",
                                                "buffer": text.encode()}])
    page.wait_for_selector("#data-summary")
    page.wait_for_function("window.chainrule.config().data.source === 'upload'")
    assert target in page.inner_text("#message")
    columns = page.inner_text("#data-columns")
    assert feature in columns and target in columns
    options = page.eval_on_selector_all("#data-target option", "os => os.map(o => o.value)")
    assert options == [feature, "b", target]
    click_step(page, "#step-epoch", 1)
    click_weight(page, 0, 0, 0)
    page.click("#show-commands")
    page.wait_for_selector("#python")
    assert target in page.inner_text("#python") and target in page.inner_text("#cli")
    click_step(page, "#step-batch", 2)  # a round trip more: an image that failed has said so
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img, svg').length") == 0


def test_the_exported_model_loads(page, served, tmp_path):
    open_page(page, served)
    page.click("#step-epoch")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    with page.expect_download() as download:
        page.click("#export-model")
    path = tmp_path / "model.npz"
    download.value.save_as(path)
    model = load(path)
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights_of(state(page)),
                                                           model.weights))
    assert model.metadata["task"] == "classification"


def test_the_command_and_the_code_are_offered(page, served):
    open_page(page, served)
    page.click("#show-commands")
    page.wait_for_selector("#python")
    assert "different activations in the hidden layers" in page.inner_text("#commands")
    assert "net.trainer(" in page.inner_text("#python")
    expressible = {**CONFIG, "activations": ["tanh", "tanh", "softmax"],
                   "optimizer_settings": {}}
    open_page(page, served, expressible)
    page.click("#step-epoch")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    page.click("#show-commands")
    page.wait_for_selector("#cli")
    assert page.inner_text("#cli").startswith("chainrule train spiral.csv")


def test_adding_a_point_by_clicking_the_plane(page, served):
    open_page(page, served)
    rows = state(page)["n_train"] + state(page)["n_test"]
    canvas_click(page, "#data-canvas", 150, 150, 300, 300)
    page.wait_for_function(f"window.chainrule.state().n_train + "
                           f"window.chainrule.state().n_test === {rows + 1}")
    config = json.loads(base64.urlsafe_b64decode(
        page.url.split("#c=")[1].split("&")[0] + "==").decode())
    assert len(config["data"]["added"]) == 1


def test_play_and_pause(page, served):
    open_page(page, served)
    page.select_option("#speed", "0")
    page.click("#play")
    page.wait_for_function("window.chainrule.state().position >= 5")
    page.click("#play")
    page.wait_for_function("document.getElementById('play').textContent.includes('play')")
    stopped_at = state(page)["position"]
    page.wait_for_timeout(300)
    assert state(page)["position"] == stopped_at


def test_classroom_mode_hides_what_the_url_says(page, served):
    open_page(page, served, extra="&hide=panel-chain,training-controls")
    assert not page.is_visible("#panel-chain")
    assert page.is_visible("#panel-training") and not page.is_visible("#optimizer")
    page.click("#classroom-toggle")
    page.check("[data-hide=panel-export]")
    assert not page.is_visible("#panel-export")
    assert "panel-export" in page.url


def test_the_page_refuses_without_token_and_from_elsewhere(page, served):
    answer = page.goto(served + "/")
    assert answer.status == 403 and "token" in page.inner_text("body")
    open_page(page, served)
    refused = page.request.post(served + "/api/session", data={"config": {}},
                                headers={"Origin": "http://evil.example"})
    assert refused.status == 403 and "Origin" in refused.json()["error"]
    rebinding = page.request.get(served + "/api/options", headers={"Host": "evil.example"})
    assert rebinding.status == 403


def test_the_page_keeps_its_own_policy(chromium, served):
    """Without Playwright's bypass: the page loads, steps and draws under its Content Security
    Policy (no inline script, no eval) with nothing refused."""
    context = chromium.new_context(viewport={"width": 1500, "height": 1300})
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{served}/?token={TOKEN}#c={encode(CONFIG)}")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#step-batch")
    page.wait_for_selector("#position[data-position='1']")
    click_point = page.evaluate("window.chainrule.edgePoint(0, 0, 0)")
    canvas_click(page, "#network", click_point["x"], click_point["y"], WIDTH, HEIGHT)
    page.wait_for_selector("#chain [data-key=gradient]")
    context.close()
    assert not problems, problems


def test_a_url_pasted_in_the_address_bar_replays_its_run(page, served):
    open_page(page, served)
    click_step(page, "#step-batch", 1)
    page.evaluate(f"location.hash = 'c={encode(CONFIG)}&p=4'")
    page.wait_for_function("window.chainrule.state().position === 4")
    net = python_api_run(CONFIG, 4)[0]
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights_of(state(page)),
                                                           net.weights))


def test_building_a_network_with_the_controls(page, served):
    open_page(page, served)
    page.fill("#hidden", "5,2")
    page.press("#hidden", "Enter")
    page.wait_for_function("window.chainrule.state().sizes.join() === '2,5,2,3'")
    page.select_option("#activation-controls select[data-layer='1']", "sigmoid")
    page.wait_for_function("window.chainrule.state().activations[1] === 'sigmoid'")
    page.select_option("#optimizer", "adam")
    page.fill("#opt-beta1", "0.8")
    page.fill("#learning-rate", "0.02")
    page.fill("#batch-size", "0")
    page.press("#batch-size", "Enter")  # every control restarts the run at once
    page.wait_for_function("window.chainrule.config().batch_size === 0")
    config = page.evaluate("window.chainrule.config()")
    assert config["optimizer_settings"] == {"beta1": 0.8} and config["batch_size"] == 0
    assert config["activations"] == ["tanh", "sigmoid", "softmax"]
    click_step(page, "#step-batch", 1)
    click_step(page, "#step-batch", 2)
    click_weight(page, 1, 4, 1)
    shown = chain_numbers(page)
    expected = expected_chain(config, 2, 1, 4, 1)
    assert {k: shown[k] for k in expected} == expected
    page.fill("#chain-row", "3")
    page.dispatch_event("#chain-row", "change")
    page.wait_for_function(
        "document.querySelector('#chain').textContent.includes('values of row 3')")


def test_continuing_from_an_imported_model(page, served, tmp_path):
    open_page(page, served)
    page.click("#step-epoch")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    trained = state(page)["weights"]
    with page.expect_download() as download:
        page.click("#export-model")
    path = tmp_path / "exported.npz"
    download.value.save_as(path)
    page.click("#reset")
    page.wait_for_function("window.chainrule.state().position === 0")
    assert state(page)["weights"] != trained
    page.set_input_files("#import-model", str(path))
    page.wait_for_function("window.chainrule.config().model !== null")
    assert state(page)["weights"] == trained and state(page)["position"] == 0
    assert "continuing from exported.npz" in page.inner_text("#message")


@pytest.mark.parametrize("dataset, sizes, loss", [
    ("iris", [4, 4, 3, 3], "categorical_cross_entropy"),
    ("regression", [5, 4, 3, 1], "mse"),
    ("tutorial", [1, 4, 3, 1], "mse"),
])
def test_choosing_a_built_in_dataset_picks_a_loss_that_fits(page, served, dataset, sizes, loss):
    open_page(page, served, {**CONFIG, "loss": "binary_cross_entropy",
                             "activations": ["tanh", "relu", "sigmoid"],
                             "data": {**CONFIG["data"], "classes": 2}})
    page.select_option("#data-source", "builtin")
    page.wait_for_function("window.chainrule.config().data.source === 'builtin'")
    page.select_option("#data-builtin", dataset)
    page.wait_for_function(f"window.chainrule.config().data.name === '{dataset}'")
    assert not page.is_visible("#message"), page.inner_text("#message")
    assert state(page)["sizes"] == sizes and page.evaluate("window.chainrule.config().loss") == loss
    # The output layer follows the loss: softmax with categorical cross-entropy, and the
    # binary loss's sigmoid gives way to identity when the loss becomes mse.
    output = "softmax" if loss == "categorical_cross_entropy" else "identity"
    assert page.evaluate("window.chainrule.config().activations.at(-1)") == output
    click_step(page, "#step-batch", 1)


@pytest.mark.parametrize("preset, samples, loss, activations", [
    ("tutorial", 1, "squared_error", ["sigmoid"]),
    ("spiral", 500, "categorical_cross_entropy", ["tanh", "tanh", "softmax"]),
])
def test_a_preset_keeps_its_own_loss_and_output(page, served, preset, samples, loss,
                                                activations):
    """A preset's loss and output layer already fit its data: the policy keeps them when a
    control changes (the tutorial's squared error on a sigmoid neuron stays so)."""
    open_page(page, served)
    page.select_option("#preset", preset)
    page.wait_for_function("window.chainrule.state().n_train + window.chainrule.state().n_test"
                           f" === {samples}")
    page.fill("#seed", "7")
    page.dispatch_event("#seed", "change")
    page.wait_for_function("window.chainrule.config().seed === 7")
    assert page.evaluate("window.chainrule.config().loss") == loss
    assert page.evaluate("window.chainrule.config().activations") == activations
    page.select_option("#overlay", "gradients")
    click_step(page, "#step-batch", 1)


def test_keys_step_and_go_back(page, served):
    open_page(page, served)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.chainrule.state().position === 1")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "window.chainrule.state().position === window.chainrule.state().n_batches - 1")
    page.keyboard.press("s")
    page.wait_for_function("window.chainrule.state().sample === 1")
    page.click("#hidden")  # typing in a field is typing, not a step
    page.keyboard.press("ArrowRight")
    assert state(page)["sample"] == 1


def test_bias_per_layer_and_for_all(page, served):
    open_page(page, served)
    page.uncheck("#activation-controls input[data-bias-layer='1']")
    page.wait_for_function("Array.isArray(window.chainrule.config().bias)")
    assert page.evaluate("window.chainrule.config().bias") == [True, False, True]
    assert state(page)["biases"][1] is None and state(page)["bias"] == [True, False, True]
    click_step(page, "#step-batch", 1)
    net = python_api_run(page.evaluate("window.chainrule.config()"), 1)[0]
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights_of(state(page)),
                                                           net.weights))
    assert not page.is_checked("#bias")  # not every layer has one
    page.check("#bias")
    page.wait_for_function("window.chainrule.config().bias === true")
    page.uncheck("#bias")
    page.wait_for_function("window.chainrule.config().bias === false")
    assert state(page)["biases"] == [None, None, None]


def test_the_curves_and_the_data_download(page, served, tmp_path):
    open_page(page, served)
    page.click("#step-epoch")
    page.wait_for_function("window.chainrule.state().epoch === 1")
    files = {}
    for button in ("#download-curves-csv", "#download-curves-png", "#download-data"):
        with page.expect_download() as download:
            page.click(button)
        path = tmp_path / button[1:]
        download.value.save_as(path)
        files[button] = path.read_bytes()
    assert files["#download-curves-csv"].decode().splitlines()[0].startswith("epoch,loss")
    assert files["#download-curves-png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert files["#download-data"].decode().splitlines()[0] == "x1,x2,label"


def test_a_url_the_server_cannot_run_says_why_and_opens_the_default(page, served):
    page.goto(f"{served}/?token={TOKEN}#c={encode({**CONFIG, 'hidden': [0]})}")
    page.wait_for_selector("body[data-ready=true]")
    assert "hidden[0]" in page.inner_text("#message")
    assert state(page)["sizes"] == [2, 8, 8, 1]
    click_step(page, "#step-batch", 1)


# ---------------------------------------------------------------------------- lines that close
#: The lines of dropout, normalisation and clipping (chain-layers.js, chain.js), each as the
#: reference computes it, the same doubles in the same order (chainrule.reference_layers).
EXACT = {
    "dropout": lambda x, mask, p: x * mask / (1.0 - p),
    "std": lambda var, eps: math.sqrt(var + eps),
    "xhat": lambda sop, mean, std: (sop - mean) / std,
    "affine": lambda gamma, xhat, beta: gamma * xhat + beta,
    "dvar": lambda total, std: total * -0.5 / std ** 3,
    "dmean": lambda sum_dxhat, std, dvar, sum_centred, m:
        -sum_dxhat / std + dvar * -2.0 * sum_centred / m,
    "dsop": lambda dxhat, std, dvar, centred, dmean, m:
        dxhat / std + dvar * 2.0 * centred / m + dmean / m,
    "clipfactor": lambda clip_norm, norm: clip_norm / (norm + 1e-6),
    "clamp": lambda x, limit: min(max(x, -limit), limit),
}


def closing_lines(page) -> dict[str, int]:
    """Every line of the chain panel that multiplies or adds shown numbers (its data-check:
    the kind, the keys of its terms and of its result), recomputed from the numbers' text at
    full precision: products and the combined (predicted - target) * (1/n) exactly (the
    engine multiplies the same doubles in the same order), sums to 1e-12 of their terms'
    size (the engine adds in its own order). Returns how many lines of each kind closed."""
    pairs = page.eval_on_selector_all("#chain [data-key]",
                                      "els => els.map(e => [e.dataset.key, e.textContent])")
    values: dict[str, float] = {}
    for key, text in pairs:
        assert values.setdefault(key, float(text)) == float(text), key  # one value per key
    lines = page.eval_on_selector_all(
        "#chain [data-check]",
        "els => els.map(e => [e.dataset.check, e.dataset.terms, e.dataset.result])")
    counts: dict[str, int] = {}
    for kind, terms, result in lines:
        keys, shown = terms.split(), values[result]
        if kind == "product":
            got = values[keys[0]]
            for key in keys[1:]:  # left to right, as shown
                got *= values[key]
            assert got == shown, (keys, result)
        elif kind == "combined":
            predicted, target, n = (values[k] for k in keys)
            assert (predicted - target) * (1.0 / n) == shown, result
        elif kind in EXACT:  # dropout, normalisation and clipping, as the reference computes
            assert EXACT[kind](*(values[k] for k in keys)) == shown, (kind, keys, result)
        elif kind in ("mean", "meansquare"):  # over a group of M values, to 1e-12
            terms = [values[k] ** (2 if kind == "meansquare" else 1) for k in keys[:-1]]
            total = 0.0
            for term in terms:
                total += term
            assert abs(total / values[keys[-1]] - shown) <= \
                1e-12 * sum(abs(t) for t in terms) / values[keys[-1]], (kind, result)
        else:
            products = [values[k] for k in keys] if kind == "sum" else \
                [values[a] * values[b] for a, b in (k.split("*") for k in keys)]
            total = 0.0
            for term in products:
                total += term
            assert abs(total - shown) <= 1e-12 * sum(abs(t) for t in products), (kind, result)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


SQUARED = {**CONFIG, "data": {**CONFIG["data"], "classes": 2}, "loss": "squared_error",
           "activations": ["tanh", "relu", "sigmoid"], "l2": 0.0, "optimizer": "gd",
           "optimizer_settings": {}}
SOFTMAX_SQUARED = {**CONFIG, "loss": "squared_error"}
BINARY = {**CONFIG, "data": {**CONFIG["data"], "classes": 2}, "loss": "binary_cross_entropy",
          "activations": ["tanh", "relu", "sigmoid"]}


@pytest.mark.parametrize("config, weights", [
    (CONFIG, [(0, 1, 2), (1, 3, 0), (2, 2, 1)]),
    (SQUARED, [(0, 0, 3), (2, 1, 0)]),
    (SOFTMAX_SQUARED, [(1, 0, 2)]),
    (BINARY, [(0, 1, 1), (2, 0, 0)]),
])
def test_every_line_of_a_chain_closes_to_the_numbers_shown(page, served, config, weights):
    """Each product and sum on the panel equals its result recomputed from its shown factors,
    on every loss/output kind: g1 and g2 apart (and combined), the sums over the layer above,
    the row's term (the batch's 1/n said once, in g1), the batch's sum of its rows' terms, L2's
    term, and each path's product and the sum of the paths."""
    open_page(page, served, config)
    for position in range(1, 3):
        click_step(page, "#step-batch", position)
    for layer, source, to in weights:
        click_weight(page, layer, source, to)
        counts = closing_lines(page)
        assert counts["product"] >= 3 and counts["sum"] >= 2, counts  # term, paths; rows, paths
        chain = page.inner_text("#chain")
        assert "Where 1/n enters" in chain and "own gradient" not in chain
        assert page.locator("#one-over-n").count() == 1
        expected = expected_chain(config, 2, layer, source, to)
        assert chain_numbers(page)["gradient"] == expected["gradient"]
        if config is SQUARED:  # g1 and g2 as they are
            assert "g1 · g2 = " in chain and "combined" not in chain
        if config is BINARY or config is CONFIG:  # both forms: apart, and as the engine uses
            assert "g1 · g2 = " in chain or "g1[m] · g2[m]" in chain
            assert "(predicted − target) · (1/n)" in chain and counts["combined"] >= 1
    if config is CONFIG:
        page.fill("#chain-row", "4")  # another row closes too
        page.dispatch_event("#chain-row", "change")
        page.wait_for_function(
            "document.querySelector('#chain').textContent.includes('values of row 4')")
        closing_lines(page)
        page.click("#chain details summary")  # the neuron's forward pass, and its bias's
        page.click("#chain-bias")  # chain (g3 = 1)
        page.wait_for_function("document.querySelector('#chain b').textContent"
                               ".includes('biases[2][1]')")
        counts = closing_lines(page)  # the row's term, the one path; g1 · g2 after softmax
        assert counts["product"] >= 2 and counts["dot"] >= 1 and chain_numbers(page)["g3"] == 1


LAYERS = {**SQUARED, "hidden": [3, 3], "dropout": [0.25, 0.5], "normalization": ["batch", None],
          "l1": 0.01, "l2": 0.02, "clip_norm": 0.05, "clip_value": 0.004}


def test_a_chain_through_dropout_and_batch_norm_closes_term_by_term(page, served):
    """Through a dropout mask (its factor per row) and batch normalisation (mean, var, std,
    xhat, z forward; dxhat, the group's sums, dvar, dmean, dsop backward), with L1 beside L2 and
    clipping by norm and by value: every line closes to the numbers shown; the paths carry the
    mask factors where no normalised layer lies between, and say why not where one does."""
    open_page(page, served, LAYERS)
    config = page.evaluate("window.chainrule.config()")  # the URL carried them, the controls
    assert config["dropout"] == [0.25, 0.5] and config["normalization"] == ["batch", None]
    assert (config["l1"], config["clip_norm"], config["clip_value"]) == (0.01, 0.05, 0.004)
    assert page.input_value("#activation-controls input[data-dropout-layer='1']") == "0.5"
    assert page.input_value("#activation-controls select[data-norm-layer='0']") == "batch"
    assert page.input_value("#clip-norm") == "0.05" and page.input_value("#l1") == "0.01"
    for position in range(1, 3):
        click_step(page, "#step-batch", position)
    click_weight(page, 0, 1, 2)  # into the batch-normalised layer with dropout
    counts = closing_lines(page)
    for kind in ("dropout", "mean", "meansquare", "std", "xhat", "affine", "dvar", "dmean",
                 "dsop", "clipfactor", "clamp"):
        assert counts.get(kind, 0) >= 1, (kind, counts)
    assert counts["dsop"] == 1 and counts["dot"] >= 4, counts  # its neuron; it and the 3 above
    chain = page.inner_text("#chain")
    assert "does not apply" in page.inner_text("#paths-normalised")
    assert "L1's term" in chain and "clip by value" in chain and "this step's own" in chain
    numbers = chain_numbers(page)
    assert abs(numbers["engine_gradient"] - numbers["clipped"]) <= \
        1e-12 * abs(numbers["clipped"])  # the engine's own sums, in its own order
    click_weight(page, 1, 2, 0)  # above the normalised layer: dropout alone, and its paths
    counts = closing_lines(page)
    assert counts["dropout"] >= 2 and counts["sum"] >= 2, counts
    assert page.locator("#paths tr").count() == 1 + 2  # two outputs, one path each
    assert "followed by its mask factor mask / (1 − p)" in page.inner_text("#chain")
    titles = page.eval_on_selector_all("#paths [data-key]", "els => els.map(e => e.title)")
    assert sum(t.startswith("mask / (1 − p) of neuron 0 of layer 1") for t in titles) == 2
    # Layer norm: the statistics and sums of each row's own layer (written out on row 1).
    open_page(page, served, {**LAYERS, "normalization": ["layer", None]})
    click_step(page, "#step-batch", 1)
    click_weight(page, 0, 1, 2)
    counts = closing_lines(page)
    assert counts["mean"] == counts["meansquare"] == 1 and counts["dsop"] == 1, counts
    page.fill("#chain-row", "3")
    page.dispatch_event("#chain-row", "change")
    page.wait_for_function(
        "document.querySelector('#chain').textContent.includes('values of row 3')")
    counts = closing_lines(page)
    assert "mean" not in counts and counts["xhat"] == counts["dsop"] == 1, counts


def test_a_chain_lists_its_paths_or_their_count(page, served):
    """Up to 64 paths, each its product of factors (g1 · g2 · w · f′ · … · g3) on the row shown,
    summing to the row's term; beyond that, the count alone beside the recursion."""
    open_page(page, served, SQUARED)
    click_step(page, "#step-batch", 1)
    click_weight(page, 0, 1, 2)
    rows = page.locator("#paths tr")
    # a header, then one row per path 2 → k → m (squared error: one output per class)
    assert state(page)["sizes"] == [2, 4, 3, 2] and rows.count() == 1 + 3 * 2
    assert [rows.nth(p).inner_text().split()[:5] for p in (1, 6)] == [
        ["2", "→", "0", "→", "0"], ["2", "→", "2", "→", "1"]]
    assert closing_lines(page)["product"] >= 3 + 6
    deep = {**CONFIG, "hidden": [5, 5, 5], "activations": ["tanh"] * 3 + ["softmax"]}
    open_page(page, served, deep)
    click_step(page, "#step-batch", 1)
    click_weight(page, 0, 0, 0)
    assert page.locator("#paths").count() == 0
    assert page.inner_text("#paths-count").startswith("75 paths lead from weights[0][0, 0]")


def test_numbers_read_short_and_give_their_exact_value(page, served):
    """By default four significant digits; the exact value in the title and on copy; the
    switch writes every number in full, and holds across a reload."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, served, exact=False)
    click_step(page, "#step-batch", 1)
    click_weight(page, 1, 3, 0)
    expected = expected_chain(CONFIG, 1, 1, 3, 0)
    gradient = page.locator("#chain [data-key=gradient]").first
    text, exact = gradient.inner_text(), gradient.get_attribute("data-exact")
    assert float(exact) == expected["gradient"] and exact in gradient.get_attribute("title")
    assert float(text) == float(f"{expected['gradient']:.4g}") and len(text) < len(exact), text
    loss = page.locator("#metrics [data-key=train-loss]")
    assert len(loss.inner_text()) <= 7 and float(loss.get_attribute("data-exact")) > 0
    gradient.click()
    assert page.evaluate("navigator.clipboard.readText()") == exact
    page.check("#precision-full")
    assert gradient.inner_text() == exact and loss.inner_text() == loss.get_attribute("data-exact")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_checked("#precision-full")


def test_a_loss_that_changes_the_output_layer_says_so(page, served):
    open_page(page, served, BINARY)
    assert page.is_hidden("#output-change")
    page.select_option("#loss", "squared_error")
    page.wait_for_function("window.chainrule.state().loss_name === 'squared_error'")
    assert state(page)["sizes"] == [2, 4, 3, 2]  # squared error: one output per class
    note = page.inner_text("#output-change")
    assert note.startswith("The loss changed from binary_cross_entropy to squared_error, and "
                           "with it the output layer: 1 sigmoid output became 2 ")
    assert note.endswith("(network 2-4-3-1 → 2-4-3-2).")
    page.select_option("#loss", "mse")  # the loss changes again: the note follows it
    page.wait_for_function("window.chainrule.state().loss_name === 'mse'")
    after = state(page)
    if after["sizes"][-1] == 2 and after["activations"][-1] == "sigmoid":
        assert page.is_hidden("#output-change")
    else:
        assert page.inner_text("#output-change").startswith(
            "The loss changed from squared_error to mse")
