"""Helpers for plain JSON-like values (dict / list / str / int / float / bool / None).

The diff package works on the objects exactly as decoded from JSON or YAML. These
helpers give the few operations Go's ``interface{}`` code relies on: type classes
(Go decodes every number as float64), deep copy, and Go's ``%v`` formatting used for
sorting lists. No I/O.
"""

from __future__ import annotations

import json
from typing import Any

JSON = Any
"""Any JSON value; kept as ``Any`` because JSON trees are recursive and heterogenous."""

JSONObject = dict[str, Any]


class _Null:
    """Type class of JSON null."""


class _Number:
    """Type class of JSON numbers: ints and floats compare as one type, like Go's float64."""


def type_class(value: JSON) -> type:
    """Return the Go-equivalent type of ``value`` (numbers share one class)."""
    if value is None:
        return _Null
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | float):
        return _Number
    return type(value)


def deep_copy(value: JSON) -> JSON:
    """Copy a JSON tree; much faster than ``copy.deepcopy`` for plain data."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value


def go_format(value: JSON) -> str:
    """Format a scalar the way Go's ``fmt.Sprintf("%v")`` does, for list sorting."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return json.dumps(value, sort_keys=True)


def is_empty(value: JSON) -> bool:
    """True for null, {} and [] (values the API server drops as omitempty)."""
    return value is None or value == {} or value == []
