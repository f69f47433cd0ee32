"""Status values and the rule "one status PATCH per reconcile, none when unchanged".

``merge_diff`` computes the RFC 7386 JSON merge patch that turns one status into
another; an empty patch means there is nothing to write. ``StatusWriter``
remembers the status it last wrote per object and sends the patch through the
status subresource only when it is not empty. Timestamps that would change on
every pass (``reconciledAt``) are carried over unchanged when nothing else
moved, so an idle operator writes nothing.

Building the status from engine results lives in the controllers; this module
only compares and writes dicts in the Kubernetes JSON shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Protocol

from tether.controller.triggers import Key

VOLATILE_FIELDS = ("reconciledAt",)
"""Top-level status fields that change on every reconcile and must not cause a write."""


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch from ``old`` to ``new``; ``{}`` when they are equal.

    Dicts recurse, removed keys become ``None``, anything else (lists included)
    is replaced whole, as RFC 7386 prescribes.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
            continue
        previous = old[key]
        if previous == value:
            continue
        if isinstance(previous, dict) and isinstance(value, dict):
            sub = merge_diff(previous, value)
            if sub != {}:
                patch[key] = sub
        else:
            patch[key] = copy.deepcopy(value)
    return patch


def apply_merge(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch, returning a new value (for tests and bookkeeping)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge(result.get(key), value)
    return result


def carry_volatile(
    old: dict[str, Any], new: dict[str, Any], fields: Iterable[str] = VOLATILE_FIELDS
) -> dict[str, Any]:
    """``new`` with each volatile field taken from ``old`` when nothing else differs."""
    fields = tuple(fields)
    strip_old = {k: v for k, v in old.items() if k not in fields}
    strip_new = {k: v for k, v in new.items() if k not in fields}
    if strip_old != strip_new:
        return new
    kept = dict(new)
    for name in fields:
        if name in old:
            kept[name] = old[name]
        else:
            kept.pop(name, None)
    return kept


class StatusPatcher(Protocol):
    async def patch_status(self, key: Key, patch: dict[str, Any]) -> dict[str, Any] | None:
        """Send ``{"status": patch}`` as a merge patch to the status subresource."""
        ...


class StatusWriter:
    """Writes status patches, at most one per call, none when nothing changed."""

    def __init__(self, patcher: StatusPatcher) -> None:
        self.patcher = patcher
        self._last: dict[Key, dict[str, Any]] = {}
        self.writes = 0

    def last(self, key: Key, observed: dict[str, Any] | None = None) -> dict[str, Any]:
        """The status we last wrote, else the one the object carries."""
        if key in self._last:
            return self._last[key]
        return copy.deepcopy(observed or {})

    async def write(
        self, key: Key, new: dict[str, Any], observed: dict[str, Any] | None = None
    ) -> bool:
        """Patch the difference between the last status and ``new``; True if a write happened."""
        base = self.last(key, observed)
        new = carry_volatile(base, new)
        patch = merge_diff(base, new)
        if not patch:
            self._last[key] = base
            return False
        await self.patcher.patch_status(key, patch)
        self.writes += 1
        self._last[key] = copy.deepcopy(new)
        return True

    def remember(self, key: Key, status: dict[str, Any]) -> None:
        """Record a status written elsewhere (e.g. an operation step)."""
        self._last[key] = copy.deepcopy(status)

    def forget(self, key: Key) -> None:
        self._last.pop(key, None)
