import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_shows_the_two_setup_commands():
    text = README.read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quickstart, flags=re.M)
    assert commands == ["make demo", "make test"]


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert blocks, "the README has a Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "loss" in out and "gradient =" in out
    assert (tmp_path / "xor.npz").exists()


def test_architecture_example_runs_as_written(capsys):
    path = README.parent / "docs" / "architecture.md"
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(path), "exec"), {"__name__": "architecture"})
    assert "reached the maximum number of epochs (100)" in capsys.readouterr().out
