import numpy as np
import pytest

from chainrule.datasets import DATASETS, load_dataset


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_builtin_datasets_load_without_download(name):
    data = load_dataset(name, seed=1)
    assert data.X.ndim == 2 and len(data.X) == len(data.y)
    assert np.isfinite(data.X).all()
    assert data.task in ("classification", "regression")
    assert len(data.feature_names) == data.X.shape[1]


def test_known_shapes_and_seeded_generators():
    digits = load_dataset("digits")
    assert digits.X.shape == (1797, 64) and set(np.unique(digits.y)) == set(range(10))
    assert digits.X.max() == 16
    iris = load_dataset("iris")
    assert iris.X.shape == (150, 4) and iris.class_names == ["setosa", "versicolor", "virginica"]
    a, b = load_dataset("moons", seed=3), load_dataset("moons", seed=3)
    assert np.array_equal(a.X, b.X)
    assert not np.array_equal(a.X, load_dataset("moons", seed=4).X)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")


def big_csv(tmp_path, rows=40_000, bad=None):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] > 0).astype(int)
    lines = ["a,b,c,label"] + [f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{t}" for r, t in zip(X, y)]
    if bad is not None:
        line, text = bad
        lines[line - 1] = text
    lines.insert(20_000, "")  # a blank line in the middle: rows keep their file line numbers
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, X, y


def test_the_block_reader_equals_a_whole_file_parse(tmp_path):
    from chainrule.datasets import iter_csv, read_csv

    path, X, y = big_csv(tmp_path)
    header, data = read_csv(str(path))
    assert header == ["a", "b", "c", "label"] and data.shape == (40_000, 4)
    np.testing.assert_allclose(data[:, :3], np.round(X, 6), atol=1e-12)
    np.testing.assert_array_equal(data[:, 3], y)
    blocks = iter_csv(str(path), block_rows=5_000)
    assert next(blocks) == header
    firsts, parts = zip(*blocks)
    assert firsts[:3] == (2, 5_002, 10_002)
    np.testing.assert_array_equal(np.vstack(parts), data)


@pytest.mark.parametrize("line, text, message", [
    (40_001, "1,2,x,0", "row 40002, column 'c': 'x' is not a number"),
    (39_999, "1,2,3", "row 40000 has 3 values but the header has 4"),
    (25_000, "1,nan,3,0", "row 25001, column 'b': nan is not finite"),
])
def test_a_bad_cell_in_a_later_block_names_its_row(tmp_path, line, text, message):
    from chainrule.datasets import read_csv

    path, _, _ = big_csv(tmp_path, bad=(line, text))
    with pytest.raises(ValueError, match=message):
        read_csv(str(path))


def test_predict_and_evaluate_stream_a_file_larger_than_a_block(tmp_path, capsys):
    import json

    import chainrule
    from chainrule.cli import main
    from chainrule.metrics import scale_inputs, score

    path, _, _ = big_csv(tmp_path)
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--epochs", "2", "--hidden", "4", "--no-progress",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(path), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 40_001 and lines[0].startswith("predicted,probability_")
    assert main(["evaluate", str(model), str(path)]) == 0
    streamed = json.loads(capsys.readouterr().out)
    from chainrule.datasets import read_csv

    net = chainrule.load(str(model))
    _, data = read_csv(str(path))
    classes = np.asarray(net.metadata["classes"], dtype=float)
    targets = np.eye(net.n_outputs)[np.searchsorted(classes, data[:, 3])]
    whole = score(net, scale_inputs(net, data[:, :3]), targets)
    assert streamed["loss"] == pytest.approx(whole["loss"], rel=1e-5)  # printed to 6 digits
    assert streamed["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-6)
    assert streamed["confusion_matrix"] == whole["confusion_matrix"]
