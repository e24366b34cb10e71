"""How a Network, a History and an Explanation show in Jupyter: ``_repr_html_``.

Each page is parsed as XML (every tag closed, every attribute quoted, every text escaped), so
a test can read its cells and the SVG's points rather than search for substrings.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

from chainrule.explain import explain
from chainrule.history import History
from chainrule.network import Network
from chainrule.notebook import DIGITS, history_html, network_html

HOSTILE = '<script>alert("x")</script>&'


def parsed(page: str) -> ET.Element:
    assert "<script" not in page.lower()
    return ET.fromstring(page)


def texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter()]


def cells(root: ET.Element) -> list[list[str]]:
    """Every table row's cells as text."""
    return [["".join(cell.itertext()) for cell in row] for row in root.iter("tr")]


def shown(value: float) -> str:
    return f"{value:.{DIGITS}g}"


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(float(v) for v in point.split(",")) for point in line.get("points").split()]
            for line in root.iter("{http://www.w3.org/2000/svg}polyline")]


def test_a_network_shows_its_architecture_and_parameter_count():
    net = Network([2, 3, 1], activation=["tanh", "sigmoid"], bias=[True, False],
                  loss="squared_error", seed=0)
    root = parsed(net._repr_html_())
    rows = cells(root)
    assert rows[0] == ["layer", "inputs → neurons", "activation", "has_bias", "parameters"]
    assert rows[1:] == [["0", "2 → 3", "tanh", "True", "9"],
                        ["1", "3 → 1", "sigmoid", "False", "3"]]
    title = texts(root)[0]
    assert "[2, 3, 1]" in title and "squared_error" in title
    assert f"{net.n_parameters} parameters" in title and net.n_parameters == 12


def test_every_value_of_a_network_is_escaped():
    fake = SimpleNamespace(sizes=[1, 1], has_bias=[True], activations=[HOSTILE],
                           loss_name=HOSTILE, n_parameters=2, dtype="float64")
    page = network_html(fake)
    root = parsed(page)
    assert any(HOSTILE in text for text in texts(root))  # shown as text, not markup
    assert "&lt;script&gt;" in page


def trained_history() -> tuple[Network, History]:
    net = Network([2, 4, 1], loss="binary_cross_entropy", seed=1)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    history = net.fit(X, Y, epochs=12, learning_rate=0.5, validation_data=(X, Y),
                      progress=False)
    return net, history


def test_a_history_draws_its_curves_from_its_numbers():
    _, history = trained_history()
    root = parsed(history._repr_html_())
    lines = polylines(root)
    assert len(lines) == 4  # loss and val_loss, accuracy and val_accuracy
    loss_line = lines[0]
    assert len(loss_line) == history.epochs == 12
    xs = [x for x, _ in loss_line]
    assert xs == sorted(xs) and len(set(xs)) == 12
    # y grows downwards: the order of the ys is the reverse order of the losses
    order = np.argsort([-y for _, y in loss_line], kind="stable")
    assert list(order) == list(np.argsort(history["loss"], kind="stable"))
    assert min(y for _, y in loss_line) == pytest.approx(10)  # the highest value at the top


def test_a_history_tables_its_last_epoch():
    _, history = trained_history()
    rows = dict(row for row in cells(parsed(history._repr_html_()))[1:])
    assert rows["loss"] == shown(history.last("loss"))
    assert rows["val_accuracy"] == shown(history.last("val_accuracy"))
    assert "time" not in rows  # seconds differ from run to run
    page = history._repr_html_()
    assert f'title="{history.last("loss")!r}"' in page  # the exact value on hover


def test_a_history_leaves_out_values_that_are_not_finite_and_says_when_it_is_empty():
    history = History()
    assert "nothing recorded" in history._repr_html_()
    for loss in (1.0, math.inf, 0.5, math.nan, 0.25):
        history.record(loss=loss, learning_rate=0.1, time=0.0)
    (line,) = polylines(parsed(history._repr_html_()))
    assert len(line) == 3
    single = History()
    single.record(loss=0.5, learning_rate=0.1, time=0.0)
    root = parsed(single._repr_html_())
    assert polylines(root) == [] and len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 1


def test_every_value_of_a_history_is_escaped():
    history = History()
    history.record(**{HOSTILE: 1.0, "loss": 0.5, "learning_rate": 0.1, "time": 0.0})
    history.stopped_reason = HOSTILE
    page = history_html(history)
    assert sum(HOSTILE in text for text in texts(parsed(page))) >= 2


def hidden_weight():
    net = Network([2, 3, 1], activation="sigmoid", loss="squared_error", seed=3)
    X, Y = np.array([[0.1, 0.4]]), np.array([[0.7]])
    return net, explain(net, X, Y, 0, (1, 2))


def test_an_explanation_shows_the_chain_and_its_product():
    _, chain = hidden_weight()
    root = parsed(chain._repr_html_())
    rows = {row[0]: row[1:] for row in cells(root)}
    output, hidden = chain.derivation[0], chain.derivation[-1]
    g1, g2 = (float(f.value[0]) for f in output.factors)
    assert rows["g1 = dError/dPredicted"][1] == shown(g1)
    assert rows["g2 = dPredicted/dSop"][1] == shown(g2)
    assert rows["dError/dSop[1][0]"] == ["g1 · g2", shown(output.value[0])]
    assert rows["dError/dSop[0][2]"][1] == shown(hidden.value[0])
    assert rows["g3 = dSop[0][2]/dWeight"][1] == shown(0.4)
    formula, value = rows["gradient"]
    assert value == f"{shown(hidden.value[0])} · {shown(0.4)} = {shown(chain.gradient)}"
    assert "weights[1][2, k]" in rows["dError/dOutput[0][2]"][0]
    assert "dError/dweights[0][1, 2]" in texts(root)[0]


def test_an_explanation_of_a_batch_and_a_bias_renders():
    net = Network([2, 2, 3], activation=["relu", "softmax"], loss="categorical_cross_entropy",
                  seed=0)
    X = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]])
    Y = np.eye(3)
    chain = explain(net, X, Y, 0, bias=1)
    root = parsed(chain._repr_html_())
    assert "a batch of 3 samples" in texts(root)[0]
    assert shown(chain.gradient) in "".join(texts(root))


def test_every_value_of_an_explanation_is_escaped():
    _, chain = hidden_weight()
    chain.loss = HOSTILE
    chain.derivation[0].factors[0].formula = HOSTILE
    page = chain._repr_html_()
    assert sum(HOSTILE in text for text in texts(parsed(page))) >= 2


def test_an_explanation_shows_the_weight_and_those_feeding_its_neuron():
    net, chain = hidden_weight()
    page = chain._repr_html_()
    head = texts(parsed(page))[0]
    assert f"its value weights[0][1, 2] = {shown(net.weights[0][1, 2])}" in head
    for weight in net.weights[0][:, 2]:
        assert f'title="{float(weight)!r}"' in page


def test_a_long_history_keeps_each_pixel_columns_lowest_and_highest_value():
    history = History()
    losses = [1.0 / (1 + epoch) for epoch in range(5000)]
    losses[2500] = 3.0  # a spike must survive the thinning
    for loss in losses:
        history.record(loss=loss, learning_rate=0.1, time=0.0)
    (line,) = polylines(parsed(history._repr_html_()))
    assert len(line) <= 2 * 320
    ys = [y for _, y in line]
    assert min(ys) == pytest.approx(10)  # the spike, at the top
    assert [x for x, _ in line] == sorted(x for x, _ in line)
    assert line[0][0] < line[-1][0]


def test_an_explanation_through_dropout_and_batch_norm_shows_the_texts_lines():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 3)), rng.random((4, 1))
    net = Network([3, 4, 1], dropout=0.3, normalization="batch", loss="mse",
                  activation="tanh", output_activation="identity", seed=1)
    explanation = explain(net, X, Y, 0, (1, 2))
    blocks = [pre.text.splitlines() for pre in parsed(explanation._repr_html_()).iter("pre")]
    written = [line.strip() for line in str(explanation).splitlines()]
    assert len(blocks) == 2  # the forward pass through the layer and the backward pass
    for block in blocks:  # each line as the text form writes it, numbers and all
        assert all(line in written for line in block)
    backward = next(block for block in blocks if any("dError/dXhat" in line for line in block))
    assert any(line.startswith("dOutput/dActivated = mask[0][:, 2]") for line in backward)
