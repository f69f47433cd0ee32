"""Parser for managedFields ``fieldsV1`` sets (structured-merge-diff's wire format).

A fieldsV1 tree maps path elements to sub-trees: ``f:<name>`` (a field), ``k:<json>``
(a list element by its key fields), ``v:<json>`` (a set element by value), ``i:<n>``
(a list element by index), and ``.`` (the node itself). :func:`owned_leaf_paths`
returns the leaf paths a manager owns, which ignoreDifferences' managedFieldsManagers
rule excludes from comparison. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.diff.errors import FieldsV1Error


@dataclass(frozen=True, slots=True)
class Step:
    """One path element: kind is ``f`` (field), ``k`` (keyed element), ``v`` (set value)
    or ``i`` (index); ``value`` is the field name, key dict, value or index."""

    kind: str
    value: Any

    def __hash__(self) -> int:
        return hash((self.kind, json.dumps(self.value, sort_keys=True)))


Path = tuple[Step, ...]


def parse_step(text: str) -> Step:
    """Parse one fieldsV1 key such as ``f:spec`` or ``k:{"name":"app"}``."""
    prefix, sep, rest = text.partition(":")
    if not sep or prefix not in ("f", "k", "v", "i"):
        raise FieldsV1Error(f"bad fieldsV1 path element {text!r}")
    if prefix == "f":
        return Step("f", rest)
    if prefix == "i":
        try:
            return Step("i", int(rest))
        except ValueError as exc:
            raise FieldsV1Error(f"bad fieldsV1 index {text!r}") from exc
    try:
        value = json.loads(rest)
    except json.JSONDecodeError as exc:
        raise FieldsV1Error(f"bad fieldsV1 JSON in {text!r}") from exc
    if prefix == "k" and not isinstance(value, dict):
        raise FieldsV1Error(f"fieldsV1 key {text!r} is not a JSON object")
    return Step(prefix, value)


def leaf_paths(fields: Mapping[str, Any]) -> list[Path]:
    """Leaf paths of one fieldsV1 tree: nodes with no children besides ``.``."""
    out: list[Path] = []
    _walk(fields, (), out)
    return out


def _walk(node: Mapping[str, Any], prefix: Path, out: list[Path]) -> None:
    if not isinstance(node, Mapping):
        raise FieldsV1Error("fieldsV1 node is not a JSON object")
    for key, child in node.items():
        if key == ".":
            continue
        path = (*prefix, parse_step(key))
        children = [k for k in (child or {}) if k != "."]
        if children:
            _walk(child, path, out)
        else:
            out.append(path)


def owned_leaf_paths(managed_fields: Iterable[Any], managers: Iterable[str]) -> list[Path]:
    """Leaf paths owned by any of ``managers`` in an object's ``metadata.managedFields``."""
    wanted = set(managers)
    paths: list[Path] = []
    for entry in managed_fields:
        if not isinstance(entry, Mapping) or entry.get("manager") not in wanted:
            continue
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            continue
        fields = entry.get("fieldsV1") or {}
        paths.extend(leaf_paths(fields))
    return paths
