"""Real tables as people have them, through the command line: written by pandas' ``to_csv``
with its index column, text labels, booleans in every spelling, categories, dates, an
identifier, free text and missing cells; trained with the defaults, then predicted and
evaluated on a later file that still holds its target and columns the model never saw."""

import csv
import json

import numpy as np
import pytest

import chainrule
from chainrule.cli import main

pd = pytest.importorskip("pandas")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def messy_frame(n=400, seed=0):
    """A classification table whose label follows from age, smoking and the colour."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, n).astype(float)
    smoker = rng.random(n) < 0.4
    color = rng.choice(["red", "green", "blue"], n)
    score = (age - 50) / 10 + 2.5 * smoker + np.where(color == "red", 1.5, -0.5)
    frame = pd.DataFrame({
        "patient_id": rng.permutation(n) + 10_000,
        "name": [f"patient {i:04d}" for i in range(n)],
        "age": age,
        "smoker": np.where(smoker, rng.choice(["yes", "Yes", "YES", "y"], n),
                           rng.choice(["no", "No", "n", "NO"], n)),
        "insured": rng.random(n) < 0.5,
        "visit": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D"),
        "color": color,
        "diagnosis": np.where(score > 0, "malignant", "benign"),
    })
    frame.loc[rng.choice(n, 30, replace=False), "age"] = np.nan
    frame.loc[rng.choice(n, 15, replace=False), "color"] = None
    frame.loc[rng.choice(n, 4, replace=False), "diagnosis"] = None
    return frame.sample(frac=1, random_state=1)  # pandas' index is now shuffled


@pytest.fixture
def tables(tmp_path):
    frame = messy_frame()
    train, later = frame.iloc[:300], frame.iloc[300:].copy()
    later.loc[later.index[:5], "color"] = "purple"  # never seen in training
    later["comment"] = "free text the model never saw"
    later = later[list(reversed(later.columns))]  # another column order
    train_path, later_path = tmp_path / "train.csv", tmp_path / "later.csv"
    train.to_csv(train_path)
    later.to_csv(later_path)
    return train_path, later_path, later


def test_a_pandas_table_trains_predicts_and_evaluates_with_the_defaults(tmp_path, capsys,
                                                                        tables):
    train_path, later_path, later = tables
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", train_path, "--target", "diagnosis", "--out", model,
                         "--no-progress")
    assert code == 0, err
    summary = out[:out.index("trained ")]
    rows = {line.split()[0]: line for line in summary.splitlines()[2:] if line.strip()}
    assert "pandas' index column" in rows["Unnamed:"]
    assert "identifier" in rows["patient_id"] and "free text" in rows["name"]
    assert "numeric" in rows["age"] and "median" in rows["age"]
    assert "boolean" in rows["smoker"] and "boolean" in rows["insured"]
    assert "date" in rows["visit"] and "one-hot, 3 categories + missing" in rows["color"]
    assert "target" in rows["diagnosis"]
    assert "benign" in out and "malignant" in out  # the report names the classes
    accuracy = float(out.split("accuracy ")[1].split()[0])
    assert accuracy > 0.85, out

    net = chainrule.load(str(model))
    assert net.metadata["classes"] == ["benign", "malignant"]
    assert "preparation" in net.metadata

    code, out, err = run(capsys, "predict", model, later_path)
    assert code == 0, err
    assert "'color' (5)" in err and "never seen" in err  # one warning line
    assert len(err.strip().splitlines()) == 1
    predicted = list(csv.reader(out.splitlines()))
    assert predicted[0] == ["predicted", "probability_benign", "probability_malignant"]
    assert len(predicted) == len(later) + 1
    labels = [row[0] for row in predicted[1:]]
    assert set(labels) <= {"benign", "malignant"}
    known = later["diagnosis"].notna().to_numpy()
    truth = later["diagnosis"].to_numpy()
    assert np.mean(np.array(labels)[known] == truth[known]) > 0.8

    code, out, err = run(capsys, "evaluate", model, later_path)
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics["per_class"]) == {"benign", "malignant"}
    assert sum(row["support"] for row in metrics["per_class"].values()) == known.sum()
    assert f"{(~known).sum()} row(s) without a target" in err

    code, out, _ = run(capsys, "info", model)
    assert code == 0 and "pandas' index column" in out and "identifier" in out


def test_predict_needs_only_the_columns_the_model_uses(tmp_path, capsys, tables):
    train_path, later_path, later = tables
    model = tmp_path / "model.npz"
    assert run(capsys, "train", train_path, "--target", "diagnosis", "--out", model,
               "--no-progress", "--epochs", "5")[0] == 0
    capsys.readouterr()
    slim = later[["color", "visit", "insured", "smoker", "age"]]
    slim.to_csv(tmp_path / "slim.csv", index=False)
    code, out, err = run(capsys, "predict", model, tmp_path / "slim.csv")
    assert code == 0, err
    assert len(out.splitlines()) == len(later) + 1
    # The same rows predict the same whatever else the file holds.
    _, full, _ = run(capsys, "predict", model, later_path)
    assert full == out
    slim.drop(columns="age").to_csv(tmp_path / "no-age.csv", index=False)
    code, out, err = run(capsys, "predict", model, tmp_path / "no-age.csv")
    assert code == 2 and out == ""
    assert "lacks the model's feature column(s) 'age'" in err and len(err.splitlines()) == 1
    bad = slim.copy()
    bad["age"] = bad["age"].astype(object)
    bad.iloc[len(bad) - 1, bad.columns.get_loc("age")] = "old"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = run(capsys, "predict", model, tmp_path / "bad.csv")
    assert code == 2 and out == ""  # nothing on stdout before the block is good
    assert f"row {len(bad) + 1}, column 'age': 'old' is not a number" in err


def test_regression_targets_with_missing_rows(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({"area": rng.uniform(30, 200, n), "rooms": rng.integers(1, 6, n),
                          "garden": rng.choice(["True", "False"], n),
                          "city": rng.choice(["north", "south"], n)})
    frame["price"] = 3 * frame["area"] + 20 * frame["rooms"] + \
        np.where(frame["city"] == "north", 100, 0) + rng.normal(0, 10, n)
    frame.loc[[5, 17, 40], "price"] = np.nan
    frame.to_csv(tmp_path / "houses.csv")
    model = tmp_path / "houses.npz"
    code, out, err = run(capsys, "train", tmp_path / "houses.csv", "--target", "price",
                         "--out", model, "--no-progress")
    assert code == 0, err
    assert "3 row(s) without a target dropped" in out
    r2 = float(out.split("r2 ")[1].split()[0])
    assert r2 > 0.9, out
    code, out, err = run(capsys, "predict", model, tmp_path / "houses.csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "price" and len(lines) == n + 1
    predicted = np.array([float(v) for v in lines[1:]])
    truth = frame["price"].to_numpy()
    known = ~np.isnan(truth)
    assert np.sqrt(np.mean((predicted[known] - truth[known]) ** 2)) < 40


def test_roles_can_be_given(tmp_path, capsys, tables):
    train_path, _, _ = tables
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", train_path, "--target", "diagnosis", "--out", model,
                         "--no-progress", "--epochs", "3", "--drop", "visit,insured",
                         "--categorical", "patient_id", "--numeric", "Unnamed: 0")
    assert code == 0, err
    roles = {spec["name"]: spec["role"]
             for spec in chainrule.load(str(model)).metadata["preparation"]["columns"]}
    assert roles["visit"] == roles["insured"] == "dropped"
    assert roles["patient_id"] == "categorical" and roles["Unnamed: 0"] == "numeric"
    code, _, err = run(capsys, "train", train_path, "--target", "diagnosis", "--out", model,
                       "--no-progress", "--drop", "nope")
    assert code == 2 and "--drop: no column 'nope'" in err


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"a": [1, 2, 3, 4] * 10, "label": ["x"] * 40}),
     "column 'label': the target has a single class \\('x'\\)"),
    (pd.DataFrame({"a": range(60), "label": [f"free {i}" for i in range(60)]}),
     "column 'label' is free text"),
    (pd.DataFrame({"id": range(40), "note": [f"n{i}" for i in range(40)],
                   "label": [0, 1] * 20}),
     "no usable feature column: 'id' an identifier"),
])
def test_tables_that_cannot_train_are_one_line(tmp_path, capsys, frame, message):
    import re

    frame.to_csv(tmp_path / "t.csv", index=False)
    code, out, err = run(capsys, "train", tmp_path / "t.csv", "--out", tmp_path / "m.npz",
                         "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp_path / "m.npz").exists()


def test_a_version_2_model_still_predicts(tmp_path, capsys):
    """A model written before the preparation was stored: numeric columns by name."""
    from chainrule import persistence

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(int)
    net = chainrule.Network([2, 4, 2], activation="tanh", output_activation="softmax",
                            loss="categorical_cross_entropy", seed=0)
    net.fit(X, np.eye(2)[y], epochs=20, learning_rate=0.1)
    net.metadata = {"task": "classification", "feature_names": ["u", "v"],
                    "target_name": "k", "classes": [3, 7],
                    "scaling": {"mean": [0.0, 0.0], "scale": [2.0, 2.0]}}
    path = tmp_path / "v2.npz"
    net.save(str(path))
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays["chainrule.json"]))
    header["format_version"] = 2
    model_arrays = {k: v for k, v in arrays.items() if k != "chainrule.json"}
    header["checksum"] = persistence._digest(model_arrays, header)
    arrays["chainrule.json"] = np.array(json.dumps(header))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    pd.DataFrame({"k": [7 if t else 3 for t in y], "v": X[:, 1], "u": X[:, 0]}).to_csv(
        tmp_path / "d.csv", index=False)
    code, out, err = run(capsys, "predict", path, tmp_path / "d.csv")
    assert code == 0, err
    expected = net.predict(X / 2.0).argmax(axis=1)
    assert [row.split(",")[0] for row in out.splitlines()[1:]] == \
        [str([3, 7][i]) for i in expected]
    code, out, err = run(capsys, "evaluate", path, tmp_path / "d.csv")
    assert code == 0 and "accuracy" in json.loads(out), err


def test_the_readme_table_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    """README's "Your own table": its Python block writes the files, its console block is what
    `chainrule train` prints (``...`` stands for digits that vary between BLAS builds)."""
    import re
    from pathlib import Path

    from test_docs import matches

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("## Your own table", 1)[1].split("\n## ", 1)[0]
    code_block = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    console = re.search(r"```console\n\$ (.*?)\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(code_block, "README.md", "exec"), {"__name__": "readme"})
    argv = console.group(1).split()
    assert argv[0] == "chainrule"
    code, out, err = run(capsys, *argv[1:], "--no-progress")
    assert code == 0, err
    assert matches(console.group(2), out), f"--- shown:\n{console.group(2)}--- printed:\n{out}"
    code, out, err = run(capsys, "predict", "runs/patients/model.npz", "next_month.csv")
    assert code == 0 and out.startswith("predicted,probability_benign,probability_malignant\n")


def test_the_python_example_of_docs_tables_runs(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "tables.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/tables.md", "exec"), {"__name__": "tables"})
    out = capsys.readouterr().out
    assert "color=(missing)" in out and "categorical" in out


def test_a_boolean_target_is_evaluated_whatever_its_spelling(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200)})
    frame["ok"] = frame["a"] > 0  # pandas writes True/False
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.npz"
    assert run(capsys, "train", tmp_path / "t.csv", "--out", model, "--no-progress",
               "--epochs", "30", "--lr", "0.01")[0] == 0
    assert chainrule.load(str(model)).metadata["classes"] == ["False", "True"]
    (tmp_path / "later.csv").write_text("a,ok\n2.0,true\n-2.0,FALSE\n1.5,yes\n")
    code, out, err = run(capsys, "evaluate", model, tmp_path / "later.csv")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0


def test_prepare_names_what_is_wrong_with_a_table():
    from chainrule.preparation import DataError, prepare

    with pytest.raises(DataError, match="the table has no columns"):
        prepare({})
