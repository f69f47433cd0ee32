"""Decide which documents are Kubernetes objects, validate them, and flatten Lists.

A document is a manifest when it is a mapping with ``apiVersion`` or ``kind``.
A manifest must have both, as non-empty strings, and ``metadata.name`` (or
``metadata.generateName``, which hooks use). ``kind: List`` and any other
``*List`` kind with an ``items`` list is replaced by its items, recursively;
each item must itself be a valid object. Kustomize's own config documents
(``kustomize.config.k8s.io/*``) are never objects.

In lenient mode (plain directories) documents that are not manifests are
skipped; in strict mode (tool output) every non-empty document must be one.

``ensure_unique`` refuses a render that declares one object twice. Here the
key is the object as written (group, kind, namespace or ``""``, name), which is
exact when both copies spell the namespace the same way; the engine calls the
same function again on its keys after namespace defaulting, which needs the
cluster's scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tether.manifests.errors import DuplicateObjectError, InvalidObjectError

K = TypeVar("K", bound=Hashable)

KUSTOMIZE_CONFIG_GROUP = "kustomize.config.k8s.io/"


@dataclass(frozen=True)
class ObjectSource:
    """Where an object came from: file, document index, and path inside a List."""

    file: str
    doc: int
    item: str = ""

    def __str__(self) -> str:
        suffix = f".{self.item}" if self.item else ""
        return f"{self.file}[doc {self.doc}]{suffix}"


@dataclass(frozen=True)
class Manifest:
    """One rendered object and its source. Treat ``object`` as read-only."""

    object: dict[str, Any]
    source: ObjectSource


def object_label(value: Any) -> str | None:
    """``Kind/name`` for error messages, or None when neither is known."""
    if not isinstance(value, dict):
        return None
    kind = value.get("kind")
    metadata = value.get("metadata")
    name = None
    if isinstance(metadata, dict):
        name = metadata.get("name") or metadata.get("generateName")
    if isinstance(kind, str) and kind and isinstance(name, str) and name:
        return f"{kind}/{name}"
    if isinstance(kind, str) and kind:
        return kind
    return None


def is_manifest(value: Any) -> bool:
    """True for a mapping that claims to be an object (has apiVersion or kind)."""
    if not isinstance(value, dict) or ("apiVersion" not in value and "kind" not in value):
        return False
    api_version = value.get("apiVersion")
    return not (isinstance(api_version, str) and api_version.startswith(KUSTOMIZE_CONFIG_GROUP))


def collect_objects(value: Any, source: ObjectSource, *, strict: bool) -> list[Manifest]:
    """Validate a document and return its objects, Lists flattened, in order."""
    if not is_manifest(value):
        if strict:
            raise _invalid("the document is not a Kubernetes object (no apiVersion/kind)", source)
        return []
    out: list[Manifest] = []
    _collect(value, source, out)
    return out


def _collect(value: Any, source: ObjectSource, out: list[Manifest]) -> None:
    if not isinstance(value, dict):
        raise _invalid("a List item is not a mapping", source)
    kind = _required_string(value, "kind", source)
    _required_string(value, "apiVersion", source)
    items = value.get("items", ())
    if kind.endswith("List") and (items is None or isinstance(items, list)) and "items" in value:
        prefix = f"{source.item}." if source.item else ""
        for index, item in enumerate(items or ()):
            _collect(item, ObjectSource(source.file, source.doc, f"{prefix}items[{index}]"), out)
        return
    _check_metadata(value, source)
    out.append(Manifest(value, source))


def _required_string(value: dict[str, Any], field: str, source: ObjectSource) -> str:
    found = value.get(field)
    if found is None or found == "":
        raise _invalid(f"{field} is missing", source, value)
    if not isinstance(found, str):
        raise _invalid(f"{field} must be a string, not {type(found).__name__}", source, value)
    return found


def _check_metadata(value: dict[str, Any], source: ObjectSource) -> None:
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        raise _invalid("metadata is missing or not a mapping", source, value)
    name = metadata.get("name")
    generate_name = metadata.get("generateName")
    if name in (None, "") and generate_name in (None, ""):
        raise _invalid(
            "metadata.name is missing (and there is no metadata.generateName)", source, value
        )
    for field in ("name", "generateName", "namespace"):
        found = metadata.get(field)
        if found is not None and not isinstance(found, str):
            raise _invalid(
                f"metadata.{field} must be a string, not {type(found).__name__}", source, value
            )


WrittenKey = tuple[str, str, str, str]


def written_key(obj: dict[str, Any]) -> WrittenKey | None:
    """(group, kind, namespace as written or ``""``, name); None for a ``generateName`` hook."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        return None
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind", "")), metadata.get("namespace") or "", name


def written_label(key: WrittenKey) -> str:
    """``Kind ns/name`` (or ``Kind name`` without a namespace) for messages."""
    _group, kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def ensure_unique(entries: Iterable[tuple[K, str]], label: Callable[[K], str]) -> None:
    """Raise DuplicateObjectError at the first key seen twice; entries are (key, place)."""
    seen: dict[K, str] = {}
    for key, place in entries:
        if key in seen:
            raise DuplicateObjectError(label(key), seen[key], place)
        seen[key] = place


def ensure_unique_manifests(manifests: Sequence[Manifest]) -> None:
    """Refuse two manifests that declare the same object as written, naming both places."""
    keyed = ((written_key(m.object), str(m.source)) for m in manifests)
    ensure_unique(((key, place) for key, place in keyed if key is not None), written_label)


def _invalid(cause: str, source: ObjectSource, value: Any = None) -> InvalidObjectError:
    location = f"{source.item}: {cause}" if source.item else cause
    return InvalidObjectError(location, file=source.file, doc=source.doc, obj=object_label(value))
