"""The ``kubectl.kubernetes.io/last-applied-configuration`` annotation.

:func:`last_applied_annotation` renders it byte for byte as kubectl does (compact JSON
with sorted keys, Go's HTML escaping, a trailing newline, and an empty
``metadata.annotations`` kept), so ``kubectl apply`` and tether can take turns on one
object. :func:`last_applied_from` reads it back from a live object. No I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tether.diff.errors import LastAppliedError
from tether.diff.jsonvalue import JSON, JSONObject

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied_annotation(desired: Mapping[str, Any]) -> str:
    """The annotation value kubectl writes for ``desired``."""
    return go_json(strip_last_applied(desired)) + "\n"


def strip_last_applied(obj: Mapping[str, Any]) -> JSONObject:
    """A shallow copy of ``obj`` without the annotation, annotations kept as a map."""
    out = dict(obj)
    metadata = dict(out.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    metadata["annotations"] = annotations
    out["metadata"] = metadata
    return out


def with_last_applied(desired: Mapping[str, Any]) -> JSONObject:
    """kubectl's "modified" document: ``desired`` carrying its own annotation."""
    out = strip_last_applied(desired)
    out["metadata"]["annotations"][LAST_APPLIED] = last_applied_annotation(desired)
    return out


def last_applied_from(live: Mapping[str, Any] | None) -> JSONObject | None:
    """The last-applied configuration stored on ``live``, or None when absent."""
    if not live:
        return None
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LastAppliedError(f"{LAST_APPLIED} is not valid JSON: {exc.msg}") from None
    except TypeError:
        raise LastAppliedError(f"{LAST_APPLIED} is not a string") from None
    if not isinstance(value, dict):
        raise LastAppliedError(f"{LAST_APPLIED} is not a JSON object")
    return value


_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(value: JSON) -> str:
    """Compact JSON as Go's encoding/json writes a map[string]interface{}."""
    if _has_float(value):
        value = _go_floats(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if any(ch in text for ch in _ESCAPES):
        for ch, esc in _ESCAPES.items():
            text = text.replace(ch, esc)
    return text.replace(_FLOAT_MARK_OPEN, "").replace(_FLOAT_MARK_CLOSE, "")


_FLOAT_MARK_OPEN = '"\\u0000f:'
_FLOAT_MARK_CLOSE = '\\u0000"'


def _has_float(value: JSON) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _go_floats(value: JSON) -> JSON:
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return {k: _go_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_floats(v) for v in value]
    return value


def _go_float(value: float) -> Any:
    if math.isnan(value) or math.isinf(value):
        raise LastAppliedError("NaN and infinity cannot be encoded as JSON")
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    magnitude = abs(value)
    shortest = repr(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = shortest.partition("e")
        sign, digits = exponent[0], exponent[1:]
        if sign == "-" and len(digits) == 2 and digits[0] == "0":
            digits = digits[1:]
        text = f"{mantissa}e{sign}{digits}"
    elif "e" in shortest:
        text = format(Decimal(shortest), "f")
    else:
        text = shortest
    return f"\x00f:{text}\x00"
