"""The oracle's cases (benchmarks/torch_oracle.py: chainrule against PyTorch from the same
weights on the same batches, 50 updates), every one of every module present, where torch is
installed: so `make test` checks the agreement, and `make bench` prints its table."""

import os
import sys

import pytest

pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import torch_oracle  # noqa: E402

CASES, MISSING = torch_oracle.load_cases()


@pytest.mark.parametrize("module, name, function", CASES, ids=[f"{m}: {n}" for m, n, _ in CASES])
def test_chainrule_agrees_with_pytorch(module, name, function):
    absolute, relative = torch_oracle.run_case(function)
    assert absolute <= torch_oracle.TOLERANCE, (name, absolute, relative)


def test_the_runner_prints_the_table_and_fails_a_failing_piece(capsys, monkeypatch, tmp_path):
    path = tmp_path / "oracle.md"
    monkeypatch.setattr(torch_oracle, "load_cases", lambda: (
        [("oracle_maths", "agrees", lambda: 1e-16), ("oracle_maths", "drifts", lambda: (1e-9,
                                                                                      1e-8))],
        ["oracle_layers"]))
    assert torch_oracle.main(["--markdown", str(path)]) == 1
    out = capsys.readouterr().out
    assert "| agrees | oracle_maths | 1.00e-16 | - | yes |" in out
    assert "| drifts | oracle_maths | 1.00e-09 | 1.00e-08 | **no** |" in out
    assert "Modules not present (skipped): oracle_layers." in out
    assert path.read_text().startswith("# chainrule against PyTorch")
    assert torch_oracle.main(["--only", "agrees"]) == 0
