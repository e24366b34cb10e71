"""Hostile input, round 3: every cell, header and line the CSV and Parquet readers may choke on,
every hand-edited (re-signed) model and checkpoint, every number that overflows is one line and
exit 2 (or is handled), and no NumPy warning reaches stderr."""

import re
import warnings

import numpy as np
import pytest
from faults import TRAIN, refused, resign, run, write_data

import chainrule
from chainrule import Network
from chainrule.exceptions import DivergenceWarning


@pytest.fixture
def data_csv(tmp_path):
    return write_data(tmp_path)


@pytest.fixture
def model(tmp_path, data_csv, capsys):
    path = tmp_path / "model.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", path)[0] == 0
    return path


# ---------------------------------------------------------------------------- 3. tables
def csv_file(tmp_path, raw, name="d.csv"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


ROWS = b"".join(b"%d,%d,%s\n" % (i % 7, i % 5, b"yes" if i % 2 else b"no") for i in range(40))
NOT_UTF8 = [
    (b"a,b,label\n1,2,no\n3,\xff\xfe,yes\n" + ROWS, r"row 3, column 'b': a cell is not UTF-8"),
    (b'a,b,label\n1,2,no\n3,"x\xffy",yes\n' + ROWS, r"row 3, column 'b': a cell is not UTF-8"),
    (b"a,b,label\n1,2,no\n3,4,\xe9\n" + ROWS, r"row 3, column 'label': a cell is not UTF-8"),
    (b"a,\xffb,label\n" + ROWS, r"row 1: the header is not UTF-8 text"),
]


@pytest.mark.parametrize("raw, message", NOT_UTF8)
def test_a_byte_that_is_not_utf8_is_named_by_row_and_column(tmp_path, capsys, raw, message):
    path = csv_file(tmp_path, raw)
    refused(capsys, *TRAIN, path, "--out", tmp_path / "m.npz", message=message)
    numeric = csv_file(tmp_path, raw.replace(b"yes", b"1").replace(b"no", b"0"), "n.csv")
    with pytest.raises(ValueError, match=message):
        chainrule.datasets.read_csv(str(numeric))


@pytest.mark.parametrize("raw, message", NOT_UTF8[:3])
def test_predict_and_evaluate_name_a_byte_that_is_not_utf8(tmp_path, capsys, raw, message):
    good = csv_file(tmp_path, b"a,b,label\n" + ROWS, "good.csv")
    model = tmp_path / "m.npz"
    assert run(capsys, *TRAIN, good, "--out", model)[0] == 0
    path = csv_file(tmp_path, raw)
    if "label" not in message:
        refused(capsys, "predict", model, path, message=message)
    refused(capsys, "evaluate", model, path, message=message)


@pytest.mark.parametrize("raw, message", [
    (b"a," + b"x" * 200_000 + b",label\n1,2,0\n", r"row 1: the header is not readable as CSV "
                                                  r"\(field larger than field limit"),
    (b'a,"' + b"x" * 200_000 + b'",label\n1,2,0\n', r"row 1: the header is not readable"),
])
def test_a_header_beyond_the_csv_limit_is_one_line(tmp_path, capsys, raw, message):
    path = csv_file(tmp_path, raw)
    refused(capsys, *TRAIN, path, message=message)
    with pytest.raises(ValueError, match=message):
        chainrule.datasets.read_csv(str(path))


def test_a_header_without_end_is_refused_before_it_is_read_whole(tmp_path, capsys,
                                                                 monkeypatch):
    from chainrule import tables

    monkeypatch.setattr(tables, "BLOCK_BYTES", 1000)
    for raw in (b"a," * 2000, b'a,"b,label\n' + b"1,2,3\n" * 400):
        path = csv_file(tmp_path, raw)
        refused(capsys, *TRAIN, path, message="row [0-9]+: the header is longer than 1,000 "
                                              "bytes")


def test_a_field_beyond_the_csv_limit_is_one_line(tmp_path, capsys):
    path = csv_file(tmp_path, b"a,b,label\n1," + b"9" * 200_000 + b",0\n" + ROWS)
    with pytest.raises(ValueError, match=r"row 2: not readable as CSV \(field larger"):
        chainrule.datasets.read_csv(str(path))
    quoted = csv_file(tmp_path, b'a,b,label\n1,"' + b"x\n" * 100_000 + b'",no\n' + ROWS,
                      "q.csv")
    code, _, err = run(capsys, *TRAIN, quoted, "--numeric", "b", "--out", tmp_path / "m.npz")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "row 2, column 'b'" in err


def test_a_line_of_only_a_byte_order_mark_is_not_the_header(tmp_path, capsys):
    path = csv_file(tmp_path, b"\xef\xbb\xbf\n0,0\n0.0,0.0\n")
    refused(capsys, *TRAIN, path, message="should be a header of column names")


def damaged_parquet(tmp_path, numeric=False):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    columns = {"a": rng.normal(size=400), "b": rng.normal(size=400),
               "label": rng.integers(0, 2, 400)}
    if not numeric:
        columns["s"] = [f"v{i % 3}" for i in range(400)]
    good = tmp_path / ("good_n.parquet" if numeric else "good.parquet")
    pq.write_table(pa.table(columns), good, row_group_size=100)
    raw = bytearray(good.read_bytes())
    raw[4:40] = bytes(36)  # the first page's header, right after the magic number
    bad = tmp_path / ("bad_n.parquet" if numeric else "bad.parquet")
    bad.write_bytes(bytes(raw))
    return good, bad


def test_a_damaged_parquet_page_names_the_file(tmp_path, capsys):
    good, bad = damaged_parquet(tmp_path)
    model = tmp_path / "m.npz"
    assert run(capsys, *TRAIN, good, "--out", model)[0] == 0
    message = re.escape(str(bad)) + ": cannot be read as Parquet"
    refused(capsys, *TRAIN, bad, "--out", tmp_path / "m2.npz", message=message)
    refused(capsys, "predict", model, bad, message=message)
    refused(capsys, "evaluate", model, bad, message=message)
    _, bad_numeric = damaged_parquet(tmp_path, numeric=True)
    with pytest.raises(ValueError, match=re.escape(str(bad_numeric)) + ": cannot be read"):
        chainrule.datasets.read_table(str(bad_numeric))


# ---------------------------------------------------------------------------- 4. edited models
def small_run(tmp_path, epochs=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    Y = np.eye(2)[rng.integers(0, 2, 30)]
    path = tmp_path / "ckpt.npz"
    net = Network([3, 4, 2], output_activation="softmax", loss="categorical_cross_entropy",
                  seed=0)
    net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=8, optimizer="adam",
            checkpoint=str(path))
    return path, X, Y


def resume(path, X, Y, epochs=5):
    net = Network([3, 4, 2], output_activation="softmax", loss="categorical_cross_entropy",
                  seed=0)
    return net.fit(X, Y, epochs=epochs, learning_rate=0.1, batch_size=8, optimizer="adam",
                   resume_from=str(path))


def drop(*names):
    def change(header, arrays):
        for name in names:
            arrays.pop(name)
    return change


@pytest.mark.parametrize("change, message", [
    (drop("history.loss"), "history lacks its loss record"),
    (drop("history.time", "history.learning_rate"), "lacks its learning_rate, time record"),
    (drop("history.loss", "history.learning_rate", "history.time"), "history lacks its"),
    (lambda h, a: h["checkpoint"]["optimizer"].update(name=["adam"]), "checkpoint optimizer"),
    (lambda h, a: h["checkpoint"]["history"].update(history={"loss": ["x"] * 3}),
     "history.history must hold lists of 3 finite numbers"),
    (lambda h, a: h["checkpoint"].update(batch=99), "batch 99"),
])
def test_a_resigned_checkpoint_that_cannot_resume_is_refused(tmp_path, change, message):
    path, X, Y = small_run(tmp_path)
    resign(path, change)
    with pytest.raises(ValueError, match=message) as refused_:
        resume(path, X, Y)
    assert str(path) in str(refused_.value)


def test_a_checkpoint_without_its_optional_fields_resumes(tmp_path):
    path, X, Y = small_run(tmp_path)

    def strip(header, arrays):
        header["checkpoint"].pop("first_loss")
        for key in ("stopped_reason", "updates", "params"):
            header["checkpoint"]["history"].pop(key)
    resign(path, strip)
    history = resume(path, X, Y)
    assert history.epochs == 5 and len(history["loss"]) == 5


def test_a_resigned_checkpoint_is_one_line_on_the_command_line(tmp_path, data_csv, capsys):
    folder = tmp_path / "run"
    base = [*TRAIN, data_csv, "--out-dir", folder, "--checkpoint-every", "1"]
    assert run(capsys, *base)[0] == 0
    resign(folder / "checkpoint.npz", drop("history.time"))
    refused(capsys, *base[:2], "6", *base[3:], "--resume", message="lacks its time record")


@pytest.mark.parametrize("classes", [[0, 1], [1.5, 2.5], ["1", "2"]])
def test_labels_of_another_type_never_crash(tmp_path, model, data_csv, capsys, classes):
    resign(model, lambda h, a: h["metadata"].update(classes=classes))
    for argv in (["predict", model, data_csv], ["evaluate", model, data_csv], ["info", model]):
        code, out, err = run(capsys, *argv)
        assert code in (0, 2) and "Traceback" not in err, err
        assert code == 0 or (len(err.strip().splitlines()) == 1 and out == ""), err
    code, out, _ = run(capsys, "predict", model, data_csv)
    assert code == 0 and {line.split(",")[0] for line in out.splitlines()[1:]} <= set(
        map(str, classes))


@pytest.mark.parametrize("field, value", [("scale", 5e-324), ("scale", 1e-310)])
def test_a_scaling_that_overflows_is_one_line_and_prints_nothing(tmp_path, model, data_csv,
                                                                  capsys, field, value):
    resign(model, lambda h, a: h["metadata"]["scaling"][field].__setitem__(0, value))
    for command in ("predict", "evaluate"):
        code, out, err = run(capsys, command, model, data_csv)
        assert code == 2 and out == "", (out, err)
        assert re.fullmatch(r"chainrule: error: .*data\.csv: row 2, column 'a': the value, "
                            r"scaled as the model was trained, is not a finite number.*",
                            err.strip()), err
    refused(capsys, "explain", "--model", model, "--weight", "0,0", "--x", "3,0,0",
            message="the sample, scaled as the model .* was trained, is not finite")


def test_a_target_scaling_that_overflows_is_one_line(tmp_path, capsys):
    path = tmp_path / "reg.csv"
    path.write_text("x,y\n" + "".join(f"{i / 7},{i % 5 + i / 10}\n" for i in range(60)))
    model = tmp_path / "reg.npz"
    assert run(capsys, *TRAIN, path, "--task", "regression", "--out", model)[0] == 0
    resign(model, lambda h, a: h["metadata"].update(
        target_scaling={"mean": [1.7e308], "scale": [1.7e308]}))
    code, out, err = run(capsys, "predict", model, path)
    assert code == 2 and out == "" and "the model's output is not a finite number" in err
    code, out, err = run(capsys, "evaluate", model, path)
    assert code in (0, 2) and "Warning" not in err and len(err.strip().splitlines()) <= 1


# ---------------------------------------------------------------------------- 5. numbers
@pytest.mark.parametrize("hidden, what", [("relu", "became (NaN|infinite)"),
                                          ("sigmoid", "exploded")])
def test_finite_weights_whose_loss_is_not_finite_are_divergence(hidden, what):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    Y = np.eye(2)[rng.integers(0, 2, 30)]
    net = Network([3, 4, 2], activation=hidden, output_activation="softmax",
                  loss="categorical_cross_entropy", seed=0)
    start = net.get_state()
    with pytest.warns(DivergenceWarning, match=f"last update.*the loss {what}"):
        history = net.fit(X, Y, epochs=1, learning_rate=1e300)
    assert history.diverged and "last update" in history.stopped_reason
    for kept, initial in zip(net.get_state(), start):
        np.testing.assert_array_equal(kept, initial)
    assert np.isfinite(net.loss(X, Y))


def test_divergence_in_the_last_update_is_refused_on_the_command_line(tmp_path, capsys):
    refused(capsys, "train", "--dataset", "iris", "--optimizer", "gd", "--batch-size", "500",
            "--lr", "1e300", "--epochs", "1", "--early-stopping", "0", "--no-progress",
            "--out", tmp_path / "m.npz",
            message="diverged in its last update.*no model written")
    assert not (tmp_path / "m.npz").exists()


def test_no_numpy_warning_reaches_stderr(tmp_path, model, data_csv, capsys):
    overflowing = tmp_path / "overflowing.npz"
    overflowing.write_bytes(model.read_bytes())
    resign(overflowing, lambda h, a: h["metadata"]["scaling"]["scale"].__setitem__(0, 1e-310))
    commands = [
        ["tutorial", "--lr", "1e300", "--iterations", "50", "--as-published"],
        ["tutorial", "--activation", "identity", "--target", "5", "--lr", "1e300",
         "--iterations", "30"],
        ["explain", "--x", "1e300,1e300", "--weight", "0,0", "--activation", "relu"],
        ["gradcheck", "--activation", "relu", "--seed", "3"],
        ["train", "--dataset", "regression", "--lr", "1e300", "--epochs", "2",
         "--no-progress", "--out", tmp_path / "d.npz"],
        ["train", "--dataset", "iris", "--optimizer", "gd", "--batch-size", "500", "--lr",
         "1e300", "--epochs", "1", "--early-stopping", "0", "--no-progress", "--out",
         tmp_path / "d.npz"],
        ["predict", overflowing, data_csv], ["evaluate", overflowing, data_csv],
        ["explain", "--model", overflowing, "--weight", "0,0", "--x", "1e300,0,0"],
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escapes fails the command
        for argv in commands:
            code, _, err = run(capsys, *argv)
            assert code in (0, 1, 2), (argv, err)
            assert "Warning" not in err and "encountered" not in err, (argv, err)
            assert len(err.strip().splitlines()) <= 1, (argv, err)
