"""Small accessors for Kubernetes objects as plain mappings, and deep plain copies.

One home for the helpers every layer needs: an object's resourceVersion,
annotations and key, a ``Kind ns/name`` label for messages, whether it asks for
server-side apply, and ``plain`` (mappings, views and tuples to dicts and
lists). Pure and dependency-free below ``tether.identity``; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.constants import SYNC_OPTION_ANNOTATIONS
from tether.identity import ResourceKey


def metadata(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    # dict first: the ABC check is slow and this runs per object on every diff
    return meta if isinstance(meta, (dict, Mapping)) else {}


def resource_version(obj: Mapping[str, Any] | None) -> str:
    """``metadata.resourceVersion``, ``""`` when unset."""
    return str(metadata(obj).get("resourceVersion") or "")


def annotations_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    found = metadata(obj).get("annotations")
    return found if isinstance(found, (dict, Mapping)) else {}


def key_of(obj: Mapping[str, Any]) -> ResourceKey:
    """The key an object names itself by (no scope lookup: its own namespace, or none)."""
    meta = metadata(obj)
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return ResourceKey(
        group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or "")
    )


def label(key: ResourceKey) -> str:
    """``Kind ns/name`` (or ``Kind name`` when cluster-scoped), for messages."""
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{key.kind} {where}"


_OPTIONS = SYNC_OPTION_ANNOTATIONS


def wants_server_side(obj: Mapping[str, Any]) -> bool:
    """Whether the object's own sync-options annotation asks for server-side apply."""
    notes = annotations_of(obj)
    if not notes:
        return False
    first, second = notes.get(_OPTIONS[0]), notes.get(_OPTIONS[1])
    return (isinstance(first, str) and "ServerSideApply=true" in first) or (
        isinstance(second, str) and "ServerSideApply=true" in second
    )


def plain(value: Any) -> Any:
    """A deep copy with every mapping (or mapping view) a dict and every sequence a list."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "items") and not isinstance(value, str | bytes):
        return {str(k): plain(v) for k, v in value.items()}
    return value
