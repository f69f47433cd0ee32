"""Compute the one status PATCH a reconcile needs, or none.

``merge_patch`` is the RFC 7386 JSON merge patch that turns one document into
another. ``status_patch`` compares the status an object has with the one a
reconcile computed and returns the body for a merge PATCH of the status
subresource, or None when nothing but volatile fields (``reconciledAt``) changed.
Top-level status keys the model does not know are left alone, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tether.api.types import StatusModel


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes ``old`` equal to ``new`` (null deletes a key)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif before is _MISSING or before != value:
            patch[key] = value
    return patch


_MISSING = object()


def status_patch(
    current: Mapping[str, Any] | None,
    desired: StatusModel,
    *,
    volatile: Iterable[str] = ("reconciledAt",),
) -> dict[str, Any] | None:
    """``{"status": ...}`` to send as a merge patch, or None when no real change.

    ``current`` is the raw ``status`` the object has now; ``desired`` the new status.
    A change only to ``volatile`` keys is not worth a write on its own.
    """
    known = {f.alias or n for n, f in type(desired).model_fields.items()}
    before = {k: v for k, v in (current or {}).items() if k in known}
    patch = merge_patch(before, desired.to_dict())
    if not patch or set(patch) <= set(volatile):
        return None
    return {"status": patch}
