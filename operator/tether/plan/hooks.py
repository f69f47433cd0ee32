"""Deterministic names for hooks that only carry ``generateName``.

The name is ``generateName`` followed by a short hash of the revision and the object's
content, so a restarted operator re-planning the same sync at the same revision picks the
same name (and finds the hook it already created), while a new revision or a changed hook
gets a new one. The prefix is cut so the name stays within 63 characters, as Kubernetes
does for generated names (Jobs and Pods put their name in a label).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tether.constants import APP_LABEL, TRACKING_ANNOTATION

_HASH_CHARS = 8
_MAX_NAME = 63


def needs_name(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return False
    return not meta.get("name") and isinstance(meta.get("generateName"), str)


def hook_name(obj: Mapping[str, Any], revision: str) -> str:
    meta = obj.get("metadata")
    prefix = str(meta.get("generateName", "")) if isinstance(meta, Mapping) else ""
    content = json.dumps(_untracked(obj), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{revision}\0{content}".encode()).hexdigest()[:_HASH_CHARS]
    return prefix[: _MAX_NAME - _HASH_CHARS] + digest


def _untracked(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` without Tether's tracking marks, so stamping before or after naming agrees."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return obj
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != APP_LABEL}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != TRACKING_ANNOTATION
    }
    return {**obj, "metadata": {**meta, "labels": labels, "annotations": annotations}}


def with_hook_name(obj: Mapping[str, Any], revision: str) -> dict[str, Any]:
    """A copy of ``obj`` named by ``hook_name``, its ``generateName`` dropped."""
    meta = dict(obj.get("metadata") or {})
    meta["name"] = hook_name(obj, revision)
    meta.pop("generateName", None)
    return {**obj, "metadata": meta}
