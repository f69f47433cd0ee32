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

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.errors import UnsupportedSource
from tether.writeback.pointer import MISSING, FieldPointer

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
    """Changed files only (repo-relative path -> new bytes). Pure; raises WriteBackError."""
    raise UnsupportedSource(f"{plan.app_path}: write-back edits are not implemented yet")


def describe(plan: EditPlan) -> str:
    """The ``{changes}`` part of the commit message: one line per change."""
    lines = [f"{c.label} {c.pointer}" for c in plan.captures]
    lines += [f"add {n.obj.get('kind', '?')} in {n.folder}" for n in plan.new_objects]
    return "\n".join(lines)


__all__ = [
    "Capture",
    "EditPlan",
    "NewObject",
    "Read",
    "SourceKind",
    "apply_plan",
    "describe",
    "is_secret_key",
    "object_label",
]
