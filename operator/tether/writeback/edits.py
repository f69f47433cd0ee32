"""The edit model: what one write-back commit changes, and the files it produces.

An ``EditPlan`` says, before any file is read, what goes to Git: live field
values (``Capture``) and live objects to add (``NewObject``). ``apply_plan``
turns it into new file contents given a ``read`` function over the tree at
the branch tip; it is re-run by the pusher on every new tip after a
non-fast-forward, so it re-applies *edits*, never a textual rebase, and
raises ``FieldMoved`` when a captured field is gone at the tip.

How a capture becomes an edit depends on the source kind (see yamledit.py,
kustedit.py, helmedit.py): the edit touches the bytes of one scalar or one
entry and keeps every other byte of the file. ``describe`` writes the
``{changes}`` lines of the commit message. Pure: no I/O beyond ``read``; no
Secret value ever appears in a message.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.errors import (
    EditRefused,
    FieldMoved,
    SecretRefused,
    UnsupportedSource,
    WriteBackError,
)
from tether.writeback.helmedit import edit_value
from tether.writeback.kustedit import (
    KUSTOMIZATION_FILES,
    edit_image,
    edit_replicas,
    is_image_pointer,
    is_replicas_pointer,
)
from tether.writeback.newobject import new_object_path, render_new_object
from tether.writeback.pointer import MISSING, FieldPointer, Step
from tether.writeback.yamledit import FieldEdit, append_item, document_values, set_fields

Read = Callable[[str], bytes | None]
"""Reads a repo-relative file at the tip: its bytes, or None when it does not exist."""


class SourceKind(StrEnum):
    """How the app's source is rendered, which decides where an edit goes."""

    PLAIN = "plain"
    KUSTOMIZE = "kustomize"
    HELM = "helm"
    JSONNET = "jsonnet"


@dataclass(frozen=True)
class Capture:
    """One live value that should go to Git.

    ``git_value`` is the value rendered from Git (MISSING when the field is
    absent there): ``describe`` shows it, and Kustomize uses the rendered
    image name to find the ``images:`` entry.
    """

    key: ResourceKey
    pointer: FieldPointer
    value: Any
    origin: ObjectSource | None
    helm_value: str | None = None
    generated_name: bool = False
    git_value: Any = MISSING

    @property
    def label(self) -> str:
        """``apps/Deployment demo/web`` for messages."""
        return object_label(self.key)

    @property
    def is_secret(self) -> bool:
        return is_secret_key(self.key)


@dataclass(frozen=True)
class NewObject:
    """A cleaned live object (see ``newobject.clean``) to add as a file under ``folder``."""

    obj: dict[str, Any]
    folder: str


@dataclass(frozen=True)
class EditPlan:
    """What one commit does, before any file is read.

    ``kustomization`` is the repo-relative path of the app's kustomization
    file (default: the first of kustomization.yaml, kustomization.yml,
    Kustomization under ``app_path`` that exists); ``value_files`` are the
    Helm app's value files, repo-relative, in order (default:
    ``<app_path>/values.yaml``). ``allow_secrets`` lets Secrets be written.
    """

    app_path: str
    kind: SourceKind
    captures: tuple[Capture, ...] = ()
    new_objects: tuple[NewObject, ...] = ()
    kustomization: str | None = None
    value_files: tuple[str, ...] = ()
    allow_secrets: bool = False


def object_label(key: ResourceKey) -> str:
    """``apps/Deployment demo/web`` (``ConfigMap demo/x`` in the core group)."""
    kind = f"{key.group}/{key.kind}" if key.group else key.kind
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{kind} {where}"


def is_secret_key(key: ResourceKey) -> bool:
    return key.group == "" and key.kind == "Secret"


def apply_plan(plan: EditPlan, read: Read) -> dict[str, bytes]:
    """Changed files only (repo-relative path -> new bytes). Pure; raises WriteBackError.

    Captures are applied in order, each on the result of the previous ones, then
    new objects are added. Any refusal stops the whole plan: a commit is all or
    nothing.
    """
    files = _Files(read)
    plain: dict[str, list[Capture]] = {}
    for capture in plan.captures:
        _check_capture(plan, capture)
        path = _capture_file(plan, capture, files)
        if plan.kind is SourceKind.PLAIN:
            plain.setdefault(path, []).append(capture)
        else:
            files.put(path, _edit(plan, capture, path, files.get(path)))
    for path, group in plain.items():
        files.put(path, _edit_plain(group, path, files.get(path)))
    for new in plan.new_objects:
        _add_object(plan, new, files)
    return files.changed()


class _Files:
    """The files as edited so far, over the tip read once per path."""

    def __init__(self, read: Read) -> None:
        self._read = read
        self._original: dict[str, bytes | None] = {}
        self._edited: dict[str, bytes] = {}

    def original(self, path: str) -> bytes | None:
        if path not in self._original:
            self._original[path] = self._read(path)
        return self._original[path]

    def get(self, path: str) -> bytes:
        data = self._edited.get(path, self.original(path))
        if data is None:
            raise FieldMoved(f"{path}: the file is no longer in the repository")
        return data

    def exists(self, path: str) -> bool:
        return path in self._edited or self.original(path) is not None

    def put(self, path: str, data: bytes) -> None:
        self._edited[path] = data

    def changed(self) -> dict[str, bytes]:
        return {p: d for p, d in self._edited.items() if d != self.original(p)}


def refusal(plan: EditPlan, capture: Capture) -> WriteBackError | None:
    """Why ``capture`` cannot be written back whatever the files say, or None.

    ``apply_plan`` raises the first of these; a caller can drop the refused captures
    first (and report them) so that the others still land.
    """
    label = capture.label
    if capture.is_secret and not plan.allow_secrets:
        return SecretRefused(_secret_refusal(label))
    if capture.generated_name:
        return UnsupportedSource(
            f"{label}: its name is generated (generateName), so no file holds it"
        )
    if plan.kind is SourceKind.JSONNET or _is_jsonnet(capture.origin):
        where = f" ({capture.origin.file})" if capture.origin else ""
        return UnsupportedSource(f"{label}{where}: Jsonnet output cannot be edited back")
    if plan.kind is SourceKind.PLAIN and capture.origin is None:
        return UnsupportedSource(f"{label}: no source file is known for it")
    if plan.kind is SourceKind.KUSTOMIZE and not _kustomize_field(capture):
        return UnsupportedSource(
            f"{label} {capture.pointer}: a Kustomize app writes back only container"
            " images (images:) and /spec/replicas (replicas:)"
        )
    if plan.kind is SourceKind.HELM and capture.helm_value is None:
        return UnsupportedSource(
            f"{label} {capture.pointer}: a Helm app writes back only fields"
            " with a helmValue mapping"
        )
    return None


def _kustomize_field(capture: Capture) -> bool:
    image = is_image_pointer(capture.pointer) and isinstance(capture.value, str)
    return image or is_replicas_pointer(capture.pointer)


def _check_capture(plan: EditPlan, capture: Capture) -> None:
    refused = refusal(plan, capture)
    if refused is not None:
        raise refused


def _secret_refusal(label: str) -> str:
    return f"{label}: Secrets are not written to Git unless the app allows it explicitly"


def _is_jsonnet(origin: ObjectSource | None) -> bool:
    return origin is not None and origin.file.endswith((".jsonnet", ".libsonnet"))


def _capture_file(plan: EditPlan, capture: Capture, files: _Files) -> str:
    if plan.kind is SourceKind.PLAIN:
        assert capture.origin is not None  # checked by refusal
        return capture.origin.file
    if plan.kind is SourceKind.KUSTOMIZE:
        return _kustomization_path(plan, files)
    if plan.value_files:
        return repo_path(plan.value_files[0], capture.label)
    return _join(plan.app_path, "values.yaml")


def _kustomization_path(plan: EditPlan, files: _Files) -> str:
    if plan.kustomization is not None:
        return repo_path(plan.kustomization, plan.app_path)
    for name in KUSTOMIZATION_FILES:
        path = _join(plan.app_path, name)
        if files.exists(path):
            return path
    raise FieldMoved(f"{plan.app_path or '.'}: no kustomization file there any more")


def _edit(plan: EditPlan, capture: Capture, path: str, data: bytes) -> bytes:
    what = capture.label
    if plan.kind is SourceKind.KUSTOMIZE:
        if is_image_pointer(capture.pointer) and isinstance(capture.value, str):
            rendered = capture.git_value if isinstance(capture.git_value, str) else capture.value
            return edit_image(data, file=path, rendered=rendered, live=capture.value, what=what)
        name = capture.key.name  # /spec/replicas: checked by refusal
        return edit_replicas(data, file=path, name=name, count=capture.value, what=what)
    assert capture.helm_value is not None  # checked by refusal
    return edit_value(
        data,
        file=path,
        helm_value=capture.helm_value,
        pointer=capture.pointer,
        live=capture.value,
        what=what,
    )


def _edit_plain(captures: list[Capture], path: str, data: bytes) -> bytes:
    """All captures of one file, each into the document (and List item) it came from."""
    documents = document_values(data, file=path)
    edits: list[FieldEdit] = []
    for capture in captures:
        origin = capture.origin
        assert origin is not None  # checked by _capture_file
        prefix = item_steps(origin.item)
        if not _holds(FieldPointer(prefix).get(documents.get(origin.doc)), capture.key):
            raise FieldMoved(f"{origin}: {capture.label} is no longer in this document")
        edits.append(
            FieldEdit(
                doc=origin.doc,
                steps=prefix + capture.pointer.steps,
                value=capture.value,
                create=capture.git_value is MISSING,
                what=capture.label,
            )
        )
    return set_fields(data, file=path, edits=edits)


def item_steps(item: str) -> tuple[Step, ...]:
    """``items[1].items[0]`` (ObjectSource.item) -> ("items", 1, "items", 0)."""
    steps: list[Step] = []
    for part in filter(None, item.split(".")):
        match = _ITEM.fullmatch(part)
        if match is None:
            raise FieldMoved(f"List item {item!r}: not a path this version understands")
        steps.extend((match["key"], int(match["index"])))
    return tuple(steps)


_ITEM = re.compile(r"(?P<key>[^\[\]]+)\[(?P<index>[0-9]+)\]")


def _holds(value: Any, key: ResourceKey) -> bool:
    """Whether a document value is still the object ``key`` (namespace only if written)."""
    if not isinstance(value, dict) or value.get("kind") != key.kind:
        return False
    api_version = value.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
    metadata = value.get("metadata")
    if group != key.group or not isinstance(metadata, dict) or metadata.get("name") != key.name:
        return False
    namespace = metadata.get("namespace")
    return not (namespace and key.namespace and namespace != key.namespace)


def _add_object(plan: EditPlan, new: NewObject, files: _Files) -> None:
    kind = new.obj.get("kind")
    metadata = new.obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    label = f"{kind} {name}"
    if kind == "Secret" and str(new.obj.get("apiVersion")) == "v1" and not plan.allow_secrets:
        raise SecretRefused(_secret_refusal(label))
    if plan.kind in (SourceKind.HELM, SourceKind.JSONNET):
        raise UnsupportedSource(f"{label}: a new object cannot be added to a {plan.kind} source")
    path = repo_path(new_object_path(new.folder, new.obj), label)
    if files.exists(path):
        raise EditRefused(f"{path}: the file exists already; {label} is not written over it")
    files.put(path, render_new_object(new.obj))
    if plan.kind is SourceKind.KUSTOMIZE:
        _list_in_kustomization(plan, path, label, files)


def _list_in_kustomization(plan: EditPlan, path: str, label: str, files: _Files) -> None:
    """Add the new file to the kustomization's ``resources:``, or kustomize ignores it."""
    kustomization = _kustomization_path(plan, files)
    relative = posixpath.relpath(path, posixpath.dirname(kustomization) or ".")
    data = append_item(
        files.get(kustomization),
        file=kustomization,
        doc=0,
        steps=("resources",),
        value=relative,
        what=label,
    )
    files.put(kustomization, data)


def _join(folder: str, name: str) -> str:
    return repo_path(posixpath.join(folder, name), folder)


def repo_path(path: str, what: str) -> str:
    """``path`` normalised (``a/./b/../c`` -> ``a/c``); UnsupportedSource if it leaves the repo."""
    normal = posixpath.normpath(path.strip("/") or ".")
    if normal == ".." or normal.startswith("../"):
        raise UnsupportedSource(f"{what}: {path} is outside the repository")
    return normal


def describe(plan: EditPlan) -> str:
    """The ``{changes}`` part of the commit message: one line per change, no Secret values."""
    lines = [_describe_capture(capture) for capture in plan.captures]
    for new in plan.new_objects:
        kind = new.obj.get("kind")
        metadata = new.obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        where = f"{namespace}/{name}" if namespace else f"{name}"
        lines.append(f"add {kind} {where} as {new_object_path(new.folder, new.obj)}")
    return "\n".join(lines)


def _describe_capture(capture: Capture) -> str:
    head = f"{capture.label} {capture.pointer}"
    if capture.helm_value is not None:
        head += f" (Helm value {capture.helm_value})"
    if capture.is_secret:
        return f"{head}: Secret value changed"
    return f"{head}: {_show(capture.git_value)} -> {_show(capture.value)}"


_SHOW_LIMIT = 80


def _show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    if isinstance(value, str) and value.isprintable() and value.strip() == value and value:
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"
