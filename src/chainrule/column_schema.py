"""What a model file stores of its table's columns (``metadata.preparation``, format version
3), checked field by field on load: a model file is data from anywhere, so every field is
refused, with its name, unless it is well formed and the columns produce the model's features.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KINDS", "ROLES", "check_stored_columns"]

#: A column's kinds as read (:class:`chainrule.columns.Column`), and the roles it may be given.
KINDS = ("number", "integer", "boolean", "text", "date", "empty")
ROLES = ("numeric", "boolean", "date", "categorical", "dropped", "target")


def check_stored_columns(stored: Any, feature_names: list[str]) -> None:
    """Refuse a stored preparation (a model's ``metadata.preparation``) that is not well formed
    or does not produce the model's ``feature_names``; ``ValueError`` names the field."""
    def refuse(field: str, what: str) -> None:
        raise ValueError(f"metadata preparation.{field} {what}")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            value == value and abs(value) != float("inf")

    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if not isinstance(stored, dict) or set(stored) != {"columns", "on_missing", "target_kind",
                                                       "rows_without_target"}:
        refuse("", "must hold exactly columns, on_missing, target_kind and rows_without_target")
    if stored["on_missing"] not in ("fill", "refuse"):
        refuse("on_missing", "must be fill or refuse")
    if stored["target_kind"] not in KINDS:
        refuse("target_kind", f"must be one of {', '.join(KINDS)}")
    if not count(stored["rows_without_target"]):
        refuse("rows_without_target", "must be a count")
    columns = stored["columns"]
    if not isinstance(columns, list) or not columns:
        refuse("columns", "must be a list of columns")
    names: list[str] = []
    produced: list[str] = []
    for i, spec in enumerate(columns):
        where = f"columns[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or spec.get("role") not in ROLES or spec.get("kind") not in KINDS:
            refuse(where, "must hold a name, a role and a kind")
        name, role = spec["name"], spec["role"]
        names.append(name)
        fields = {"name", "role", "kind"}
        if role == "dropped":
            fields |= {"reason"}
            if not isinstance(spec.get("reason"), str):
                refuse(f"{where}.reason", "must be text")
        elif role == "categorical":
            fields |= {"categories", "missing_category", "filled"}
            categories = spec.get("categories")
            if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories) \
                    or len(set(categories)) != len(categories):
                refuse(f"{where}.categories", "must be a list of different texts")
            if not isinstance(spec.get("missing_category"), bool):
                refuse(f"{where}.missing_category", "must be true or false")
            produced += [f"{name}={c}" for c in categories]
            produced += [f"{name}=(missing)"] if spec["missing_category"] else []
        elif role != "target":
            fields |= {"fill", "indicator", "filled"}
            if not number(spec.get("fill")):
                refuse(f"{where}.fill", "must be a finite number")
            if not isinstance(spec.get("indicator"), bool):
                refuse(f"{where}.indicator", "must be true or false")
            produced += [name] + ([f"{name} (missing)"] if spec["indicator"] else [])
        if "filled" in fields and not count(spec.get("filled")):
            refuse(f"{where}.filled", "must be a count")
        if set(spec) != fields:
            refuse(where, f"must hold exactly {', '.join(sorted(fields))}")
    if len(set(names)) != len(names):
        refuse("columns", "names a column twice")
    if sum(spec["role"] == "target" for spec in columns) > 1:
        refuse("columns", "has more than one target")
    if produced != list(feature_names):
        refuse("columns", "do not produce the model's feature_names")
