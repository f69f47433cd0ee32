"""Strategic merge patch: kubectl's three-way patch and the server's patch apply.

A behaviour-for-behaviour port of ``k8s.io/apimachinery/pkg/util/strategicpatch``
(``CreateThreeWayMergePatch`` with overwrite, and ``StrategicMergeMapPatch``), so the
patches tether sends are the ones ``kubectl apply`` would send and the predicted object
is what the API server computes. Supports merge lists keyed by merge key, merge lists of
primitives (``$deleteFromPrimitiveList``), ``$patch: delete|replace``,
``$setElementOrder`` and ``$retainKeys``. Patch metadata comes from a
:class:`~tether.diff.patchmeta.SchemaNode`; fields it does not know are treated as
having no metadata instead of failing. Inputs are never mutated. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tether.diff.errors import MergeKeyMissingError, PatchError
from tether.diff.jsonvalue import JSON, JSONObject, deep_copy, go_format, type_class
from tether.diff.patchmeta import MERGE, REPLACE, SchemaNode

DIRECTIVE = "$patch"
DELETE = "delete"
RETAIN_KEYS_DIRECTIVE = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"


@dataclass(frozen=True, slots=True)
class _DiffOptions:
    set_element_order: bool = False
    ignore_changes_and_additions: bool = False
    ignore_deletions: bool = False
    build_retain_keys: bool = False


@dataclass(frozen=True, slots=True)
class _MergeOptions:
    merge_parallel_list: bool
    ignore_unmatched_nulls: bool


_DELTA = _DiffOptions(ignore_deletions=True, set_element_order=True)
_DELETIONS = _DiffOptions(set_element_order=True, ignore_changes_and_additions=True)
_THREE_WAY_MERGE = _MergeOptions(merge_parallel_list=False, ignore_unmatched_nulls=False)
_APPLY = _MergeOptions(merge_parallel_list=True, ignore_unmatched_nulls=True)


def three_way_strategic_patch(
    original: Mapping[str, Any] | None,
    modified: Mapping[str, Any],
    current: Mapping[str, Any],
    schema: SchemaNode,
) -> JSONObject:
    """kubectl's CreateThreeWayMergePatch (overwrite=true): the patch turning current
    into modified, deleting only fields that original (last-applied) had."""
    delta = _diff_maps(current, modified, schema, _DELTA)
    deletions = _diff_maps(original or {}, modified, schema, _DELETIONS)
    return _merge_map(deep_copy(deletions), deep_copy(delta), schema, _THREE_WAY_MERGE)


def two_way_strategic_patch(
    original: Mapping[str, Any], modified: Mapping[str, Any], schema: SchemaNode
) -> JSONObject:
    """CreateTwoWayMergePatch: the patch turning original into modified."""
    patch: JSONObject = deep_copy(
        _diff_maps(original, modified, schema, _DiffOptions(set_element_order=True))
    )
    return patch


def apply_strategic_patch(
    obj: Mapping[str, Any], patch: Mapping[str, Any], schema: SchemaNode
) -> JSONObject:
    """StrategicMergeMapPatch: apply ``patch`` to ``obj`` as the API server does."""
    if not isinstance(patch, Mapping):
        raise PatchError("strategic merge patch must be a JSON object")
    target: JSONObject = deep_copy(dict(obj))
    return _merge_map(target, deep_copy(dict(patch)), schema, _APPLY)


# --------------------------------------------------------------------------- diff


def _diff_maps(
    original: Mapping[str, Any], modified: Mapping[str, Any], schema: SchemaNode, opts: _DiffOptions
) -> JSONObject:
    patch: JSONObject = {}
    retain: list[JSON] = []
    for key, mod in modified.items():
        if opts.build_retain_keys and mod is not None:
            retain.append(key)
        if key not in original:
            if not opts.ignore_changes_and_additions:
                patch[key] = mod
            continue
        orig = original[key]
        if key == DIRECTIVE:
            if not isinstance(orig, str) or not isinstance(mod, str):
                raise PatchError(f"invalid value for special key: {DIRECTIVE}")
            if mod != orig:
                patch[key] = mod
            continue
        if type_class(orig) is not type_class(mod):
            if not opts.ignore_changes_and_additions:
                patch[key] = mod
            continue
        if isinstance(orig, dict):
            _handle_map_diff(key, orig, mod, patch, schema, opts)
        elif isinstance(orig, list):
            _handle_slice_diff(key, orig, mod, patch, schema, opts)
        elif not opts.ignore_changes_and_additions and orig != mod:
            patch[key] = mod
    if not opts.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    if retain and (patch or _has_additional_new_field(original, modified)):
        patch[RETAIN_KEYS_DIRECTIVE] = _sort_scalars(retain)
    return patch


def _handle_map_diff(
    key: str,
    orig: JSONObject,
    mod: JSONObject,
    patch: JSONObject,
    schema: SchemaNode,
    opts: _DiffOptions,
) -> None:
    meta, sub = schema.field(key)
    strategy = meta.strategy
    if strategy == REPLACE:
        if not opts.ignore_changes_and_additions:
            patch[key] = mod
        return
    value = _diff_maps(orig, mod, sub, replace(opts, build_retain_keys=meta.retain_keys))
    if value:
        patch[key] = value


def _handle_slice_diff(
    key: str,
    orig: list[JSON],
    mod: list[JSON],
    patch: JSONObject,
    schema: SchemaNode,
    opts: _DiffOptions,
) -> None:
    meta, sub = schema.field(key)
    if meta.strategy != MERGE:
        if not opts.ignore_changes_and_additions and orig != mod:
            patch[key] = mod
        return
    opts = replace(opts, build_retain_keys=meta.retain_keys)
    additions, deletions, order = _diff_lists(orig, mod, sub, meta.merge_key, opts)
    if additions:
        patch[key] = additions
    if deletions:
        patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = deletions
    if order:
        patch[f"{SET_ELEMENT_ORDER}/{key}"] = order


def _diff_lists(
    original: list[JSON],
    modified: list[JSON],
    schema: SchemaNode,
    merge_key: str,
    opts: _DiffOptions,
) -> tuple[list[JSON], list[JSON], list[JSON]]:
    if not original:
        if not modified or opts.ignore_changes_and_additions:
            return [], [], []
        return modified, [], []
    elem = _slice_element_type(original, modified)
    if elem is dict:
        patch_list, delete_list = _diff_lists_of_maps(original, modified, schema, merge_key, opts)
        patch_list = _normalize_slice_order(patch_list, modified, merge_key, dict)
        order_same = _is_order_same(original, modified, merge_key)
        patch_list = patch_list + delete_list
        order: list[JSON] = []
        if opts.set_element_order and (
            (not opts.ignore_changes_and_additions and (patch_list or not order_same))
            or (not opts.ignore_deletions and patch_list)
        ):
            order = [{merge_key: item[merge_key]} for item in modified]
        return patch_list, [], order
    if elem is list:
        raise PatchError("lists of lists are not supported")
    additions, deletions = _diff_lists_of_scalars(original, modified, opts)
    additions = _normalize_slice_order(additions, modified, merge_key, elem or str)
    order = []
    # Go sorts `original` in place before this comparison, so an unchanged but
    # unsorted list still yields a $setElementOrder directive; kubectl relies on it.
    if opts.set_element_order and (
        (not opts.ignore_deletions and deletions)
        or (not opts.ignore_changes_and_additions and _sort_scalars(original) != modified)
    ):
        order = modified
    return additions, deletions, order


def _is_order_same(original: list[JSON], modified: list[JSON], merge_key: str) -> bool:
    if len(original) != len(modified):
        return False
    return all(
        _merge_key_value_equal(o, m, merge_key) for o, m in zip(original, modified, strict=True)
    )


def _diff_lists_of_scalars(
    original: list[JSON], modified: list[JSON], opts: _DiffOptions
) -> tuple[list[JSON], list[JSON]]:
    orig_sorted = _sort_scalars(original)
    mod_sorted = _sort_scalars(modified)
    oi = mi = 0
    additions: list[JSON] = []
    deletions: list[JSON] = []
    while oi < len(orig_sorted) or mi < len(mod_sorted):
        o_in, m_in = oi < len(orig_sorted), mi < len(mod_sorted)
        o_str = go_format(orig_sorted[oi]) if o_in else ""
        m_str = go_format(mod_sorted[mi]) if m_in else ""
        if o_in and m_in and o_str == m_str:
            oi += 1
            mi += 1
        elif not o_in or (m_in and o_str > m_str):
            if not opts.ignore_changes_and_additions:
                additions.append(mod_sorted[mi])
            mi += 1
        else:
            if not opts.ignore_deletions:
                deletions.append(orig_sorted[oi])
            oi += 1
    return additions, _deduplicate_scalars(deletions)


def _diff_lists_of_maps(
    original: list[JSON],
    modified: list[JSON],
    schema: SchemaNode,
    merge_key: str,
    opts: _DiffOptions,
) -> tuple[list[JSON], list[JSON]]:
    patch: list[JSON] = []
    deletions: list[JSON] = []
    orig_sorted = _sort_maps_by_key(original, merge_key)
    mod_sorted = _sort_maps_by_key(modified, merge_key)
    oi = mi = 0
    while oi < len(orig_sorted) or mi < len(mod_sorted):
        o_in, m_in = oi < len(orig_sorted), mi < len(mod_sorted)
        o_str = m_str = ""
        o_elem: JSONObject = {}
        m_elem: JSONObject = {}
        o_key: JSON = None
        m_key: JSON = None
        if o_in:
            o_elem, o_key = _map_and_merge_key(orig_sorted[oi], merge_key)
            o_str = go_format(o_key)
        if m_in:
            m_elem, m_key = _map_and_merge_key(mod_sorted[mi], merge_key)
            m_str = go_format(m_key)
        if o_in and m_in and o_str == m_str:
            value = _diff_maps(o_elem, m_elem, schema, opts)
            if value:
                value[merge_key] = m_key
                patch.append(value)
            oi += 1
            mi += 1
        elif not o_in or (m_in and o_str > m_str):
            if not opts.ignore_changes_and_additions:
                patch.append(m_elem)
            mi += 1
        else:
            if not opts.ignore_deletions:
                deletions.append({merge_key: o_key, DIRECTIVE: DELETE})
            oi += 1
    return patch, deletions


def _map_and_merge_key(item: JSON, merge_key: str) -> tuple[JSONObject, JSON]:
    if not isinstance(item, dict):
        raise PatchError(f"expected a map in a merge list, got {type(item).__name__}")
    if merge_key not in item:
        raise MergeKeyMissingError(f"list element does not contain declared merge key: {merge_key}")
    return item, item[merge_key]


def _has_additional_new_field(original: Mapping[str, Any], modified: Mapping[str, Any]) -> bool:
    return any(v is not None and k not in modified for k, v in original.items())


# -------------------------------------------------------------------- ordering


def _sort_scalars(values: list[JSON]) -> list[JSON]:
    return sorted(values, key=go_format)


def _sort_maps_by_key(values: list[JSON], merge_key: str) -> list[JSON]:
    for item in values:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map in a merge list, got {type(item).__name__}")
    return sorted(values, key=lambda item: go_format(item.get(merge_key)))


def _deduplicate_scalars(values: list[JSON]) -> list[JSON]:
    """Go's in-place de-duplication, which moves the last element into each hole."""
    s = list(values)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if s[i] == s[j] and type_class(s[i]) is type_class(s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _index(values: list[JSON], item: JSON, merge_key: str, kind: type) -> int:
    if kind is dict:
        wanted = item.get(merge_key) if isinstance(item, dict) else None
        for i, v in enumerate(values):
            got = v.get(merge_key) if isinstance(v, dict) else None
            if got == wanted:
                return i
        return -1
    for i, v in enumerate(values):
        if v == item:
            return i
    return -1


def _stable_sort(data: list[JSON], less: Callable[[JSON, JSON], bool]) -> None:
    """Go's sort.SliceStable (insertion blocks + SymMerge), exact even for odd `less`."""

    def lt(i: int, j: int) -> bool:
        return less(data[i], data[j])

    def swap(i: int, j: int) -> None:
        data[i], data[j] = data[j], data[i]

    def insertion(a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and lt(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def swap_range(a: int, b: int, n: int) -> None:
        for i in range(n):
            swap(a + i, b + i)

    def rotate(a: int, m: int, b: int) -> None:
        i, j = m - a, b - m
        while i != j:
            if i > j:
                swap_range(m - i, m, j)
                i -= j
            else:
                swap_range(m - i, m + j - i, i)
                j -= i
        swap_range(m - i, m, i)

    def sym_merge(a: int, m: int, b: int) -> None:
        if m - a == 1:
            i, j = m, b
            while i < j:
                h = (i + j) >> 1
                if lt(h, a):
                    i = h + 1
                else:
                    j = h
            for k in range(a, i - 1):
                swap(k, k + 1)
            return
        if b - m == 1:
            i, j = a, m
            while i < j:
                h = (i + j) >> 1
                if not lt(m, h):
                    i = h + 1
                else:
                    j = h
            for k in range(m, i, -1):
                swap(k, k - 1)
            return
        mid = (a + b) >> 1
        n = mid + m
        if m > mid:
            start, r = n - b, mid
        else:
            start, r = a, m
        p = n - 1
        while start < r:
            c = (start + r) >> 1
            if not lt(p - c, c):
                start = c + 1
            else:
                r = c
        end = n - start
        if start < m < end:
            rotate(start, m, end)
        if a < start < mid:
            sym_merge(a, start, mid)
        if mid < end < b:
            sym_merge(mid, end, b)

    n = len(data)
    block = 20
    a, b = 0, block
    while b <= n:
        insertion(a, b)
        a, b = b, b + block
    insertion(a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            sym_merge(a, a + block, b)
            a, b = b, b + 2 * block
        if a + block < n:
            sym_merge(a, a + block, n)
        block *= 2


def _normalize_slice_order(
    to_sort: list[JSON], order: list[JSON], merge_key: str, kind: type
) -> list[JSON]:
    to_delete: list[JSON] = []
    items = list(to_sort)
    if kind is dict:
        _validate_merge_key_in_lists(merge_key, items, order)
        items, to_delete = _extract_to_delete_items(items)

    def less(x: JSON, y: JSON) -> bool:
        ix = _index(order, x, merge_key, kind)
        if ix >= 0:
            iy = _index(order, y, merge_key, kind)
            if iy >= 0:
                return ix < iy
        return True

    if len(items) > 1:
        _stable_sort(items, less)
    return items + to_delete


def _validate_merge_key_in_lists(merge_key: str, *lists: list[JSON]) -> None:
    for values in lists:
        for item in values:
            if not isinstance(item, dict):
                raise PatchError(f"expected a map in a merge list, got {type(item).__name__}")
            if merge_key not in item:
                raise MergeKeyMissingError(
                    f"list element does not contain declared merge key: {merge_key}"
                )


def _extract_to_delete_items(values: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    keep: list[JSON] = []
    delete: list[JSON] = []
    for item in values:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map in a merge list, got {type(item).__name__}")
        (delete if item.get(DIRECTIVE) == DELETE else keep).append(item)
    return keep, delete


def _merge_sorted_slice(
    left: list[JSON], right: list[JSON], server_order: list[JSON], merge_key: str, kind: type
) -> list[JSON]:
    out: list[JSON] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(
    patch: list[JSON],
    server_only: list[JSON],
    patch_order: list[JSON],
    server_order: list[JSON],
    merge_key: str,
    kind: type,
) -> list[JSON]:
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted_slice(server_only, patch, server_order, merge_key, kind)


def _slice_element_type(*lists: list[JSON]) -> type | None:
    found: type | None = None
    for values in lists:
        for item in values:
            cls = type_class(item)
            if found is None:
                if cls is list:
                    raise PatchError("lists of lists are not supported")
                found = cls
            elif cls is not found:
                raise PatchError("list element types are not identical")
    return found


# ----------------------------------------------------------------------- merge


def _merge_map(
    original: JSONObject | None, patch: JSONObject, schema: SchemaNode, opts: _MergeOptions
) -> JSONObject:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE:
            del patch[DIRECTIVE]
            return patch
        if directive == DELETE:
            return {}
        raise PatchError(f"unknown patch type {directive!r} in a map")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch, opts)
    _merge_set_element_order(original, patch, schema, opts)
    for key in list(patch):
        value = patch[key]
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            if not opts.merge_parallel_list:
                original[key] = value
                continue
            key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST)
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            if opts.ignore_unmatched_nulls:
                continue
        if key not in original or type_class(original[key]) is not type_class(value):
            if not is_delete_list:
                _set_without_directives(original, key, value, opts)
            continue
        current = original[key]
        if isinstance(current, dict):
            meta, sub = schema.field(key)
            if meta.strategy == REPLACE:
                original[key] = value
            else:
                original[key] = _merge_map(current, value, sub, opts)
        elif isinstance(current, list):
            meta, sub = schema.field(key)
            original[key] = _merge_slice_handler(
                current, value, sub, meta.strategy, meta.merge_key, is_delete_list, opts
            )
        else:
            _set_without_directives(original, key, value, opts)
    return original


def _set_without_directives(target: JSONObject, key: str, value: JSON, opts: _MergeOptions) -> None:
    if opts.ignore_unmatched_nulls:
        value = _discard_nulls(value)
    cleaned, keep = _remove_directives(value)
    if keep:
        target[key] = cleaned
    else:
        target.pop(key, None)


def _discard_nulls(value: JSON) -> JSON:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _remove_directives(value: JSON) -> tuple[JSON, bool]:
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out: JSONObject = {}
        for k, v in value.items():
            cleaned, keep = _remove_directives(v)
            if keep:
                out[k] = cleaned
        return out, True
    if isinstance(value, list):
        kept: list[JSON] = []
        for v in value:
            cleaned, keep = _remove_directives(v)
            if keep:
                kept.append(cleaned)
        return kept, True
    return value, True


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(f"bad directive key {key!r}: expected {prefix}/<field>")
    return rest


def _apply_retain_keys(original: JSONObject, patch: JSONObject, opts: _MergeOptions) -> None:
    if RETAIN_KEYS_DIRECTIVE not in patch:
        return
    retain = patch.pop(RETAIN_KEYS_DIRECTIVE)
    if not opts.merge_parallel_list:
        if RETAIN_KEYS_DIRECTIVE in original:
            if original[RETAIN_KEYS_DIRECTIVE] != retain:
                raise PatchError("conflicting $retainKeys directives in a three-way patch")
        else:
            original[RETAIN_KEYS_DIRECTIVE] = retain
        return
    if not isinstance(retain, list):
        raise PatchError("$retainKeys must be a list of field names")
    keep = set(retain)
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if k not in keep:
            raise PatchError(f"field {k!r} is in the patch but not in its $retainKeys list")
    for k in list(original):
        if k not in keep:
            del original[k]


def _merge_set_element_order(
    original: JSONObject, patch: JSONObject, schema: SchemaNode, opts: _MergeOptions
) -> None:
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not opts.merge_parallel_list:
            if key in original:
                if original[key] != order:
                    raise PatchError(f"conflicting {key} directives in a three-way patch")
            else:
                original[key] = order
        if not isinstance(order, list):
            raise PatchError(f"{key} must be a list")
        field_key = _extract_key(key, SET_ELEMENT_ORDER)
        found_orig, found_patch = field_key in original, field_key in patch
        orig_list = original.get(field_key) if found_orig else []
        patch_list = patch.get(field_key) if found_patch else []
        if not isinstance(orig_list, list) or not isinstance(patch_list, list):
            raise PatchError(f"{field_key} must be a list next to {key}")
        meta, sub = schema.field(field_key)
        merge_key = meta.merge_key
        _validate_patch_with_set_order(patch_list, order, merge_key)
        if found_orig and not found_patch:
            merged = orig_list
        elif found_patch and not found_orig:
            cleaned, keep = _remove_directives(patch_list)
            if not keep:
                continue
            merged = cleaned
        elif found_orig and found_patch:
            merged = _merge_slice_handler(
                orig_list, patch_list, sub, meta.strategy, merge_key, False, opts
            )
        else:
            continue
        kind = _slice_element_type(orig_list, patch_list)
        if kind is None:
            original[field_key] = merged
            patch.pop(field_key, None)
            continue
        if merge_key:
            items, server_only = _partition_maps(merged, order, merge_key)
        else:
            items, server_only = _partition_primitives(merged, order)
        server_order = orig_list
        if opts.merge_parallel_list and found_orig and found_patch and kind is dict:
            server_order = _go_aliased_order(orig_list, patch_list, merge_key)
        original[field_key] = _normalize_element_order(
            items, server_only, order, server_order, merge_key, kind
        )
        patch.pop(field_key, None)


def _go_aliased_order(original: list[JSON], patch: list[JSON], merge_key: str) -> list[JSON]:
    """The live list as Go still sees it after merging ``patch`` into it.

    Go deletes and appends in place on the list's backing array (capacity: the next
    power of two, as its JSON decoder grows slices), and the server then orders the
    result by that mutated view. Mirroring it keeps predictions identical.
    """
    size = len(original)
    capacity = 1 << (size - 1).bit_length() if size else 0
    backing: list[JSON] = [*original, *([None] * (capacity - size))]
    length = size
    plain: list[JSON] = []
    for item in patch:
        if not isinstance(item, dict) or DIRECTIVE not in item:
            plain.append(item)
        elif item[DIRECTIVE] == REPLACE:
            return backing[:size]
        elif item[DIRECTIVE] == DELETE:
            value = item.get(merge_key)
            k = 0
            while k < length:
                entry = backing[k]
                if isinstance(entry, dict) and merge_key in entry and entry[merge_key] == value:
                    backing[k : length - 1] = backing[k + 1 : length]
                    length -= 1
                else:
                    k += 1
    for item in plain:
        value = item.get(merge_key) if isinstance(item, dict) else None
        if any(isinstance(e, dict) and e.get(merge_key) == value for e in backing[:length]):
            continue
        if length >= capacity:
            break
        backing[length] = item
        length += 1
    return backing[:size]


def _validate_patch_with_set_order(
    patch_list: list[JSON], order: list[JSON], merge_key: str
) -> None:
    if not order or not patch_list:
        return
    items = _extract_to_delete_items(patch_list)[0] if merge_key else patch_list
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if isinstance(items[pi], dict) and DIRECTIVE in items[pi]:
            pi += 1
            continue
        if _merge_key_value_equal(items[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise PatchError("the order of the patch list does not match its $setElementOrder list")


def _merge_key_value_equal(left: JSON, right: JSON, merge_key: str) -> bool:
    if not merge_key:
        return bool(left == right)
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise PatchError("expected maps in a merge list")
    if merge_key not in left or merge_key not in right:
        raise MergeKeyMissingError(f"list element does not contain declared merge key: {merge_key}")
    return bool(left[merge_key] == right[merge_key])


def _partition_primitives(
    merged: list[JSON], partition_by: list[JSON]
) -> tuple[list[JSON], list[JSON]]:
    present = set(v for v in partition_by if not isinstance(v, dict | list))
    items = [v for v in merged if not isinstance(v, dict | list) and v in present]
    server_only = [v for v in merged if isinstance(v, dict | list) or v not in present]
    return items, server_only


def _partition_maps(
    merged: list[JSON], partition_by: list[JSON], merge_key: str
) -> tuple[list[JSON], list[JSON]]:
    items: list[JSON] = []
    server_only: list[JSON] = []
    for v in merged:
        _, key = _map_and_merge_key(v, merge_key)
        found = any(isinstance(p, dict) and p.get(merge_key) == key for p in partition_by)
        (items if found else server_only).append(v)
    return items, server_only


def _merge_slice_handler(
    original: JSON,
    patch: JSON,
    schema: SchemaNode,
    strategy: str,
    merge_key: str,
    is_delete_list: bool,
    opts: _MergeOptions,
) -> list[JSON]:
    if not isinstance(original, list) or not isinstance(patch, list):
        raise PatchError("expected lists to merge")
    if strategy == MERGE or is_delete_list:
        return _merge_slice(original, patch, schema, merge_key, opts, is_delete_list)
    return patch


def _merge_slice(
    original: list[JSON],
    patch: list[JSON],
    schema: SchemaNode,
    merge_key: str,
    opts: _MergeOptions,
    is_delete_list: bool,
) -> list[JSON]:
    if not original and not patch:
        return original
    kind = _slice_element_type(original, patch)
    assert kind is not None
    if kind is not dict:
        if opts.merge_parallel_list and is_delete_list:
            return [v for v in original if v not in patch]
        merged = _deduplicate_scalars(original + patch)
    else:
        if not merge_key:
            raise PatchError("cannot merge lists of maps without a merge key")
        original, patch = _merge_slice_with_special_elements(original, patch, merge_key)
        merged = _merge_slice_without_special_elements(original, patch, merge_key, schema, opts)
    if merge_key:
        items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        items, server_only = _partition_primitives(merged, patch)
    return _normalize_element_order(items, server_only, patch, original, merge_key, kind)


def _merge_slice_with_special_elements(
    original: list[JSON], patch: list[JSON], merge_key: str
) -> tuple[list[JSON], list[JSON]]:
    plain: list[JSON] = []
    replace_all = False
    original = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError("expected a map in a merge list")
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in item:
                raise MergeKeyMissingError(
                    f"delete directive does not contain declared merge key: {merge_key}"
                )
            value = item[merge_key]
            original = [
                o for o in original if not (isinstance(o, dict) and o.get(merge_key) == value)
            ]
        elif directive == REPLACE:
            replace_all = True
        elif directive == MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type {directive!r} in a list")
    if replace_all:
        return plain, []
    return original, plain


def _merge_slice_without_special_elements(
    original: list[JSON],
    patch: list[JSON],
    merge_key: str,
    schema: SchemaNode,
    opts: _MergeOptions,
) -> list[JSON]:
    original = list(original)
    for item in patch:
        _, value = _map_and_merge_key(item, merge_key)
        for i, o in enumerate(original):
            if isinstance(o, dict) and merge_key in o and o[merge_key] == value:
                original[i] = _merge_map(o, item, schema, opts)
                break
        else:
            original.append(item)
    return original
