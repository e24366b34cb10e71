"""The import layers of ``src/chainrule``: nothing imports upward, nothing runs in a circle.

Function-level imports count, and so does a name taken from the package itself (``from . import
__version__`` imports the package's ``__init__``, the top floor). The package is parsed once for
every test. ``docs/architecture.md`` draws these floors.
"""

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "chainrule"

FLOORS = {
    0: ["arrays", "_files", "_signals", "_validation", "_version", "exceptions", "datasets",
        "plotting", "notebook", "columns", "column_schema", "csv_messages", "csv_ranges",
        "tables", "block_medians", "special"],
    1: ["activation_base", "activations", "smooth_activations", "losses", "initializers",
        "optimizer_base", "optimizers", "adam_family", "schedules", "reference_maths",
        "reference_layers"],
    2: ["engine", "reference"],
    3: ["metrics", "sources", "callbacks", "history", "training"],
    4: ["persistence", "model_archive", "model_header", "explain", "explain_numbers",
        "explain_text", "explain_layers", "explain_layers_text", "gradcheck", "tutorial",
        "preparation", "features", "feature_rules"],
    5: ["network"],
    6: ["sklearn", "_sklearn_parameters", "_sklearn_weights", "distributed",
        "distributed_run", "distributed_table", "cluster_blocks", "cluster_tasks",
        "playground"],
    7: ["cli", "__main__", "__init__"],
}
FLOOR_OF = {module: floor for floor, modules in FLOORS.items() for module in modules}


def module_name(path: Path) -> str:
    """The top module a file belongs to (a subpackage counts as one: datasets)."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


@cache
def modules() -> frozenset[str]:
    """The package's top modules, as files name them."""
    return frozenset(module_name(path) for path in PACKAGE.rglob("*.py"))


def imports_of(source: str, package: str) -> set[str]:
    """Every ``chainrule.<module>`` that ``source`` (a file of ``package``) imports, anywhere
    in it, function bodies included; a name of the package that is not one of its modules
    (``from chainrule import Network``) is the package's ``__init__``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] == "chainrule":
                found.add(parts[1] if len(parts) > 1 and parts[1] in modules() else "__init__")
    return found


@cache
def graph() -> dict[str, frozenset[str]]:
    """Each top module and the modules with a floor that it imports: the package parsed once."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        package = ".".join(("chainrule", *path.relative_to(PACKAGE).parent.parts))
        imported = imports_of(path.read_text(encoding="utf-8"), package) & set(FLOOR_OF)
        edges.setdefault(name, set()).update(imported - {name})
    return {name: frozenset(targets) for name, targets in edges.items()}


def test_every_module_has_a_floor():
    assert set(graph()) == set(FLOOR_OF)


@pytest.mark.parametrize("module", sorted(FLOOR_OF))
def test_nothing_imports_upward(module):
    upward = {target: FLOOR_OF[target] for target in graph().get(module, ())
              if FLOOR_OF[target] > FLOOR_OF[module]}
    assert not upward, f"{module} (floor {FLOOR_OF[module]}) imports {upward}"


def test_no_import_cycles():
    edges = {m: {t for t in ts if t != "__init__"} for m, ts in graph().items()}
    state: dict[str, str] = {}

    def visit(module, path):
        state[module] = "open"
        for target in edges[module]:
            assert state.get(target) != "open", " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in edges:
        if module not in state:
            visit(module, [])


def test_the_check_sees_every_kind_of_import():
    source = ("import chainrule.engine\nfrom chainrule import training\n"
              "def f():\n    from .network import Network\n    from . import cli\n")
    assert imports_of(source, "chainrule") == {"engine", "training", "network", "cli"}
    assert imports_of("from .. import persistence\n", "chainrule.datasets") == {"persistence"}
    # A name the package's __init__ holds, not a module: the top floor, an upward import.
    assert imports_of("def f():\n    from . import __version__\n", "chainrule") == {"__init__"}
    assert imports_of("from .. import __version__\n", "chainrule.playground") == {"__init__"}
    assert imports_of("from chainrule import Network\nimport chainrule\n", "chainrule.cli") \
        == {"__init__"}
    assert imports_of("from ._version import __version__\n", "chainrule") == {"_version"}
