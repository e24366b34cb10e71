"""Bad input and faults, as a hostile or careless user would bring them: every one is a clear
error (one line and exit 2 on the command line), nothing is clobbered, nothing silently wrong."""

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import warnings
import zipfile

import numpy as np
import pytest
from faults import refused, run

import chainrule
from chainrule import Network
from chainrule._files import atomic_write, check_output, claim
from chainrule.exceptions import DivergenceWarning
from chainrule.persistence import ModelFileError, _digest


@pytest.fixture
def data_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n"
                                              for r, t in zip(X, y)))
    return path


TRAIN = ["train", "--epochs", "3", "--hidden", "4", "--no-progress"]


# ---------------------------------------------------------------------------- outputs
def test_outputs_are_checked_before_any_training(tmp_path, data_csv, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started although an output cannot be written")

    monkeypatch.setattr(Network, "fit", no_training)
    folder_file = tmp_path / "plain-file"
    folder_file.write_text("x")
    link = tmp_path / "link.npz"
    target = tmp_path / "target.npz"
    target.write_bytes(b"precious")
    link.symlink_to(target)
    before = data_csv.read_bytes()
    cases = [
        (tmp_path, "is a folder"),
        (folder_file / "model.npz", "is a file, not a folder"),
        (data_csv, "is also an input"),
        (link, "is a symbolic link"),
        ("/dev/null", "not a regular file"),
        ("/proc/model.npz", "cannot write in /proc"),
        ("", "the path is empty"),
    ]
    for out, message in cases:
        refused(capsys, *TRAIN, data_csv, "--out", out, message=message)
    assert data_csv.read_bytes() == before and target.read_bytes() == b"precious"
    assert link.is_symlink()
    refused(capsys, *TRAIN, data_csv, "--checkpoint-every", "1", "--checkpoint",
            tmp_path / "m.npz", "--out", tmp_path / "m.npz", message="three different paths")


def test_predict_never_replaces_a_device_or_an_input(tmp_path, data_csv, capsys):
    model = tmp_path / "model.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0
    refused(capsys, "predict", model, data_csv, "--out", "/dev/null",
            message="not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    refused(capsys, "predict", model, data_csv, "--out", model, message="is also an input")
    refused(capsys, "predict", model, data_csv, "--out", data_csv, message="is also an input")
    chainrule.load(str(model))  # still the model


def test_a_replaced_file_keeps_its_permissions_and_no_temporary_stays(tmp_path, data_csv,
                                                                      capsys):
    model = tmp_path / "model.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0
    os.chmod(model, 0o600)
    assert run(capsys, *TRAIN, data_csv, "--out", model, "--seed", "1")[0] == 0
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.loss.png",
                                                          "model.npz"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".model.npz.{dead}-abc123.part"
    stale.write_bytes(b"half")
    mine = tmp_path / f".model.npz.{os.getpid()}-zzz.part"  # a running process's: kept
    mine.write_bytes(b"busy")
    with atomic_write(tmp_path / "model.npz") as handle:
        handle.write(b"new")
    assert not stale.exists() and mine.exists()
    assert (tmp_path / "model.npz").read_bytes() == b"new"


def test_a_second_run_to_the_same_file_stops_at_once(tmp_path, data_csv, capsys):
    model = tmp_path / "model.npz"
    with claim([check_output(model)]):
        refused(capsys, *TRAIN, data_csv, "--out", model, message="another chainrule run")
    assert not model.exists()
    assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0  # the lock went with it


def test_the_loss_curve_is_named_after_its_model(tmp_path, data_csv, capsys):
    unrelated = tmp_path / "loss.png"
    unrelated.write_bytes(b"someone else's figure")
    assert run(capsys, *TRAIN, data_csv, "--out", tmp_path / "mine.npz")[0] == 0
    assert unrelated.read_bytes() == b"someone else's figure"
    assert (tmp_path / "mine.loss.png").read_bytes()[:4] == b"\x89PNG"


def test_failed_runs_leave_no_folder_and_no_file(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "model.npz"
    refused(capsys, "train", "--dataset", "regression", "--lr", "1e300", "--epochs", "2",
            "--no-progress", "--out", out, message="diverged.*no model written")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("extra", [["--lr", "1e300", "--epochs", "1"], ["--lr", "50"],
                                   ["--lr", "1e10", "--epochs", "5"]])
def test_a_diverged_run_never_replaces_a_model(tmp_path, capsys, extra):
    model = tmp_path / "model.npz"
    assert run(capsys, "train", "--dataset", "regression", "--epochs", "2", "--no-progress",
               "--out", model)[0] == 0
    before = model.read_bytes()
    refused(capsys, "train", "--dataset", "regression", "--no-progress", "--out", model,
            *extra, message="no model written")
    assert model.read_bytes() == before


def test_ctrl_c_keeps_the_model_of_the_last_update_and_exits_130(tmp_path, data_csv, capsys,
                                                                  monkeypatch):
    from chainrule.callbacks import Callback

    class PressCtrlC(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 1:
                signal.raise_signal(signal.SIGINT)

    fit = Network.fit
    monkeypatch.setattr(Network, "fit", lambda self, X, Y, callbacks=(), **kw: fit(
        self, X, Y, callbacks=[*callbacks, PressCtrlC()], **kw))
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", data_csv, "--epochs", "50", "--no-progress",
                         "--out", model)
    assert code == 130 and "interrupted" in out
    assert chainrule.load(str(model)).metadata["training"]["epochs_done"] == 2


def test_evaluate_prints_json_even_when_a_metric_is_undefined(tmp_path, capsys):
    path = tmp_path / "flat.csv"
    path.write_text("x,y\n" + "".join(f"{i / 10},1.5\n" for i in range(20)))
    model = tmp_path / "m.npz"
    assert run(capsys, "train", path, "--task", "regression", "--epochs", "2",
               "--no-progress", "--out", model)[0] == 0
    code, out, _ = run(capsys, "evaluate", model, path)
    assert code == 0 and json.loads(out)["r2"] is None


def test_os_errors_are_one_line(tmp_path, capsys):
    unreadable = tmp_path / "model.npz"
    unreadable.write_bytes(b"x")
    os.chmod(unreadable, 0)
    code, _, err = run(capsys, "info", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- CSV
def csv_file(tmp_path, text, name="d.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_problems_are_named(tmp_path, capsys):
    cases = [
        ("a,a,a,label\n1,2,3,0\n4,5,6,1\n", (), "'a' appears twice \\(columns 1 and 2\\)"),
        ("a,b,label\n1,2,0\n\n\n1,x,1\n", ("--numeric", "b"),
         "row 5, column 'b': 'x' is not a number"),
        ("a,b,label\n1,2,0\n3,4\n", (), "row 3 has 2 values but the header has 3"),
        ("a,b,label\n1," + "9" * 200_000 + ",0\n", (), "row 2.*not"),
        ("a,b,label\n1,2,0\n1,2,1e300\n", (), "row 3, column 'label': 1e\\+300 is not a class"),
        ("a,b,label\n1e308,2,0\n-1e308,3,1\n1e308,1,0\n", (), "'a': values too large"),
        ("a,b,label\n1,2,0\n3,4,0\n", (), "'label': the target has a single class \\(0\\)"),
        ("a,label\n" + "".join(f"{i % 3},name {i}\n" for i in range(80)), (),
         "'label' is free text \\(80 different values in 80 rows\\)"),
        ("id,note,label\n" + "".join(f"{i},text {i},{i % 2}\n" for i in range(40)), (),
         "no usable feature column: 'id' an identifier.*'note' free text"),
        ("a,b,label\n", (), "only a header"),
        ("a,b,label\n1,2,\n3,4,\n", (), "'label': the target has no values"),
        ("a,b,label\n1,,0\n3,4,1\n", ("--on-missing", "refuse"),
         "row 2, column 'b': the cell is empty"),
    ]
    for text, extra, message in cases:
        path = csv_file(tmp_path, text)
        refused(capsys, *TRAIN, path, "--task", "classification", *extra, "--out",
                tmp_path / "m.npz", message=message)
    assert not (tmp_path / "m.npz").exists()


def test_a_pipe_is_refused_without_waiting(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(
        line=refused(capsys, *TRAIN, fifo, message="not a regular file")))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive() and "line" in outcome


def test_a_byte_order_mark_is_not_part_of_a_name(tmp_path, capsys):
    path = csv_file(tmp_path, "a,b,label\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n"
                                                     for i in range(40)),
                    encoding="utf-8-sig")
    model = tmp_path / "m.npz"
    assert run(capsys, *TRAIN, path, "--out", model)[0] == 0
    assert chainrule.load(str(model)).metadata["feature_names"] == ["a", "b"]


def test_columns_are_matched_by_name_and_missing_ones_named(tmp_path, data_csv, capsys):
    model = tmp_path / "m.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0
    _, expected, _ = run(capsys, "predict", model, data_csv)
    rows = [line.split(",") for line in data_csv.read_text().splitlines()]
    shuffled = csv_file(tmp_path, "".join(",".join([r[2], r[3], r[0], r[1]]) + "\n"
                                          for r in rows), name="shuffled.csv")
    _, out, _ = run(capsys, "predict", model, shuffled)
    assert out == expected
    renamed = csv_file(tmp_path, data_csv.read_text().replace("a,b,c", "a,B,C", 1),
                       name="renamed.csv")
    refused(capsys, "predict", model, renamed, message="lacks the model's feature "
                                                       "column\\(s\\) 'b', 'c'")


def test_regression_on_whole_numbers_and_quoted_output(tmp_path, capsys):
    import csv as csv_module

    rows = "".join(f"{i},{(i * 7) % 25}\n" for i in range(60))
    path = csv_file(tmp_path, '"x","price, usd"\n' + rows)
    model = tmp_path / "m.npz"
    # x is 0..59, every value a different whole number: an identifier unless named numeric.
    refused(capsys, *TRAIN, path, "--task", "regression", "--out", model,
            message="no usable feature column: 'x' an identifier")
    assert run(capsys, *TRAIN, path, "--task", "regression", "--numeric", "x", "--out",
               model)[0] == 0
    net = chainrule.load(str(model))
    assert net.n_outputs == 1 and net.activations[-1] == "identity"
    assert run(capsys, *TRAIN, path, "--loss", "mse", "--numeric", "x", "--out", model)[0] == 0
    assert chainrule.load(str(model)).n_outputs == 1  # mse means regression
    _, out, _ = run(capsys, "predict", model, path)
    parsed = list(csv_module.reader(out.splitlines()))
    assert parsed[0] == ["price, usd"] and len(parsed) == 61


# ---------------------------------------------------------------------------- sizes, options
@pytest.mark.parametrize("argv, message", [
    (["train", "--hidden", ""], "expected integers"),
    (["train", "--hidden", "3,,4"], "expected integers"),
    (["train", "--hidden", "1.5"], "expected integers"),
    (["train", "--early-stopping", "-1"], ">= 0"),
    (["train", "--dask-workers", "0"], ">= 1"),
    (["train", "--hidden", "100000,100000"], "needs about .* GiB of memory"),
    (["tutorial", "--iterations", "1000000000"], "needs about .* GiB of memory"),
    (["gradcheck", "--samples", "1000000000"], "needs about .* GiB of memory"),
    (["explain", "--weight", "1.5"], "expected integers"),
    (["explain", "--x", "1,nan", "--weight", "0,0"], "must be finite"),
    (["train", "--lr", "nan"], "learning_rate must be a finite number"),
])
def test_options_and_sizes_are_refused_before_anything_large(capsys, argv, message):
    refused(capsys, *argv, "--no-progress" if argv[0] == "train" else "--seed=0",
            message=message)


@pytest.mark.parametrize("sizes", [[True, 2], [3.0, 1], [3, float("inf")], [2, -1], "ab",
                                   [2, 100_000, 100_000]])
def test_network_sizes_must_be_positive_integers_that_fit(sizes):
    with pytest.raises(ValueError, match="sizes|memory"):
        Network(sizes)


def test_hidden_none_is_no_hidden_layer(tmp_path, data_csv, capsys):
    model = tmp_path / "m.npz"
    assert run(capsys, *TRAIN[:3], "--hidden", "none", data_csv, "--out", model)[0] == 0
    assert chainrule.load(str(model)).sizes == [3, 2]


# ---------------------------------------------------------------------------- divergence
def test_a_blow_up_in_the_last_update_is_caught_and_nothing_non_finite_is_saved(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2)) * 1000
    Y = X.sum(axis=1, keepdims=True)
    net = Network([2, 3, 1], activation="identity", loss="mse", seed=0)
    start = net.get_state()
    with pytest.warns(DivergenceWarning, match="last update") as caught:
        history = net.fit(X, Y, epochs=1, learning_rate=1e306)  # the update overflows
    assert caught[0].filename == __file__
    assert history.diverged and "last update" in history.stopped_reason
    for kept, initial in zip(net.get_state(), start):
        np.testing.assert_array_equal(kept, initial)
    net.flat_parameters()[0] = np.inf
    with pytest.raises(ValueError, match="not saved: weights\\[0\\] holds non-finite"):
        net.save(str(tmp_path / "bad.npz"))
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- model files
def trained(tmp_path, checkpoint=False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    Y = np.eye(2)[rng.integers(0, 2, 30)]
    net = Network([3, 4, 2], output_activation="softmax", loss="categorical_cross_entropy",
                  seed=0)
    net.metadata = {"task": "classification", "classes": ["no", "yes"],
                    "feature_names": ["a", "b", "c"], "target_name": "t",
                    "scaling": {"mean": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0]}}
    path = tmp_path / ("ckpt.npz" if checkpoint else "model.npz")
    if checkpoint:
        net.fit(X, Y, epochs=3, learning_rate=0.1, batch_size=8, optimizer="adam",
                checkpoint=str(path))
    else:
        net.save(str(path))
    return net, path, X, Y


def members(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def rewrite(path, arrays, resign=False, compressed=False):
    """Write ``arrays`` back; with ``resign``, recompute the checksums as a forger would."""
    header = json.loads(str(arrays["chainrule.json"]))
    if resign:
        model = {k: v for k, v in arrays.items() if k.startswith("layers.")}
        rest = {k: v for k, v in arrays.items() if k != "chainrule.json"}
        header.pop("checksum", None)
        header.pop("checkpoint_checksum", None)
        header["checksum"] = _digest(model, header)
        if "checkpoint" in header:
            header["checkpoint_checksum"] = _digest(rest, header)
    arrays = {**arrays, "chainrule.json": np.array(json.dumps(header))}
    with open(path, "wb") as handle:
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def edit(path, change, resign=True):
    arrays = members(path)
    header = json.loads(str(arrays["chainrule.json"]))
    change(header, arrays)
    arrays["chainrule.json"] = np.array(json.dumps(header))
    rewrite(path, arrays, resign=resign)


def test_nothing_declared_too_large_is_read(tmp_path, monkeypatch):
    from chainrule import persistence

    reads = []
    original = persistence._Archive.read
    monkeypatch.setattr(persistence._Archive, "read",
                        lambda self, name: reads.append(name) or original(self, name))
    _, path, _, _ = trained(tmp_path)
    arrays = members(path)
    arrays["optimizer.first_moment.0"] = np.zeros(50_000_000)  # 400 MB of zeros, compressed
    rewrite(path, arrays, compressed=True)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(ModelFileError, match="members only checkpoints have"):
        chainrule.load(str(path))
    assert reads == ["chainrule.json"]

    _, path, _, _ = trained(tmp_path)
    with zipfile.ZipFile(path) as archive:  # a weight whose .npy header claims 10^12 values
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    raw = contents["layers.0.weight.npy"]
    contents["layers.0.weight.npy"] = raw.replace(b"(3, 4)", b"(1000000, 1000000)")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    reads.clear()
    with pytest.raises(ModelFileError, match="does not match its header"):
        chainrule.load(str(path))
    assert reads == ["chainrule.json"]


@pytest.mark.parametrize("change, message", [
    (lambda h, a: h["metadata"].update(classes=["no", "yes", "maybe"]), "classes has 3 labels"),
    (lambda h, a: h["metadata"]["scaling"].update(mean=[0.0]), "scaling.mean must be 3"),
    (lambda h, a: h["metadata"]["scaling"].update(scale=[1.0, 0.0, 1.0]), "must be positive"),
    (lambda h, a: h["metadata"].update(feature_names=["a", "a", "c"]), "feature_names"),
    (lambda h, a: h["metadata"].update(task=7), "metadata task"),
    (lambda h, a: h.update(extra_field=1), "fields the format does not define"),
    (lambda h, a: h["architecture"].update(sizes=[3, 4.5, 2]), "not valid layer sizes"),
    (lambda h, a: h["architecture"].update(sizes=[3, 100000, 100000, 2]),
     "more than 500,000,000 parameters"),
])
def test_metadata_is_checked_against_its_schema_even_with_a_valid_checksum(tmp_path, change,
                                                                           message):
    _, path, _, _ = trained(tmp_path)
    edit(path, change, resign=True)
    with pytest.raises(ModelFileError, match=message):
        chainrule.load(str(path))


def test_an_edited_header_fails_the_checksum(tmp_path):
    _, path, _, _ = trained(tmp_path)
    edit(path, lambda h, a: h["metadata"].update(classes=["yes", "no"]), resign=False)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        chainrule.load(str(path))


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ('{"format": "chainrule", "format_version": NaN}', "not a JSON number"),
    ('{"format": "chainrule", "format_version": true}', "bad format_version"),
])
def test_hostile_json_is_a_clean_error(tmp_path, text, message):
    _, path, _, _ = trained(tmp_path)
    arrays = members(path)
    arrays["chainrule.json"] = np.array(text)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ModelFileError, match=message):
        chainrule.load(str(path))


@pytest.mark.parametrize("field, value, message", [
    ("epoch", None, "checkpoint epoch"), ("epoch", -3, "checkpoint epoch"),
    ("epoch", "4", "checkpoint epoch"), ("first_loss", "x", "first_loss"),
    ("rng_state", {"bit_generator": "PCG64"}, "rng_state"), ("optimizer", {"name": "sgd"},
                                                            "optimizer"),
    ("history", [], "history"), ("batch", 1.5, "checkpoint batch"),
    ("data", "not a digest", "checkpoint data"),
])
def test_hostile_checkpoints_are_refused_naming_the_field(tmp_path, field, value, message):
    net, path, X, Y = trained(tmp_path, checkpoint=True)
    if value is None:
        edit(path, lambda h, a: h["checkpoint"].pop(field))
    else:
        edit(path, lambda h, a: h["checkpoint"].update({field: value}))
    with pytest.raises(ModelFileError, match=message):
        Network([3, 4, 2], output_activation="softmax", loss="categorical_cross_entropy").fit(
            X, Y, epochs=5, learning_rate=0.1, batch_size=8, optimizer="adam",
            resume_from=str(path))


def test_a_checkpoint_of_a_long_run_stays_small_and_resumes(tmp_path):
    net = Network([1, 1], bias=False, init="uniform", seed=0)
    path = tmp_path / "long.npz"
    net.fit([[0.1]], [[0.3]], epochs=240_000, learning_rate=0.5, checkpoint=str(path),
            checkpoint_every=240_000)
    header = json.loads(str(members(path)["chainrule.json"]))
    assert len(json.dumps(header)) < 10_000
    resumed = Network([1, 1], bias=False, init="uniform", seed=0)
    history = resumed.fit([[0.1]], [[0.3]], epochs=240_010, learning_rate=0.5,
                          resume_from=str(path))
    assert history.epochs == 240_010 and len(history["loss"]) == 240_010


def test_resume_refuses_another_run_from_the_command_line(tmp_path, data_csv, capsys):
    folder = tmp_path / "run"
    base = [*TRAIN, data_csv, "--out-dir", folder, "--checkpoint-every", "1"]
    assert run(capsys, *base)[0] == 0
    refused(capsys, *base, "--lr", "0.01", "--resume", message="learning_rate=0.001")
    refused(capsys, *base, "--split-seed", "3", "--resume", message="other training data")
    code, out, err = run(capsys, *base[:2], "6", *base[3:], "--resume")
    assert code == 0, err


# ---------------------------------------------------------------------------- scikit-learn
def test_sklearn_edge_cases():
    from chainrule.sklearn import GDClassifier

    X = np.random.default_rng(0).normal(size=(20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = GDClassifier(epochs=3).fit(X, np.full(20, 7))
    np.testing.assert_array_equal(one.predict(X[:4]), [7, 7, 7, 7])
    with pytest.raises(ValueError, match="validation_fraction must be in \\(0, 1\\)"):
        GDClassifier(epochs=3, early_stopping=True, validation_fraction=1.5).fit(
            X, np.arange(20) % 2)


# ---------------------------------------------------------------------------- the Python API
@pytest.mark.parametrize("build, message", [
    (lambda: Network([2, 1], bias="yes"), "bias must be True or False"),
    (lambda: Network([2, 1], seed="abc"), "seed must be an integer"),
    (lambda: Network([2, 1], seed=-1), "seed must be an integer"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, learning_rate="0.1"),
     "learning_rate must be a number"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, l2=True), "l2 must be a number"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=True), "epochs must be an integer"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, callbacks=[print]),
     "callbacks must be Callback objects"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, validation_data=([[0, 1]],),
                                 early_stopping=2), "validation_data must be a pair"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, shuffle="no"),
     "shuffle must be True or False"),
    (lambda: Network([2, 1]).fit([[0, 1]], [[1]], epochs=2, batch_size=1.5),
     "batch_size must be an integer"),
])
def test_the_python_api_refuses_with_value_errors(build, message):
    from chainrule.callbacks import EarlyStopping

    with pytest.raises(ValueError, match=message):
        build()
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=True)
