"""Status values and the rule "one status PATCH per reconcile, none when unchanged".

``tether.diff.jsonmerge.create_merge_patch`` computes the RFC 7386 JSON merge patch that turns one status into
another; an empty patch means there is nothing to write. ``StatusWriter``
remembers the status it last wrote per object, packed (``tether.packed``: about
1 KiB per Application instead of 10 as dicts), and sends the patch through the
status subresource only when it is not empty. Statuses are compared as JSON
(a tuple equals the list it is written as). Timestamps that would change on
every pass (``reconciledAt``) are carried over unchanged when nothing else
moved, so an idle operator writes nothing.

Building the status from engine results lives in the controllers; this module
only compares and writes dicts in the Kubernetes JSON shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from tether.controller.triggers import Key
from tether.diff.jsonmerge import create_merge_patch
from tether.packed import Packed, normalized, pack, unpack

VOLATILE_FIELDS = ("reconciledAt",)
"""Top-level status fields that change on every reconcile and must not cause a write."""


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
        self._last: dict[Key, Packed] = {}
        self.writes = 0

    def last(self, key: Key, observed: dict[str, Any] | None = None) -> dict[str, Any]:
        """The status we last wrote, else the one the object carries (a fresh copy)."""
        packed = self._last.get(key)
        if packed is not None:
            last: dict[str, Any] = unpack(packed)
            return last
        return normalized(observed or {})  # type: ignore[no-any-return]

    async def write(
        self, key: Key, new: dict[str, Any], observed: dict[str, Any] | None = None
    ) -> bool:
        """Patch the difference between the last status and ``new``; True if a write happened."""
        base = self.last(key, observed)
        new = carry_volatile(base, normalized(new))
        patch = create_merge_patch(base, new)
        if not patch:
            if key not in self._last:
                self._last[key] = pack(base)
            return False
        await self.patcher.patch_status(key, patch)
        self.writes += 1
        self._last[key] = pack(new)
        return True

    def remember(self, key: Key, status: dict[str, Any]) -> None:
        """Record a status written elsewhere (e.g. an operation step)."""
        self._last[key] = pack(status)

    def forget(self, key: Key) -> None:
        self._last.pop(key, None)
