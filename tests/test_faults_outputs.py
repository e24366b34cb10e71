"""Faults of the machine, round 3: a run's outputs replace nothing until all are written, and every
OS error (no space, no permission, a read-only disk) is one line naming its file; a stop request
(Ctrl-C, SIGTERM) at any moment keeps the last update and leaves no lock or temporary file."""

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from faults import TRAIN, leftovers, refused, run, write_data

import chainrule
from chainrule import Network, _signals
from chainrule._files import OutputError, atomic_write, claim, together


@pytest.fixture
def data_csv(tmp_path):
    return write_data(tmp_path)


@pytest.fixture
def model(tmp_path, data_csv, capsys):
    path = tmp_path / "model.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", path)[0] == 0
    return path


# ---------------------------------------------------------------------------- 1. outputs
@contextlib.contextmanager
def small_disk(folder, size="512k"):
    """A tmpfs of ``size`` at ``folder`` (root only; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder, leave=0):
    """Fill the disk of ``folder`` but ``leave`` bytes."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(folder / "filler", "wb") as handle:
        handle.write(b"x" * max(0, free - leave))


def test_a_full_disk_replaces_no_output_and_names_the_file(tmp_path, data_csv, capsys):
    with small_disk(tmp_path / "disk") as disk:
        model, predictions = disk / "model.npz", disk / "predictions.csv"
        assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0
        predictions.write_text("old\n")
        before = model.read_bytes(), (disk / "model.loss.png").read_bytes()
        fill(disk, leave=len(before[0]) + 8192)  # room for the model, not for its curve
        refused(capsys, *TRAIN, data_csv, "--out", model, "--seed", "1",
                message=r"model\.loss\.png: cannot be written \(No space left on device\)")
        assert (model.read_bytes(), (disk / "model.loss.png").read_bytes()) == before
        assert leftovers(disk) == []
        (disk / "filler").unlink()
        fill(disk)
        refused(capsys, "predict", model, data_csv, "--out", predictions,
                message=r"predictions\.csv: cannot be written \(No space left on device\)")
        assert predictions.read_text() == "old\n"
        refused(capsys, "tutorial", "--iterations", "50", "--plot", disk / "tutorial.png",
                message=r"tutorial\.png: cannot be written \(No space left on device\)")
        assert not (disk / "tutorial.png").exists() and leftovers(disk) == []


def test_a_full_disk_during_training_names_the_checkpoint(tmp_path, data_csv, capsys):
    with small_disk(tmp_path / "disk", size="64k") as disk:
        fill(disk, leave=4096)
        refused(capsys, *TRAIN, data_csv, "--out", tmp_path / "m.npz", "--checkpoint-every",
                "1", "--checkpoint", disk / "ck.npz",
                message=r"ck\.npz: cannot be written \(No space left on device\)")
        assert not (tmp_path / "m.npz").exists() and leftovers(tmp_path) == []


def test_standard_output_on_a_full_disk_is_one_line(tmp_path, model, data_csv):
    with small_disk(tmp_path / "disk", size="64k") as disk:
        fill(disk)
        for argv in (["predict", model, data_csv], ["info", model], ["tutorial"]):
            with open(disk / "out.txt", "w") as stdout:
                done = subprocess.run([sys.executable, "-m", "chainrule", *map(str, argv)],
                                      stdout=stdout, stderr=subprocess.PIPE, text=True)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip() == "chainrule: error: standard output: cannot be " \
                                          "written (No space left on device)"


def test_a_read_only_disk_is_named(tmp_path, model, data_csv, capsys):
    with small_disk(tmp_path / "disk") as disk:
        (disk / "old.csv").write_text("old\n")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        refused(capsys, *TRAIN, data_csv, "--out", disk / "m.npz",
                message=r"m\.npz: cannot write in .*\(Read-only file system\)")
        refused(capsys, "predict", model, data_csv, "--out", disk / "old.csv",
                message=r"old\.csv: cannot write in .*\(Read-only file system\)")
        assert (disk / "old.csv").read_text() == "old\n"


def test_an_os_error_on_the_last_output_replaces_none(tmp_path, data_csv, capsys,
                                                      monkeypatch):
    """Without root: the second file's fsync fails as a full disk would make it fail."""
    model = tmp_path / "model.npz"
    assert run(capsys, *TRAIN, data_csv, "--out", model)[0] == 0
    before = model.read_bytes(), (tmp_path / "model.loss.png").read_bytes()
    calls, fsync = [], os.fsync

    def failing(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(descriptor)

    monkeypatch.setattr(os, "fsync", failing)
    refused(capsys, *TRAIN, data_csv, "--out", model, "--seed", "1",
            message=r"model\.loss\.png: cannot be written \(No space left on device\)")
    assert (model.read_bytes(), (tmp_path / "model.loss.png").read_bytes()) == before
    assert leftovers(tmp_path) == []


def test_outputs_written_together_appear_together(tmp_path):
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"old first")
    with pytest.raises(RuntimeError), together():
        with atomic_write(first) as handle:
            handle.write(b"new first")
        assert first.read_bytes() == b"old first"  # staged, not yet renamed
        raise RuntimeError("the second output failed")
    assert first.read_bytes() == b"old first" and not second.exists()
    with together():
        for path in (first, second):
            with atomic_write(path) as handle:
                handle.write(b"new")
    assert first.read_bytes() == second.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.bin", "second.bin"]


def test_a_folder_that_cannot_be_made_is_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"model\.npz: cannot be written"):
        with claim([str(blocker / "sub" / "model.npz")]):
            pass


# ---------------------------------------------------------------------------- 2. signals
def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_mid_run_keeps_the_last_update(tmp_path, signum, code):
    out, checkpoint = tmp_path / "model.npz", tmp_path / "ck.npz"
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs",
         "100000", "--early-stopping", "0", "--no-progress", "--out", str(out),
         "--checkpoint-every", "1", "--checkpoint", str(checkpoint)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        wait_for(checkpoint.exists)  # training has made updates
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, stderr
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    assert stderr.strip().splitlines() == [
        f"chainrule: interrupted ({name}): the model of the last update is written to {out}"]
    assert f"stopped: interrupted ({name})" in stdout
    assert chainrule.load(str(out)).metadata["training"]["epochs_done"] >= 1
    assert leftovers(tmp_path) == []


def test_a_signal_at_any_moment_leaves_no_lock_and_no_temporary(tmp_path):
    """The signal comes once training is under way: during the epochs, the held-out metrics,
    the writing of the model or its curve, or after. Whatever it hits, the exit is clean and
    any model written loads."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    data = tmp_path / "data.csv"
    data.write_text("a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{int(r[0] > 0)}\n"
                                              for r in X))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for trial, delay in enumerate([0.0, 0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0]):
        folder = tmp_path / f"run{trial}"
        out = folder / "model.npz"
        process = subprocess.Popen(
            [sys.executable, "-m", "chainrule", "train", str(data), "--epochs", "30",
             "--no-progress", "--out", str(out), "--checkpoint-every", "2", "--checkpoint",
             str(folder / "ck.npz")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        first = process.stdout.readline()  # the column summary: the data are prepared
        assert "as prepared for training" in first
        time.sleep(delay)
        process.send_signal(signal.SIGTERM if trial % 2 else signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 1, stderr
        assert leftovers(tmp_path) == []
        if out.exists():
            chainrule.load(str(out))
            assert (folder / "model.loss.png").exists()
        if "stopped: interrupted" in stdout:  # an update was made: it is never lost
            assert "the model of the last update is written" in stderr
        if "the model of the last update is written" in stderr:
            assert process.returncode in (130, 143) and out.exists()
        elif stderr:  # before the first update: nothing written, nothing left
            assert re.fullmatch(r"chainrule: interrupted \((Ctrl-C|SIGTERM)\)", stderr.strip())
            assert process.returncode in (130, 143) and not out.exists()
        else:  # the run was over: the signal came as it ended, or after
            assert "model: " in stdout and process.returncode in (0, 130, 143, -2, -15)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("phase", ["metrics", "save", "plot"])
def test_a_signal_after_the_last_update_never_loses_it(tmp_path, data_csv, capsys,
                                                        monkeypatch, phase, signum, code):
    from chainrule.cli import training_run as _training_run
    from chainrule.history import History

    target, name = {"metrics": (_training_run, "_held_out_metrics"),
                    "save": (Network, "save"), "plot": (History, "plot")}[phase]
    original = getattr(target, name)

    def interrupted(*args, **kwargs):
        signal.raise_signal(signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, interrupted)
    out = tmp_path / "model.npz"
    code_, stdout, stderr = run(capsys, *TRAIN, data_csv, "--out", out)
    assert code_ == code, stderr
    assert stderr.strip().splitlines() == [
        f"chainrule: interrupted ({_signals.describe(signum)}): the model of the last update "
        f"is written to {out}"]
    assert chainrule.load(str(out)).metadata["training"]["epochs_done"] == 3
    assert (tmp_path / "model.loss.png").exists() and leftovers(tmp_path) == []


def test_a_signal_before_any_update_ends_cleanly(tmp_path, data_csv, capsys, monkeypatch):
    from chainrule import preparation

    prepare = preparation.prepare

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(preparation, "prepare", interrupted)
    out = tmp_path / "new" / "model.npz"
    code, _, err = run(capsys, *TRAIN, data_csv, "--out", out)
    assert code == 143 and err.strip() == "chainrule: interrupted (SIGTERM)"
    assert not (tmp_path / "new").exists()


def test_a_signal_while_predictions_are_written_leaves_the_old_file(tmp_path, model, data_csv,
                                                                    capsys, monkeypatch):
    from chainrule import _files

    out = tmp_path / "predictions.csv"
    out.write_text("old\n")
    write = _files._Writer.write

    def interrupted(self, data):
        signal.raise_signal(signal.SIGTERM)
        return write(self, data)

    monkeypatch.setattr(_files._Writer, "write", interrupted)
    code, _, err = run(capsys, "predict", model, data_csv, "--out", out)
    assert code == 143 and err.strip() == "chainrule: interrupted (SIGTERM)"
    assert out.read_text() == "old\n" and leftovers(tmp_path) == []


def test_a_critical_section_holds_a_stop_request_back(tmp_path):
    done = []
    with _signals.installed():
        with pytest.raises(_signals.Stopped) as stopped:
            with _signals.critical():
                signal.raise_signal(signal.SIGTERM)
                done.append("the section ran to its end")
        assert stopped.value.signum == signal.SIGTERM and done
        with pytest.raises(_signals.Stopped), claim([str(tmp_path / "out.bin")]):
            signal.raise_signal(signal.SIGTERM)
    assert leftovers(tmp_path) == []


def test_a_stop_request_a_library_swallows_is_not_lost(capsys, monkeypatch):
    from chainrule import cli

    def swallowing(args):
        with contextlib.suppress(BaseException):  # as compiled code may do
            signal.raise_signal(signal.SIGTERM)
        return 0

    monkeypatch.setattr(cli, "cmd_info", swallowing)
    code, _, err = run(capsys, "info", "whatever.npz")
    assert code == 143 and err.strip() == "chainrule: interrupted (SIGTERM)"
