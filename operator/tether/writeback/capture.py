"""What goes back to Git: live values of listed fields that differ, and new labelled objects.

Pure. Given an app's capture settings (``CaptureSpec``), its desired objects as
rendered (each with its ``ObjectSource``) paired with their live copies, and the
live objects carrying the capture label, it returns ``Capture`` and
``NewObject`` values and, with ``edit_plan``, the ``EditPlan`` of one commit.
The operator and ``tether capture`` both judge through these functions.

Rules:

- A field is captured when a rule matches the object (group, kind and name
  globs), Git sets the field, and the live value differs. A field Git leaves
  out is never captured: its live value is the server's default, not a change.
- Git moved, not live: when the desired value changed since the caller last
  looked (``previous``), Git wins and nothing is captured; with no earlier look,
  a live value equal to the kubectl last-applied value means the cluster was
  not edited by hand since Tether last wrote it, so Git wins too. A field held
  before a restart (``Held``, kept in the status) is judged by the digest of
  Git's value when it was captured instead (``restored_previous``).
- Secret fields and Secret objects are refused unless ``allow_secrets``; a
  refusal names the object and the field, never the value.
- A new object is a live object in the destination with every selector label,
  carrying no app's tracking annotation; it is cleaned (``newobject.clean``)
  and goes in the app's folder.

It stops at the plan: edits are ``edits.apply_plan``'s, pushes ``gitwrite``'s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.constants import TRACKING_ANNOTATION
from tether.diff.lastapplied import LAST_APPLIED
from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.tenancy.globs import glob_match
from tether.writeback.edits import (
    Capture,
    EditPlan,
    NewObject,
    SourceKind,
    is_secret_key,
    refusal,
)
from tether.writeback.errors import WriteBackReason
from tether.writeback.newobject import clean
from tether.writeback.pointer import MISSING, FieldPointer

FieldKey = tuple[ResourceKey, str]
"""One captured field: the object and the pointer as text."""


@dataclass(frozen=True)
class FieldRule:
    """``capture.fields[]``: which objects (globs) and which field."""

    kinds: tuple[str, ...]
    pointer: FieldPointer
    group: str = ""
    name: str | None = None
    helm_value: str | None = None

    def matches(self, key: ResourceKey) -> bool:
        if not glob_match(self.group or "", key.group):
            return False
        if not any(glob_match(kind, key.kind) for kind in self.kinds):
            return False
        return self.name is None or glob_match(self.name, key.name)


@dataclass(frozen=True)
class CaptureSpec:
    """What to capture: listed fields, a label selector for new objects, Secrets or not."""

    fields: tuple[FieldRule, ...] = ()
    new_objects: tuple[tuple[str, str], ...] | None = None  # matchLabels as sorted pairs
    allow_secrets: bool = False

    @property
    def selector(self) -> dict[str, str]:
        return dict(self.new_objects or ())

    @property
    def selector_text(self) -> str:
        """The selector as a label query, ``k=v,k2=v2``."""
        return ",".join(f"{k}={v}" for k, v in self.new_objects or ())


@dataclass(frozen=True)
class DesiredObject:
    """One rendered object as Git says it, where it came from, and its live copy."""

    key: ResourceKey
    obj: Mapping[str, Any]
    origin: ObjectSource | None
    live: Mapping[str, Any] | None


@dataclass(frozen=True)
class Refusal:
    """A capture refused before any edit (a Secret without allowSecrets, a Jsonnet
    object, a field the source kind cannot take): Git stays the truth for it."""

    label: str  # object and field, never the value
    message: str
    reason: WriteBackReason = WriteBackReason.SECRET_REFUSED


@dataclass(frozen=True)
class Found:
    """What capture found: fields and objects for Git, refusals, and Git's values now."""

    captures: tuple[Capture, ...] = ()
    new_objects: tuple[NewObject, ...] = ()
    refused: tuple[Refusal, ...] = ()
    seen: Mapping[FieldKey, Any] = field(default_factory=dict)  # desired values looked at

    @property
    def empty(self) -> bool:
        return not self.captures and not self.new_objects


@dataclass(frozen=True)
class Held:
    """A captured field held at its live value until its commit lands, as the status
    keeps it (``status.writeBack.held``) so that a restart restores it.

    ``git_digest`` is the digest of Git's value when it was captured; None for a
    Secret, whose values (even digested) stay out of the status.
    """

    key: ResourceKey
    pointer: str
    git_digest: str | None

    @property
    def field_key(self) -> FieldKey:
        return self.key, self.pointer


@dataclass(frozen=True)
class Restored:
    """A ``previous`` entry from before a restart: only Git's value's digest is known
    (None for a Secret: then Git is taken as not moved, and the live value held)."""

    git_digest: str | None


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"Deployment, *Set"`` -> ``("Deployment", "*Set")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def field_key(capture: Capture) -> FieldKey:
    return capture.key, str(capture.pointer)


def find_captures(
    spec: CaptureSpec,
    desired: Sequence[DesiredObject],
    *,
    previous: Mapping[FieldKey, Any] | None = None,
    guess: bool = False,
) -> Found:
    """The listed fields whose live value should go to Git (see the module docstring).

    ``previous`` holds the desired values of the caller's last look (``Found.seen``).
    For a field it does not hold, ``guess`` asks the kubectl last-applied value who
    moved (the operator after a start); without it every difference is captured
    (``tether capture``: its user asked for exactly that).
    """
    captures: list[Capture] = []
    refused: list[Refusal] = []
    seen: dict[FieldKey, Any] = {}
    for item in desired:
        rules = [rule for rule in spec.fields if rule.matches(item.key)]
        if not rules or item.live is None:
            continue
        for rule in rules:
            wanted = rule.pointer.get(item.obj)
            if wanted is MISSING:
                continue  # Git does not set it: the live value is a default, not a change
            fkey = (item.key, str(rule.pointer))
            seen[fkey] = wanted
            value = rule.pointer.get(item.live)
            if value is MISSING or value == wanted:
                continue
            if _git_moved(fkey, wanted, value, item.live, rule.pointer, previous, guess):
                continue
            capture = Capture(
                key=item.key,
                pointer=rule.pointer,
                value=value,
                origin=item.origin,
                helm_value=rule.helm_value,
                generated_name=not _name_of(item.obj),
                git_value=wanted,
            )
            if capture.is_secret and not spec.allow_secrets:
                refused.append(_secret_refusal(f"{capture.label} {capture.pointer}"))
                continue
            captures.append(capture)
    return Found(tuple(captures), (), tuple(refused), seen)


def find_new_objects(
    spec: CaptureSpec,
    live: Iterable[Mapping[str, Any]],
    folder: str,
    rendered: Iterable[Mapping[str, Any]] = (),
) -> tuple[tuple[NewObject, ...], tuple[Refusal, ...]]:
    """Live objects with every selector label and no app's tracking, cleaned for Git.

    An object the source already renders (``rendered``) is not new: its file is in
    Git, and the next sync adopts it.
    """
    selector = spec.selector
    if not selector:
        return (), ()
    known = {_kind_name(obj) for obj in rendered}
    found: list[NewObject] = []
    refused: list[Refusal] = []
    for obj in sorted(live, key=_sort_key):
        meta = obj.get("metadata") or {}
        if _kind_name(obj) in known:
            continue
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        if TRACKING_ANNOTATION in (meta.get("annotations") or {}):
            continue  # some app's own object already
        if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
            continue  # made by a controller, or on its way out
        secret = obj.get("kind") == "Secret" and "/" not in str(obj.get("apiVersion", "v1"))
        if secret and not spec.allow_secrets:
            label = f"Secret {meta.get('namespace')}/{meta.get('name')}"
            refused.append(_secret_refusal(label))
            continue
        found.append(NewObject(clean(dict(obj), selector), folder))
    return tuple(found), tuple(refused)


def edit_plan(
    app_path: str,
    kind: SourceKind,
    found: Found,
    *,
    allow_secrets: bool = False,
    kustomization: str | None = None,
    value_files: tuple[str, ...] = (),
) -> EditPlan:
    """The ``EditPlan`` of one commit holding everything ``found``."""
    return EditPlan(
        app_path=app_path,
        kind=kind,
        captures=found.captures,
        new_objects=found.new_objects,
        kustomization=kustomization,
        value_files=value_files,
        allow_secrets=allow_secrets,
    )


def without_refused(found: Found, plan: EditPlan) -> Found:
    """``found`` without the captures ``plan``'s source can never take (``edits.refusal``),
    which become refusals, so that the others still land."""
    kept: list[Capture] = []
    refused = list(found.refused)
    for capture in found.captures:
        why = refusal(plan, capture)
        if why is None:
            kept.append(capture)
        else:
            refused.append(Refusal(f"{capture.label} {capture.pointer}", str(why), why.reason))
    return Found(tuple(kept), found.new_objects, tuple(refused), found.seen)


def mask(obj: Mapping[str, Any], captures: Iterable[Capture]) -> dict[str, Any]:
    """A copy of a desired object with each captured field set to its live value.

    The operator syncs the masked object while a capture waits for its commit, so a
    sync (selfHeal included) never writes the old value back.
    """
    out: Any = obj
    for capture in captures:
        out = capture.pointer.with_value(out, capture.value)
    return dict(out)


def pending_labels(captures: Iterable[Capture], new_objects: Iterable[NewObject]) -> list[str]:
    """``status.writeBack.pending``: object and field (or ``new``), never a value."""
    out = [f"{c.label} {c.pointer}" for c in captures]
    for new in new_objects:
        meta = new.obj.get("metadata") or {}
        out.append(f"new {new.obj.get('kind')} {meta.get('namespace') or ''}/{meta.get('name')}")
    return out


def value_digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def held_of(captures: Iterable[Capture]) -> tuple[Held, ...]:
    """What the status keeps of ``captures`` to restore them after a restart."""
    return tuple(
        Held(c.key, str(c.pointer), None if c.is_secret else value_digest(c.git_value))
        for c in captures
    )


def held_to_status(held: Iterable[Held]) -> list[dict[str, str]]:
    """``status.writeBack.held`` entries (no value, and no digest for a Secret)."""
    out: list[dict[str, str]] = []
    for h in held:
        entry = {**h.key.to_dict(), "pointer": h.pointer}
        if h.git_digest is not None:
            entry["gitDigest"] = h.git_digest
        out.append(entry)
    return out


def held_from_status(entries: Iterable[Any]) -> tuple[Held, ...]:
    """The entries ``held_to_status`` wrote; a malformed one (hand-edited) is skipped,
    and its field falls back to the last-applied guess."""
    out: list[Held] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        kind, name, pointer = entry.get("kind"), entry.get("name"), entry.get("pointer")
        if not (isinstance(kind, str) and isinstance(name, str) and isinstance(pointer, str)):
            continue
        key = ResourceKey(
            str(entry.get("group") or ""), kind, str(entry.get("namespace") or ""), name
        )
        digest = entry.get("gitDigest")
        out.append(Held(key, pointer, digest if isinstance(digest, str) else None))
    return tuple(out)


def restored_previous(held: Iterable[Held]) -> dict[FieldKey, Any]:
    """The ``previous`` of ``find_captures`` after a restart: each held field judged
    against Git's value when it was captured, not against last-applied (which a sync
    of the masked object may have set to the live value)."""
    return {h.field_key: Restored(h.git_digest) for h in held}


def _git_moved(
    fkey: FieldKey,
    wanted: Any,
    value: Any,
    live: Mapping[str, Any],
    pointer: FieldPointer,
    previous: Mapping[FieldKey, Any] | None,
    guess: bool,
) -> bool:
    if previous is not None and fkey in previous:
        before = previous[fkey]
        if isinstance(before, Restored):
            return before.git_digest is not None and before.git_digest != value_digest(wanted)
        return bool(before != wanted)
    if not guess:
        return False
    applied = _last_applied(live)
    if applied is None:
        return False
    return bool(pointer.get(applied) == value)


def _last_applied(live: Mapping[str, Any]) -> Any:
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _secret_refusal(label: str) -> Refusal:
    return Refusal(
        label,
        f"{label}: a Secret is not written to Git unless writeBack.capture.allowSecrets is true",
    )


def _kind_name(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind", "")), str((obj.get("metadata") or {}).get("name", ""))


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj.get("kind", "")), str((obj.get("metadata") or {}).get("name", ""))


__all__ = [
    "CaptureSpec",
    "DesiredObject",
    "FieldKey",
    "FieldRule",
    "Found",
    "Held",
    "Refusal",
    "Restored",
    "edit_plan",
    "field_key",
    "find_captures",
    "find_new_objects",
    "held_from_status",
    "held_of",
    "held_to_status",
    "is_secret_key",
    "mask",
    "parse_kinds",
    "pending_labels",
    "restored_previous",
    "value_digest",
    "without_refused",
]
