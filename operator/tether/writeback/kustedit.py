"""Kustomize edits: a live image goes to ``images:``, a live replica count to ``replicas:``.

This is what ``kustomize edit set image`` / ``set replicas`` would record, but
written in place through yamledit, so every other byte of the kustomization
(patches, transformers, generators, components, openapi, comments, order)
stays as it is. Only the app's own kustomization (the top overlay) is
edited; its entries apply to the output of its bases.

Which ``images:`` entry an image belongs to: the rendered image from Git
(``Capture.git_value``, e.g. ``reg/web:1.1``) has the *name* ``reg/web``. An
entry maps its ``name`` to ``newName`` (or keeps ``name``), so the entry that
produced the rendered name is the first whose ``newName``, or ``name`` when it
has no ``newName``, equals ``reg/web``. That entry is updated: ``newName`` is
set when the live name differs from it, ``newTag`` and/or ``digest`` take the
live tag and digest (a digest alone drops ``newTag``, as kustomize does). No
entry: the rendered name was never transformed, so it is the name in the
base, and a new entry ``{name: reg/web, newName?, newTag?, digest?}`` is
appended (the list is created when absent). Without ``git_value`` the live
name stands in for the rendered one (right whenever only the tag changed).

Replicas: the entry whose ``name`` is the live name, or the live name without
the kustomization's ``namePrefix``/``nameSuffix`` (kustomize matches either)
gets the new ``count``; else ``{name: <live name>, count: N}`` is appended.
Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from tether.writeback.errors import FieldMoved
from tether.writeback.pointer import FieldPointer
from tether.writeback.yamledit import append_item, delete_field, document_value, set_field

KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_CONTAINER_LISTS: Final = frozenset({"containers", "initContainers", "ephemeralContainers"})
_REPLICAS: Final = FieldPointer(("spec", "replicas"))


@dataclass(frozen=True)
class ImageRef:
    """An image reference split as kustomize does: name, tag, digest."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        rest, _, digest = text.partition("@")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            return cls(rest[:colon], rest[colon + 1 :] or None, digest or None)
        return cls(rest, None, digest or None)


def is_image_pointer(pointer: FieldPointer) -> bool:
    """``.../containers[name=x]/image`` (or an index, or init/ephemeral containers)."""
    steps = pointer.steps
    return (
        len(steps) >= 3
        and steps[-1] == "image"
        and isinstance(steps[-2], (int, tuple))
        and steps[-3] in _CONTAINER_LISTS
    )


def is_replicas_pointer(pointer: FieldPointer) -> bool:
    return pointer == _REPLICAS


def edit_image(data: bytes, *, file: str, rendered: str, live: str, what: str) -> bytes:
    """The kustomization with the ``images:`` entry for ``rendered`` set to ``live``."""
    kustomization = _kustomization(data, file, what)
    wanted = ImageRef.parse(live)
    rendered_name = ImageRef.parse(rendered).name
    images = kustomization.get("images")
    entries: Sequence[Any] = images if isinstance(images, list) else []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and (entry.get("newName") or entry.get("name")) == rendered_name:
            return _update_image(data, file, index, entry, wanted, what)
    new: dict[str, Any] = {"name": rendered_name}
    if wanted.name != rendered_name:
        new["newName"] = wanted.name
    if wanted.tag is not None:
        new["newTag"] = wanted.tag
    if wanted.digest is not None:
        new["digest"] = wanted.digest
    return append_item(data, file=file, doc=0, steps=("images",), value=new, what=what)


def _update_image(
    data: bytes, file: str, index: int, entry: dict[str, Any], wanted: ImageRef, what: str
) -> bytes:
    fields: dict[str, str | None] = {"newTag": wanted.tag, "digest": wanted.digest}
    if wanted.name != (entry.get("newName") or entry.get("name")):
        fields["newName"] = wanted.name
    for field, value in fields.items():
        steps = ("images", index, field)
        if value is None and field in entry:
            data = delete_field(data, file=file, doc=0, steps=steps, what=what)
        elif value is not None and entry.get(field) != value:
            data = set_field(
                data, file=file, doc=0, steps=steps, value=value, create=True, what=what
            )
    return data


def edit_replicas(data: bytes, *, file: str, name: str, count: Any, what: str) -> bytes:
    """The kustomization with ``replicas:`` saying ``count`` for the object ``name``."""
    kustomization = _kustomization(data, file, what)
    names = {name, _without_affixes(name, kustomization)}
    replicas = kustomization.get("replicas")
    entries: Sequence[Any] = replicas if isinstance(replicas, list) else []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") in names:
            if entry.get("count") == count:
                return data
            steps = ("replicas", index, "count")
            return set_field(
                data, file=file, doc=0, steps=steps, value=count, create=True, what=what
            )
    new = {"name": name, "count": count}
    return append_item(data, file=file, doc=0, steps=("replicas",), value=new, what=what)


def _without_affixes(name: str, kustomization: dict[str, Any]) -> str:
    prefix = kustomization.get("namePrefix")
    suffix = kustomization.get("nameSuffix")
    if isinstance(prefix, str) and prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    if isinstance(suffix, str) and suffix and name.endswith(suffix):
        name = name[: -len(suffix)]
    return name


def _kustomization(data: bytes, file: str, what: str) -> dict[str, Any]:
    value = document_value(data, file=file, doc=0)
    if not isinstance(value, dict):
        raise FieldMoved(f"{file}: {what}: the kustomization is not a mapping any more")
    return value
