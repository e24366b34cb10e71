"""The notebook in docs/notebooks runs without an error and its stored outputs are what it prints.

The notebook is executed by nbclient in a kernel of this interpreter (a kernelspec written to a
temporary ``JUPYTER_PATH``, so no kernel installed elsewhere is picked up). Every cell's outputs
are compared with the stored ones, text and HTML alike, after rounding each long decimal number to
nine significant digits (another machine's BLAS may differ in a last bit, nothing more).

``python tests/test_notebook.py`` executes the notebook and writes its outputs back into it: the
way to refresh them after changing a cell.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = (Path(__file__).resolve().parent.parent / "docs" / "notebooks"
            / "part1-and-a-hidden-weight.ipynb")
KERNEL = "chainrule-test-python"
_LONG_NUMBER = re.compile(r"-?\d+\.\d{6,}(?:e[+-]?\d+)?")


def execute(path: Path = NOTEBOOK):
    """The notebook at ``path``, executed top to bottom in a kernel of this Python."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as jupyter:
        spec = Path(jupyter) / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "chainrule tests", "language": "python"}))
        saved = {name: os.environ.get(name) for name in
                 ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR", "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR")}
        # Kernel files, connection files and IPython's history stay in the temporary folder.
        os.environ.update(JUPYTER_PATH=jupyter, JUPYTER_RUNTIME_DIR=jupyter,
                          JUPYTER_PLATFORM_DIRS="1", IPYTHONDIR=str(Path(jupyter) / "ipython"))
        try:
            client = nbclient.NotebookClient(notebook, timeout=120, kernel_name=KERNEL,
                                             resources={"metadata": {"path": str(path.parent)}})
            client.execute()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:  # one stream output per run of messages, as Jupyter shows it
        outputs = []
        for output in cell.get("outputs", []):
            if (output["output_type"] == "stream" and outputs
                    and outputs[-1]["output_type"] == "stream"
                    and outputs[-1]["name"] == output["name"]):
                outputs[-1]["text"] += output["text"]
            else:
                outputs.append(output)
        if cell.cell_type == "code":
            cell.outputs = outputs
    return notebook


def _rounded(text: str) -> str:
    return _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.9g}", text)


def visible_outputs(cell) -> list[dict[str, str]]:
    """What a reader sees of a code cell, long numbers rounded: stream text, and of a result its
    HTML where it has one (what Jupyter shows), its plain text otherwise. (A dataclass's plain
    repr names every field, so a new field would change it without changing the page.)"""
    shown: list[dict[str, str]] = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            # The kernel may send one stream's text in several messages: join each run of them.
            if shown and list(shown[-1]) == [output["name"]]:
                shown[-1][output["name"]] += output["text"]
            else:
                shown.append({output["name"]: output["text"]})
        elif output["output_type"] in ("execute_result", "display_data"):
            data = output["data"]
            kind = "text/html" if "text/html" in data else "text/plain"
            shown.append({kind: "".join(data[kind])})
        else:  # an error
            shown.append({"error": f"{output.get('ename')}: {output.get('evalue')}"})
    return [{kind: _rounded(text) for kind, text in item.items()} for item in shown]


@pytest.fixture(scope="module")
def executed():
    return execute()


def test_the_notebook_runs_without_an_error(executed):
    errors = [output for cell in executed.cells if cell.cell_type == "code"
              for output in cell.outputs if output["output_type"] == "error"]
    assert errors == []
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


def test_its_stored_outputs_are_what_it_produces(executed):
    stored = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    assert len(code) == sum(cell.cell_type == "code" for cell in executed.cells)
    assert all(cell.outputs for cell in code[1:]), "every cell but the imports shows something"
    for before, after in zip(code, (c for c in executed.cells if c.cell_type == "code")):
        assert before.source == after.source
        assert visible_outputs(before) == visible_outputs(after), before.source


def test_it_shows_the_html_of_the_three_classes(executed):
    html = "".join("".join(output.get("data", {}).get("text/html", ""))
                   for cell in executed.cells if cell.cell_type == "code"
                   for output in cell.outputs)
    assert "<b>Network</b> [2, 3, 1]" in html
    assert "<svg" in html and "<polyline" in html
    assert "dError/dweights[0][1, 2]" in html
    assert "<script" not in html.lower()


def test_the_comparison_catches_a_stale_output(executed):
    code = next(cell for cell in executed.cells
                if cell.cell_type == "code" and "gradient = g1 * g2 * g3" in cell.source)
    stale = nbformat.from_dict(json.loads(json.dumps(code)))
    stale.outputs[0]["text"] = stale.outputs[0]["text"].replace("g3 = 0.1", "g3 = 0.2")
    assert visible_outputs(stale) != visible_outputs(code)


if __name__ == "__main__":
    nbformat.write(execute(), NOTEBOOK)
    print(f"wrote the outputs of {NOTEBOOK}")
