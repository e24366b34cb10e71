"""Every command in the README and docs/tutorial.md runs, and every output docs/tutorial.md shows
is what its command prints (``...`` in a shown line stands for digits that vary between BLAS
builds)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main

ROOT = Path(__file__).resolve().parent.parent


def blocks(path: Path):
    """``(command, shown output or None)`` for each ```sh block, with the output block after it."""
    text = path.read_text()
    found = re.findall(r"```sh\n(.*?)```(?:\n```\n(.*?)```)?", text, flags=re.S)
    return [(command.strip(), output or None) for command, output in found]


def run_command(command: str, cwd: Path, capsys) -> tuple[int, str]:
    if command.startswith("python "):
        result = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=cwd,
                                capture_output=True, text=True)
        return result.returncode, result.stdout
    argv = shlex.split(command.split(" #")[0].replace("\\\n", " "))
    assert argv[0] == "chainrule", command
    code = main(argv[1:])
    return code, capsys.readouterr().out


def matches(shown: str, output: str) -> bool:
    """Whether the shown lines appear, consecutively, among the output's lines."""
    want = [re.compile(re.escape(line.rstrip()).replace(r"\.\.\.", ".*?") + "$")
            for line in shown.strip("\n").splitlines()]
    lines = [line.rstrip() for line in output.splitlines()]
    return any(all(pattern.match(line) for pattern, line in zip(want, lines[start:]))
               and len(lines) - start >= len(want)
               for start in range(len(lines)))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    (tmp_path / "data.csv").write_text("a,b,c,label\n" + "".join(
        f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y)))
    (tmp_path / "docs" / "img").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_of_the_readme_runs(workdir, capsys):
    commands = [c for command, _ in blocks(ROOT / "README.md") for c in
                re.sub(r"\\\n\s*", " ", command).splitlines() if c.startswith("chainrule")]
    assert len(commands) >= 10
    for command in commands:
        code, _ = run_command(command, workdir, capsys)
        assert code == 0, command


def test_every_output_of_the_tutorial_doc_is_what_its_command_prints(workdir, capsys):
    found = blocks(ROOT / "docs" / "tutorial.md")
    assert len(found) >= 6
    for command, shown in found:
        code, output = run_command(command, workdir, capsys)
        assert code == 0, command
        if shown is not None:
            assert matches(shown, output), f"{command}\n--- shown:\n{shown}--- printed:\n{output}"
