import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def small_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y)]
    return write_csv(tmp_path / "data.csv", "\n".join(lines) + "\n")


def test_train_predict_evaluate_on_a_csv(tmp_path, small_csv, capsys):
    model = tmp_path / "out" / "model.npz"
    code, out, err = run(capsys, "train", small_csv, "--hidden", "8", "--epochs", "30",
                         "--lr", "0.01", "--out", model, "--no-progress")
    assert code == 0, err
    assert "held-out" in out and "accuracy" in out
    assert model.exists() and (model.parent / "model.loss.png").exists()
    assert sorted(p.name for p in model.parent.iterdir()) == ["model.loss.png", "model.npz"]
    code, out, err = run(capsys, "predict", model, small_csv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("predicted,probability_") and len(lines) == 61
    predictions = tmp_path / "pred.csv"
    assert run(capsys, "predict", model, small_csv, "--out", predictions)[0] == 0
    assert predictions.read_text().strip() == out.strip()
    code, out, err = run(capsys, "evaluate", model, small_csv)
    report = json.loads(out)
    assert code == 0 and set(report) == {"loss", "accuracy", "per_class", "confusion_matrix"}
    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == 60 and np.trace(confusion) / 60 == pytest.approx(
        report["accuracy"], abs=1e-6)
    assert sum(row["support"] for row in report["per_class"].values()) == 60


def test_train_regression_and_resume(tmp_path, capsys):
    folder = tmp_path / "run"
    args = ["train", "--dataset", "regression", "--hidden", "16", "--epochs", "6",
            "--out-dir", folder, "--checkpoint-every", "3", "--no-progress"]
    assert run(capsys, *args)[0] == 0
    assert (folder / "checkpoint.npz").exists()
    code, out, err = run(capsys, *args[:6], "12", *args[7:], "--resume")
    assert code == 0, err
    assert "r2" in out


def test_default_train_is_digits_with_high_accuracy(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--no-progress")
    assert code == 0, err
    accuracy = float(out.split("accuracy ")[1].split()[0])
    assert accuracy >= 0.95
    assert (tmp_path / "runs" / "digits" / "model.npz").exists()
    assert (tmp_path / "runs" / "digits" / "model.loss.png").exists()


def test_tutorial_command_reports_both_derivatives(tmp_path, capsys):
    plot = tmp_path / "tutorial.png"
    code, out, err = run(capsys, "tutorial", "--as-published", "--iterations", "60000",
                         "--initial-weight", "0.5", "--plot", plot)
    assert code == 0, err
    assert "correct:" in out and "as published:" in out and "iteration " in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, out, err = run(capsys, "tutorial", "--inputs", "0.1,0.4", "--iterations", "100")
    assert code == 0 and "inputs [0.1, 0.4]" in out


def test_explain_and_gradcheck_commands(capsys):
    code, out, err = run(capsys, "explain", "--sizes", "2,3,1", "--layer", "0", "--weight", "1,2")
    assert code == 0, err
    assert "dError/dOutput[0][2] = sum over k of weights[1][2, k]" in out
    assert "gradient =" in out
    # The forward pass shows the weight's own value and what feeds its neuron, the same
    # numbers --json gives; the batch's 1/n is said once.
    code, dumped, _ = run(capsys, "explain", "--sizes", "2,3,1", "--layer", "0", "--weight",
                          "1,2", "--json")
    data = json.loads(dumped)
    value, column, bias = data["value"], data["incoming"]["weights"], data["incoming"]["bias"]
    assert value == column[1]
    assert f"to neuron 2 of layer 0, whose value is {value:.10g}" in out
    assert f"(weights[0][1, 2] = {value:.10g})" in out
    assert (f"weights[0][:, 2] = [{column[0]:.10g}, {column[1]:.10g}]; "
            f"biases[0][2] = {bias:.10g}") in out
    assert "sop[0][2] = x[0] * weights[0][0, 2] + x[1] * weights[0][1, 2] + biases[0][2]" in out
    assert out.count("1/n") == 1 and "1/n enters once" in " ".join(out.split())
    code, out, _ = run(capsys, "explain", "--sizes", "2,3,1", "--layer", "1", "--bias", "0",
                       "--json")
    assert code == 0 and json.loads(out)["parameter"] == "biases[1][0]"
    code, out, err = run(capsys, "explain", "--sizes", "4,5,3", "--loss",
                         "categorical_cross_entropy", "--dataset", "iris", "--sample", "60",
                         "--layer", "0", "--weight", "2,4")
    assert code == 0, err
    assert "target = [0, 1, 0]" in out  # iris row 60 is a versicolor
    assert run(capsys, "explain", "--dataset", "iris", "--weight", "0,0")[0] == 2
    code, out, _ = run(capsys, "gradcheck", "--sizes", "3,4,4,2", "--activation", "tanh")
    assert code == 0 and "agree" in out


def bad_cases(tmp_path, model):
    ragged = write_csv(tmp_path / "ragged.csv", "a,b,c,label\n1,2,3,0\n1,2,0\n")
    header_only = write_csv(tmp_path / "header.csv", "a,b,c,label\n")
    empty = write_csv(tmp_path / "empty.csv", "")
    text = write_csv(tmp_path / "text.csv", "a,b,c,label\n1,2,3,0\n1,x,3,1\n")
    nan = write_csv(tmp_path / "nan.csv", "a,b,c,label\n1,2,3,0\n1,nan,3,1\n2,3,4,0\n4,5,6,1\n")
    inf = write_csv(tmp_path / "inf.csv", "a,b,c,label\n1,2,3,0\n1,2,inf,1\n")
    wide = write_csv(tmp_path / "wide.csv", "p,q,r,s,t,label\n1,2,3,4,5,0\n")
    unknown_label = write_csv(tmp_path / "label.csv", "a,b,c,label\n1,2,3,7\n")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(model.read_bytes()[:200])
    tampered = tmp_path / "tampered.npz"
    with np.load(model, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["layers.0.weight"] = arrays["layers.0.weight"] * 2
    with open(tampered, "wb") as handle:
        np.savez(handle, **arrays)
    out = tmp_path / "should-not-exist" / "model.npz"
    train = ["train", "--out", out, "--epochs", "2", "--no-progress"]
    return [
        (train + [tmp_path / "missing.csv"], "no such file"),
        (train + [empty], "empty"),
        (train + [ragged], "row 3 has 3 values but the header has 4"),
        (train + [header_only], "only a header"),
        (train + [text, "--numeric", "b"], "row 3, column 'b': 'x' is not a number"),
        (train + [nan, "--on-missing", "refuse", "--validation-split", "0"],
         "row 3, column 'b': the cell is empty"),
        (train + [inf], "row 3, column 'c': inf is not finite"),
        (train + [tmp_path / "data.csv", "--target", "nope"], "no target column 'nope'"),
        (train + [tmp_path / "data.csv", "--loss", "binary_cross_entropy"], "needs 2 classes"),
        (train + ["--dataset", "regression", "--loss", "categorical_cross_entropy"],
         "cannot take real-valued targets"),
        (train + [tmp_path / "data.csv", "--lr", "-0.1"], "must be a finite number > 0"),
        (train + [tmp_path / "data.csv", "--activation", "mish"], "invalid choice: 'mish'"),
        (train + [tmp_path / "data.csv", "--epochs", "0"], "must be an integer >= 1"),
        (train + [tmp_path / "data.csv", "--batch-size", "0"], "must be an integer >= 1"),
        (["predict", model, wide], "lacks the model's feature column\\(s\\) 'a', 'b', 'c'"),
        (["evaluate", model, unknown_label], "label 7 is not one of the model's classes"),
        (["predict", truncated, tmp_path / "data.csv"], "truncated or corrupted"),
        (["predict", tampered, tmp_path / "data.csv"], "checksum mismatch"),
        (["predict", tmp_path / "nomodel.npz", tmp_path / "data.csv"], "no such model file"),
        (["tutorial", "--target", "1.5"], "outside \\(0, 1\\)"),
        (["tutorial", "--inputs", "0.1,0.4", "--initial-weight", "1,2,3"],
         "3 values but --inputs has 2"),
        (["explain", "--layer", "5", "--weight", "0,0"], "layer 5 is outside"),
        (["explain", "--layer", "0", "--weight", "7,0"], "from_neuron 7"),
        (["train", "--hidden", "a,b"], "expected integers"),
    ], out


def test_bad_input_is_one_line_exit_2_and_leaves_no_file(tmp_path, small_csv, capsys):
    model = tmp_path / "model.npz"
    assert run(capsys, "train", small_csv, "--out", model, "--epochs", "2",
               "--no-progress")[0] == 0
    cases, out_path = bad_cases(tmp_path, model)
    import re

    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert re.search(message, lines[0]), (argv, lines[0])
        assert "Traceback" not in err
        assert not out_path.parent.exists()


def test_the_installed_command_and_python_m(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "nope"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0 and "train" in result.stdout


def test_regression_targets_are_scaled_and_predictions_come_back_in_their_units(tmp_path,
                                                                                 capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = 300 + 40 * X[:, 0] - 25 * X[:, 1] + rng.normal(0, 5, 400)
    path = write_csv(tmp_path / "prices.csv", "a,b,c,price\n" + "".join(
        f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y)))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", path, "--out", model, "--no-progress")
    assert code == 0, err
    r2 = float(out.split("r2 ")[1].split()[0])
    assert r2 > 0.8  # the defaults give a sensible model on ordinary data
    scaling = chainrule.load(str(model)).metadata["target_scaling"]
    assert scaling["mean"][0] == pytest.approx(300, abs=10)
    _, predictions, _ = run(capsys, "predict", model, path)
    values = np.array([float(v) for v in predictions.splitlines()[1:]])
    assert np.corrcoef(values, y)[0, 1] > 0.9 and abs(values.mean() - y.mean()) < 5
    code, report, _ = run(capsys, "evaluate", model, path)
    assert json.loads(report)["r2"] > 0.8


def test_classification_prints_a_per_class_view(tmp_path, capsys):
    code, out, _ = run(capsys, "train", "--dataset", "iris", "--epochs", "30", "--no-progress",
                       "--out", tmp_path / "iris.npz")
    assert code == 0
    assert "precision  recall     f1  support" in out
    assert "confusion matrix (rows: true class, columns: predicted class):" in out


def test_resuming_a_finished_run_says_so(tmp_path, capsys):
    args = ["train", "--dataset", "xor", "--epochs", "3", "--no-progress", "--out-dir",
            tmp_path, "--checkpoint-every", "1"]
    assert run(capsys, *args)[0] == 0
    code, out, _ = run(capsys, *args, "--resume")
    assert code == 0 and "had already finished at epoch 3 (--epochs 3): nothing trained" in out


def test_help_texts_say_what_the_options_do(capsys):
    for command, text in (("gradcheck", "check a saved model instead"),
                          ("explain", "evenly spaced from 0.1 to 0.9"),
                          ("explain", "0.3 for every output"),
                          ("train", "none for no hidden layer")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert text in " ".join(capsys.readouterr().out.split()), (command, text)
    code, _, err = run(capsys, "train", "--lr", "x")
    assert err.startswith("chainrule: error: train: argument --learning-rate/--lr") and code == 2


def test_a_closed_pipe_ends_quietly():
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(f"{sys.executable} -m chainrule tutorial --print-every 1 | head -1",
                            shell=True, capture_output=True, text=True, env=env)
    assert result.stdout.startswith("inputs") and result.stderr == ""


def test_figures_carry_their_settings(tmp_path):
    from chainrule import Network, tutorial
    from chainrule.plotting import plot_tutorial

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 2)), np.eye(2)[rng.integers(0, 2, 40)]
    net = Network([2, 4, 2], output_activation="softmax", loss="categorical_cross_entropy")
    history = net.fit(X, Y, epochs=30, learning_rate=0.5, validation_data=(X[:10], Y[:10]))
    figure = history.plot()
    loss_ax, accuracy_ax = figure.axes
    assert loss_ax.get_ylabel() == "categorical cross-entropy"
    assert [line.get_label() for line in loss_ax.get_lines()] == [
        "training categorical cross-entropy", "validation categorical cross-entropy"]
    assert accuracy_ax.get_title() == "Accuracy against epoch"
    assert "learning_rate 0.5" in figure._suptitle.get_text()
    runs = {"correct": tutorial.run_network([0.1], 0.3, 0.5, 12_000, [0.5])}
    figure = plot_tutorial(runs, 0.3, settings={"inputs": [0.1], "learning_rate": 0.5,
                                                "initial_weights": [0.5], "tolerance": 1e-3,
                                                "activation": "sigmoid"})
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert "correct: within tolerance at 11013" in labels
    assert "learning rate 0.5" in figure._suptitle.get_text()
    assert figure.axes[1].get_yscale() == "log"


def test_explaining_a_saved_model_uses_the_data_as_the_model_sees_it(tmp_path, capsys):
    model = tmp_path / "iris.npz"
    assert run(capsys, "train", "--dataset", "iris", "--epochs", "3", "--no-progress",
               "--out", model)[0] == 0
    code, out, err = run(capsys, "explain", "--model", model, "--dataset", "iris", "--sample",
                         "60", "--layer", "0", "--weight", "2,4")
    assert code == 0, err
    assert "standardised as the model's metadata says" in out
    net = chainrule.load(str(model))
    scaling = net.metadata["scaling"]
    from chainrule.datasets import load_dataset

    x2 = (load_dataset("iris").X[60, 2] - scaling["mean"][2]) / scaling["scale"][2]
    assert f"the input x[2] = {x2:.10g}" in out


def test_the_command_line_starts_without_the_engine_or_pyarrow():
    """`chainrule --version` and `chainrule train --help` answer at once: the parser imports
    the names of the choices, not the engine, the table reader or the plots."""
    import subprocess
    import sys

    code = ("import sys, chainrule.cli as c; c.build_parser(); "
            "print(' '.join(m for m in ('chainrule.engine', 'chainrule.training', "
            "'pyarrow', 'matplotlib', 'chainrule.cli.model_table', "
            "'chainrule.cli.training_run', 'chainrule.distributed_run', 'distributed') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""


def test_serve_passes_its_memory_budget(monkeypatch):
    pytest.importorskip("uvicorn")
    from chainrule.playground import server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda **options: seen.update(options))
    assert main(["serve", "--no-browser", "--memory-budget", "300"]) == 0
    assert seen["memory_budget"] == 300 * 2**20
    seen.clear()
    assert main(["serve", "--no-browser"]) == 0
    assert "memory_budget" not in seen  # the playground's own default


def test_train_on_dask_asks_the_dask_layer_for_its_client_and_table(small_csv, capsys,
                                                                    monkeypatch):
    """`--dask-workers` goes through chainrule.distributed_run: its client is asked for with
    the command line's address, workers and --verbose, and a split fraction outside (0, 1) is
    one line and exit 2 before any file is read on the cluster."""
    import contextlib

    from chainrule import distributed_run

    asked = []

    @contextlib.contextmanager
    def client(address, n_workers, verbose=False):
        asked.append((address, n_workers, verbose))
        yield None

    monkeypatch.setattr(distributed_run, "dask_client", client)
    code, _, err = run(capsys, "train", small_csv, "--dask-workers", "3", "--test-split", "1.5")
    assert code == 2 and asked == [(None, 3, False)]
    assert err.strip() == "chainrule: error: the split fraction must be in (0, 1), got 1.5"


def test_the_training_options_help_is_the_table_and_shows_every_default_and_choice(capsys):
    """`train --help` says what chainrule.training.OPTIONS says of each training option, with
    the command line's default (or the table's), and every choice; --lr is --learning-rate."""
    from chainrule.optimizers import OPTIMIZERS
    from chainrule.schedules import SCHEDULES
    from chainrule.training import OPTIONS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in OPTIONS:
        if option.name in ("optimizer", "learning_rate", "schedule", "batch_size", "epochs",
                           "l2", "progress"):
            assert " ".join(option.help.rstrip(".").split()) in text, option.name
    for default in ("(default: adam)", "(default: 0.001)", "(default: constant)",
                    "(default: 32)", "(default: 200)", "(default: 0.0001)",
                    "(default: only when stderr is a terminal)"):
        assert default in text, default
    assert "--learning-rate RATE, --lr RATE" in text
    for choices in (OPTIMIZERS, SCHEDULES):
        assert "{" + ",".join(sorted(choices)) + "}" in text


def test_lr_is_an_alias_of_learning_rate(capsys):
    from chainrule.cli import build_parser

    parser = build_parser()
    for command in ("train", "tutorial"):
        for flag in ("--learning-rate", "--lr"):
            args = parser.parse_args([command, flag, "0.25"])
            assert args.learning_rate == 0.25
    code, _, err = run(capsys, "tutorial", "--learning-rate", "0")
    assert code == 2 and "learning_rate must be a finite number > 0, got 0.0" in err


def test_optimizer_and_schedule_settings_reach_training(tmp_path, capsys):
    from chainrule.adam_family import AdamW
    from chainrule.schedules import Plateau

    out = tmp_path / "m.npz"
    common = ["train", "--dataset", "iris", "--epochs", "4", "--no-progress", "--seed", "3"]
    assert main([*common, "--optimizer", "adamw", "--optimizer-settings",
                 "weight_decay=0.3,beta1=0.8", "--schedule", "plateau",
                 "--schedule-settings", "patience=1,factor=0.5", "--out", str(out)]) == 0
    training = chainrule.load(str(out)).metadata["training"]
    assert training["optimizer_settings"]["weight_decay"] == 0.3
    assert training["optimizer_settings"]["beta1"] == 0.8
    assert training["schedule_settings"]["patience"] == 1
    assert AdamW(weight_decay=0.3, beta1=0.8).hyperparameters() == training["optimizer_settings"]
    assert Plateau(patience=1, factor=0.5).settings() == training["schedule_settings"]
    # and they changed the training: the same run without the decay ends elsewhere
    plain = tmp_path / "plain.npz"
    assert main([*common, "--optimizer", "adamw", "--optimizer-settings",
                 "weight_decay=0,beta1=0.8", "--schedule", "plateau",
                 "--schedule-settings", "patience=1,factor=0.5", "--out", str(plain)]) == 0
    assert not np.array_equal(chainrule.load(str(out)).flat_parameters(),
                              chainrule.load(str(plain)).flat_parameters())
    capsys.readouterr()


@pytest.mark.parametrize("extra, message", [
    (["--optimizer", "adamw", "--optimizer-settings", "bogus=1"],
     "adamw has no setting 'bogus' (it takes beta1, beta2, eps, weight_decay)"),
    (["--optimizer-settings", "beta1=2"], "beta1 must be in [0, 1)"),
    (["--schedule-settings", "patience=3"], "--schedule-settings needs --schedule"),
    (["--optimizer-settings", "beta1"], "expected NAME=VALUE pairs"),
    (["--optimizer-settings", "beta1=nan"], "expected NAME=VALUE pairs"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    out = tmp_path / "m.npz"
    code = main(["train", "--dataset", "iris", "--epochs", "1", "--no-progress",
                 "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
