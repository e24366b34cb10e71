"""Helpers of the fault tests (tests/test_faults_*.py): the command line run in-process, its
one-line refusals, leftover lock and temporary files, and model files edited and re-signed as a
forger would."""

import json
import re

import numpy as np

from chainrule.cli import main
from chainrule.persistence import _digest

TRAIN = ["train", "--epochs", "3", "--hidden", "4", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(message, lines[0]), lines[0]
    return lines[0]


def leftovers(folder):
    """Lock and temporary files anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith((".lock", ".part")))


def write_data(tmp_path):
    """A table of 120 rows: three numbers and a yes/no label."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n"
                                              for r, t in zip(X, labels)))
    return path


def members(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def resign(path, change):
    """Apply ``change(header, arrays)`` and recompute the checksums, as a forger would."""
    arrays = members(path)
    header = json.loads(str(arrays.pop("chainrule.json")))
    change(header, arrays)
    header.pop("checksum", None)
    header.pop("checkpoint_checksum", None)
    header["checksum"] = _digest({k: v for k, v in arrays.items()
                                  if k.startswith("layers.")}, header)
    if "checkpoint" in header:
        header["checkpoint_checksum"] = _digest(arrays, header)
    with open(path, "wb") as handle:
        np.savez(handle, **{"chainrule.json": np.array(json.dumps(header))}, **arrays)
