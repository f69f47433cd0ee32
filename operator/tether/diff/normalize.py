"""Normalization: what counts as a real difference once the patch is known.

Two jobs, both pure:

* :func:`apply_ignore_rules` pins ignored fields (ignoreDifferences JSON pointers and
  fields owned by listed managedFields managers) before the three-way merge: the
  desired value becomes the live value and last-applied forgets the field, so the patch
  never touches it.
* :func:`effective_patch` strips noise from a computed patch without changing what
  gets sent: values the server would canonicalize (quantities such as ``1000m`` vs
  ``1``, int-or-string spellings), empty or null values for fields live does not have,
  Secret ``stringData`` that already matches ``data``, the last-applied annotation,
  ``$setElementOrder`` / ``$retainKeys`` directives that would not change anything.
  The object is in sync exactly when nothing remains.

Fields absent from both desired and last-applied are never looked at: the three-way
merge already leaves them alone, so server-populated fields need no stripping here.
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.diff.errors import IgnoreRuleError
from tether.diff.fieldsv1 import Path, Step, owned_leaf_paths
from tether.diff.jsonvalue import JSON, JSONObject, deep_copy, is_empty, type_class
from tether.diff.lastapplied import LAST_APPLIED
from tether.diff.patchmeta import MERGE, REPLACE, FieldMeta, SchemaNode
from tether.diff.quantity import same_quantity
from tether.diff.smp import (
    DELETE,
    DELETE_FROM_PRIMITIVE_LIST,
    DIRECTIVE,
    RETAIN_KEYS_DIRECTIVE,
    SET_ELEMENT_ORDER,
)

_QUANTITY_MAPS = frozenset({"hard", "used", "capacity", "allocatable", "overhead"})
_RESOURCE_MAPS = frozenset({"limits", "requests"})
_LIMIT_RANGE_MAPS = frozenset({"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"})
_INT_OR_STRING = frozenset(
    {"targetPort", "port", "maxSurge", "maxUnavailable", "minAvailable", "partition"}
)


# ------------------------------------------------------------------ ignore rules


@dataclass(frozen=True)
class IgnoreRule:
    """One ignoreDifferences entry.

    ``group`` and ``kind`` are globs (``""`` is the core group, ``*`` any); empty
    ``name`` / ``namespace`` match any object. ``json_pointers`` are RFC 6901 pointers
    resolved against the live object; ``managed_fields_managers`` names field managers
    whose fields (per live ``metadata.managedFields``) are ignored.
    """

    group: str = "*"
    kind: str = "*"
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pointer in self.json_pointers:
            parse_pointer(pointer)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the rule selects ``obj`` (by group, kind, name and namespace)."""
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rpartition("/")[0]
        metadata = obj.get("metadata") or {}
        return (
            fnmatch.fnmatchcase(group, self.group)
            and fnmatch.fnmatchcase(str(obj.get("kind", "")), self.kind)
            and (not self.name or metadata.get("name") == self.name)
            and (not self.namespace or metadata.get("namespace") == self.namespace)
        )


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """RFC 6901 tokens of a JSON pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise IgnoreRuleError(f"JSON pointer {pointer!r} must start with '/'")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def apply_ignore_rules(
    rules: Sequence[IgnoreRule],
    modified: JSONObject,
    original: JSONObject | None,
    current: Mapping[str, Any],
    schema: SchemaNode,
) -> tuple[JSONObject, JSONObject | None]:
    """Pin every ignored field: desired takes the live value, last-applied drops it."""
    paths: list[Path] = []
    for rule in rules:
        paths.extend(_pointer_path(parse_pointer(p), current, schema) for p in rule.json_pointers)
        if rule.managed_fields_managers:
            managed = (current.get("metadata") or {}).get("managedFields") or []
            paths.extend(
                p
                for p in owned_leaf_paths(managed, rule.managed_fields_managers)
                if not _is_merge_key_leaf(p)
            )
    for path in paths:
        if not path:
            continue
        found, value = get_path(current, path)
        modified = (
            set_path(modified, path, value, current) if found else remove_path(modified, path)
        )
        if original is not None:
            original = remove_path(original, path)
    return modified, original


def _is_merge_key_leaf(path: Path) -> bool:
    return (
        len(path) >= 2
        and path[-1].kind == "f"
        and path[-2].kind == "k"
        and path[-1].value in path[-2].value
    )


def _pointer_path(tokens: tuple[str, ...], current: JSON, schema: SchemaNode) -> Path:
    steps: list[Step] = []
    node, meta, value = schema, FieldMeta(), current
    for token in tokens:
        if isinstance(value, list):
            if not token.isdigit():
                raise IgnoreRuleError(f"JSON pointer token {token!r} is not a list index")
            index = int(token)
            item = value[index] if index < len(value) else None
            if meta.merge_key and isinstance(item, dict) and meta.merge_key in item:
                steps.append(Step("k", {meta.merge_key: item[meta.merge_key]}))
            else:
                steps.append(Step("i", index))
            value = item
        else:
            steps.append(Step("f", token))
            meta, node = node.field(token)
            value = value.get(token) if isinstance(value, dict) else None
    return tuple(steps)


def _locate(values: list[JSON], step: Step) -> int | None:
    if step.kind == "i":
        return step.value if 0 <= step.value < len(values) else None
    for i, item in enumerate(values):
        if step.kind == "v" and item == step.value:
            return i
        if (
            step.kind == "k"
            and isinstance(item, dict)
            and all(item.get(k) == v for k, v in step.value.items())
        ):
            return i
    return None


def get_path(obj: JSON, path: Path) -> tuple[bool, JSON]:
    """The value at ``path`` in ``obj``, and whether it exists."""
    for step in path:
        if step.kind == "f":
            if not isinstance(obj, dict) or step.value not in obj:
                return False, None
            obj = obj[step.value]
        else:
            if not isinstance(obj, list):
                return False, None
            index = _locate(obj, step)
            if index is None:
                return False, None
            obj = obj[index]
    return True, obj


def remove_path(obj: JSON, path: Path) -> Any:
    """Copy-on-write removal of ``path`` (``obj`` itself when nothing is there)."""
    step, rest = path[0], path[1:]
    if step.kind == "f":
        if not isinstance(obj, dict) or step.value not in obj:
            return obj
        out = dict(obj)
        if rest:
            child = remove_path(obj[step.value], rest)
            if child is obj[step.value]:
                return obj
            out[step.value] = child
        else:
            del out[step.value]
        return out
    if not isinstance(obj, list):
        return obj
    index = _locate(obj, step)
    if index is None:
        return obj
    items = list(obj)
    if rest:
        child = remove_path(obj[index], rest)
        if child is obj[index]:
            return obj
        items[index] = child
    else:
        del items[index]
    return items


def set_path(obj: JSON, path: Path, value: JSON, current: JSON) -> Any:
    """Copy-on-write: put ``value`` at ``path`` without creating missing parents.

    A missing list element is inserted where it sits in ``current``, so pinning it
    does not reorder the list.
    """
    step, rest = path[0], path[1:]
    if step.kind == "f":
        if not isinstance(obj, dict):
            return obj
        out = dict(obj)
        if rest:
            if step.value not in obj:
                return obj
            sub_current = current.get(step.value) if isinstance(current, dict) else None
            out[step.value] = set_path(obj[step.value], rest, value, sub_current)
        else:
            out[step.value] = deep_copy(value)
        return out
    if not isinstance(obj, list):
        return obj
    index = _locate(obj, step)
    items = list(obj)
    if index is None:
        if rest or step.kind == "i":
            return obj
        items.insert(_insert_position(items, step, current), deep_copy(value))
        return items
    sub_current = None
    if isinstance(current, list):
        cur_index = _locate(current, step)
        sub_current = current[cur_index] if cur_index is not None else None
    items[index] = set_path(obj[index], rest, value, sub_current) if rest else deep_copy(value)
    return items


def _insert_position(items: list[JSON], step: Step, current: JSON) -> int:
    if not isinstance(current, list):
        return len(items)
    target = _locate(current, step)
    if target is None:
        return len(items)
    for i, item in enumerate(items):
        try:
            where = current.index(item)
        except ValueError:
            continue
        if where > target:
            return i
    return len(items)


# ---------------------------------------------------------------- patch noise


def effective_patch(
    patch: Mapping[str, Any],
    current: Mapping[str, Any],
    schema: SchemaNode,
    *,
    strategic: bool,
    secret: bool,
) -> JSONObject:
    """The part of ``patch`` that would really change ``current`` (empty = in sync)."""
    top = dict(patch)
    metadata = top.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if "creationTimestamp" in metadata and metadata["creationTimestamp"] is None:
            del metadata["creationTimestamp"]
        top["metadata"] = metadata
    if strategic:
        top.pop("status", None)
    if secret:
        top = _reduce_string_data(top, current)
    return _reduce_map(top, current, schema, ())


def _reduce_string_data(patch: JSONObject, current: Mapping[str, Any]) -> JSONObject:
    string_data = patch.get("stringData")
    if not isinstance(string_data, dict):
        return patch
    live_data = current.get("data") or {}
    raw_data = patch.get("data")
    patch_data: Mapping[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    remaining = {
        k: v
        for k, v in string_data.items()
        if v is not None
        and not (k not in patch_data and live_data.get(k) == encode_secret_value(v))
    }
    out = dict(patch)
    if remaining:
        out["stringData"] = remaining
    else:
        del out["stringData"]
    return out


def encode_secret_value(value: JSON) -> str:
    """The base64 ``data`` value the API server stores for a ``stringData`` value."""
    return base64.b64encode(str(value).encode("utf-8")).decode("ascii")


def normalize_secret(obj: Mapping[str, Any]) -> JSONObject:
    """Merge ``stringData`` into base64 ``data`` as the API server does."""
    out = dict(obj)
    string_data = out.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(out.get("data") or {})
        data.update({k: encode_secret_value(v) for k, v in string_data.items() if v is not None})
        out["data"] = data
    return out


def _reduce_map(
    patch: Mapping[str, Any], current: JSON, schema: SchemaNode, path: tuple[str, ...]
) -> JSONObject:
    cur: Mapping[str, Any] = current if isinstance(current, dict) else {}
    out: JSONObject = {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        meta, sub = schema.field(key)
        reduced = _reduce_value(key, value, key in cur, cur.get(key), meta, sub, path)
        if reduced is not _DROP:
            out[key] = reduced
    for key, value in patch.items():
        if key.startswith("$") and _directive_matters(key, value, out, cur, schema):
            out[key] = value
    return out


_DROP: Any = object()


def _reduce_value(
    key: str,
    value: JSON,
    has: bool,
    live: JSON,
    meta: FieldMeta,
    schema: SchemaNode,
    path: tuple[str, ...],
) -> Any:
    if value is None:
        return None if has and live is not None else _DROP
    if isinstance(value, dict):
        if not value:
            mergeable = isinstance(live, dict) and meta.strategy != REPLACE
            return _DROP if not has or is_empty(live) or mergeable else value
        if DIRECTIVE in value:
            return value
        reduced = _reduce_map(value, live, schema, (*path, key))
        return reduced if reduced else _DROP
    if isinstance(value, list):
        if not value:
            return _DROP if not has or is_empty(live) else value
        if meta.strategy == MERGE and isinstance(live, list):
            return _reduce_merge_list(key, value, live, meta, schema, path)
        if isinstance(live, list) and _lists_equivalent(key, value, live, path):
            return _DROP
        return value
    if has and _scalars_equivalent(key, value, live, path):
        return _DROP
    return value


def _reduce_merge_list(
    key: str,
    value: list[JSON],
    live: list[JSON],
    meta: FieldMeta,
    schema: SchemaNode,
    path: tuple[str, ...],
) -> Any:
    merge_key = meta.merge_key
    if not merge_key:
        added = [v for v in value if not any(_same(v, x) for x in live)]
        return added if added else _DROP
    kept: list[JSON] = []
    for item in value:
        if not isinstance(item, dict) or merge_key not in item:
            kept.append(item)
            continue
        match = next(
            (x for x in live if isinstance(x, dict) and x.get(merge_key) == item[merge_key]),
            None,
        )
        if item.get(DIRECTIVE) == DELETE:
            if match is not None:
                kept.append(item)
            continue
        if match is None:
            kept.append(item)
            continue
        reduced = _reduce_map(item, match, schema, (*path, key))
        if set(reduced) - {merge_key}:
            kept.append(reduced)
    return kept if kept else _DROP


def _directive_matters(
    key: str, value: JSON, out: Mapping[str, Any], live: Mapping[str, Any], schema: SchemaNode
) -> bool:
    if key == RETAIN_KEYS_DIRECTIVE:
        # Alone, $retainKeys only clears fields live has and desired never set: those
        # are server defaults that come straight back, so it matters only next to a
        # real change in the same map (e.g. a volume source switched).
        return any(not k.startswith("$") for k in out)
    field = key.partition("/")[2]
    if key.startswith(SET_ELEMENT_ORDER):
        if field in out or f"{DELETE_FROM_PRIMITIVE_LIST}/{field}" in out:
            return True
        meta, _ = schema.field(field)
        return not _order_matches(value, live.get(field), meta.merge_key)
    if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
        present = live.get(field)
        return (
            isinstance(value, list)
            and isinstance(present, list)
            and any(any(_same(v, x) for x in present) for v in value)
        )
    return True


def _order_matches(order: JSON, live: JSON, merge_key: str) -> bool:
    if not isinstance(order, list) or not isinstance(live, list):
        return not order
    if merge_key:
        wanted = [o.get(merge_key) for o in order if isinstance(o, dict)]
        seen = [x.get(merge_key) for x in live if isinstance(x, dict)]
    else:
        wanted, seen = list(order), list(live)
    present = [w for w in wanted if w in seen]
    return [s for s in seen if s in present] == present


def _same(a: JSON, b: JSON) -> bool:
    return type_class(a) is type_class(b) and bool(a == b)


def _is_quantity_field(path: tuple[str, ...], key: str) -> bool:
    if key == "sizeLimit" or not path:
        return key == "sizeLimit"
    parent = path[-1]
    if parent in _RESOURCE_MAPS and len(path) >= 2 and path[-2] == "resources":
        return True
    if parent in _QUANTITY_MAPS:
        return True
    return parent in _LIMIT_RANGE_MAPS and "limits" in path


def _scalars_equivalent(key: str, value: JSON, live: JSON, path: tuple[str, ...]) -> bool:
    if _same(value, live):
        return True
    if _is_quantity_field(path, key):
        return same_quantity(value, live)
    if key in _INT_OR_STRING and not isinstance(value, bool) and not isinstance(live, bool):
        return (
            isinstance(value, int | str) and isinstance(live, int | str) and str(value) == str(live)
        )
    return False


def _lists_equivalent(key: str, value: list[JSON], live: list[JSON], path: tuple[str, ...]) -> bool:
    if len(value) != len(live):
        return False
    return all(_same(a, b) for a, b in zip(value, live, strict=True))
