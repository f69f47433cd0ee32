"""Tolerant readers for the parts of an object that health checks look at.

Live objects come straight from the API server, so fields may be missing or, for
resources written by careless controllers, of the wrong type. These readers never
raise: a missing or mistyped field reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Obj = Mapping[str, Any]


def path(obj: Obj, *keys: str) -> Any:
    """The value at ``keys``, or None if any step is missing or not a mapping."""
    current: Any = obj
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def mapping(obj: Obj, *keys: str) -> Obj:
    value = path(obj, *keys)
    return value if isinstance(value, Mapping) else {}


def sequence(obj: Obj, *keys: str) -> Sequence[Any]:
    value = path(obj, *keys)
    return value if isinstance(value, list | tuple) else ()


def integer(obj: Obj, *keys: str, default: int = 0) -> int:
    value = path(obj, *keys)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def text(obj: Obj, *keys: str) -> str:
    value = path(obj, *keys)
    return value if isinstance(value, str) else ""


def condition(obj: Obj, type_: str) -> Obj | None:
    """The status condition of ``type_``, if present."""
    for cond in sequence(obj, "status", "conditions"):
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def condition_is(obj: Obj, type_: str, status: str) -> bool:
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == status


def condition_message(cond: Obj | None, fallback: str) -> str:
    if cond is None:
        return fallback
    message, reason = cond.get("message"), cond.get("reason")
    if isinstance(message, str) and message:
        return message
    return reason if isinstance(reason, str) and reason else fallback


def generation_observed(obj: Obj, *, require: bool = False) -> bool:
    """False when the controller has not yet seen the latest spec.

    Without ``require``, a status lacking ``observedGeneration`` counts as observed
    (kstatus); with it, the field must be there (built-in controllers always set it).
    """
    generation = integer(obj, "metadata", "generation")
    observed = path(obj, "status", "observedGeneration")
    if isinstance(observed, bool) or not isinstance(observed, int):
        return not require or generation == 0
    return observed >= generation


def is_deleting(obj: Obj) -> bool:
    return bool(path(obj, "metadata", "deletionTimestamp"))
