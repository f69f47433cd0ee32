"""JSON merge patch (RFC 7386): create, apply, and kubectl's three-way variant.

Used for custom resources and kinds without strategic-merge metadata. The three-way
patch follows kubectl's ``CreateThreeWayJSONMergePatch``: additions and changes come
from current->modified, deletions from original->modified, and apiVersion, kind and
metadata.name must not change. The apply mirrors the API server (evanphx/json-patch),
which also drops nulls nested in newly added values. Inputs are never mutated. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.diff.errors import ConflictError, PatchError, PreconditionFailedError
from tether.diff.jsonvalue import JSON, JSONObject, deep_copy, type_class


def create_merge_patch(original: Mapping[str, Any], modified: Mapping[str, Any]) -> JSONObject:
    """The merge patch turning ``original`` into ``modified`` (deleted keys become null)."""
    into: JSONObject = {}
    for key, mod in modified.items():
        if key not in original:
            into[key] = mod
            continue
        orig = original[key]
        if type_class(orig) is not type_class(mod):
            into[key] = mod
        elif isinstance(orig, dict):
            sub = create_merge_patch(orig, mod)
            if sub:
                into[key] = sub
        elif orig != mod:
            into[key] = mod
    for key in original:
        if key not in modified:
            into[key] = None
    return into


def apply_merge_patch(obj: JSON, patch: JSON) -> JSON:
    """Apply a merge patch the way the API server does; returns a new value."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    target: JSONObject = deep_copy(obj) if isinstance(obj, dict) else {}
    _merge_docs(target, deep_copy(patch))
    return target


def three_way_json_merge_patch(
    original: Mapping[str, Any] | None,
    modified: Mapping[str, Any],
    current: Mapping[str, Any],
) -> JSONObject:
    """kubectl's CreateThreeWayJSONMergePatch with apply's preconditions."""
    additions = _filter_nulls(create_merge_patch(current, modified), keep_null=False)
    deletions = _filter_nulls(create_merge_patch(original or {}, modified), keep_null=True)
    if _has_conflicts(additions, deletions):
        raise ConflictError("additions and deletions of the three-way merge patch conflict")
    patch: JSONObject = deep_copy(deletions)
    _merge_docs(patch, deep_copy(additions))
    _check_preconditions(patch)
    return patch


def _check_preconditions(patch: JSONObject) -> None:
    for key in ("apiVersion", "kind"):
        if key in patch:
            raise PreconditionFailedError(f"the patch would change {key}")
    metadata = patch.get("metadata")
    if isinstance(metadata, dict) and "name" in metadata:
        raise PreconditionFailedError("the patch would change metadata.name")


def _filter_nulls(patch: JSONObject, keep_null: bool) -> JSONObject:
    """kubectl's keepOrDeleteNullInObj: keep only nulls, or drop them."""
    out: JSONObject = {}
    for key, value in patch.items():
        if value is None:
            if keep_null:
                out[key] = None
        elif isinstance(value, dict):
            if not value:
                if not keep_null:
                    out[key] = value
                continue
            sub = _filter_nulls(value, keep_null)
            if sub:
                out[key] = sub
        elif not keep_null:
            out[key] = value
    return out


def _has_conflicts(left: JSON, right: JSON) -> bool:
    if isinstance(left, dict):
        if not isinstance(right, dict):
            return True
        return any(k in right and _has_conflicts(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return True
        return any(_has_conflicts(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, str | int | float | bool) or left is None:
        return bool(type_class(left) is not type_class(right) or left != right)
    raise PatchError(f"unknown JSON type {type(left).__name__}")


def _merge_docs(doc: JSONObject, patch: JSONObject) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
            continue
        current = doc.get(key)
        if current is None:
            doc[key] = _prune_nulls(value)
        elif isinstance(current, dict):
            if isinstance(value, dict):
                _merge_docs(current, value)
            else:
                doc[key] = value
        else:
            doc[key] = _prune_nulls(value)


def _prune_nulls(value: JSON) -> JSON:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value
