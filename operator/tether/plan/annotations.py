"""Reading hook phases, waves and hook delete policies from an object's annotations.

Tether's own annotations win over Argo CD's, which win over Helm's. Helm hook types
map onto phases (``pre-install``/``pre-upgrade``/``crd-install`` -> PreSync,
``post-install``/``post-upgrade`` -> PostSync); Helm's test, delete and rollback hooks
have no counterpart in a sync, so an object carrying only those is skipped, as are
Argo CD's ``PreDelete``/``PostDelete`` hooks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidHookError, InvalidWaveError


class Phase(enum.StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"

    @property
    def rank(self) -> int:
        return _PHASE_RANK[self]


_PHASE_RANK = {Phase.PRE_SYNC: 0, Phase.SYNC: 1, Phase.POST_SYNC: 2, Phase.SYNC_FAIL: 3}


class DeletePolicy(enum.StrEnum):
    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


HOOK_ANNOTATIONS = ("tether.dev/hook", "argocd.argoproj.io/hook")
HELM_HOOK = "helm.sh/hook"
WAVE_ANNOTATIONS = ("tether.dev/sync-wave", "argocd.argoproj.io/sync-wave")
HELM_WEIGHT = "helm.sh/hook-weight"
DELETE_POLICY_ANNOTATIONS = (
    "tether.dev/hook-delete-policy",
    "argocd.argoproj.io/hook-delete-policy",
    "helm.sh/hook-delete-policy",
)

_HOOK_TYPES = {p.value: p for p in Phase}
_IGNORED_HOOK_TYPES = ("PreDelete", "PostDelete")
_HELM_PHASES = {
    "pre-install": Phase.PRE_SYNC,
    "pre-upgrade": Phase.PRE_SYNC,
    "crd-install": Phase.PRE_SYNC,
    "post-install": Phase.POST_SYNC,
    "post-upgrade": Phase.POST_SYNC,
}
_DELETE_POLICIES = {p.value: p for p in DeletePolicy} | {
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": DeletePolicy.HOOK_FAILED,
}
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class HookSpec:
    """What an object's annotations say about it being a hook.

    ``phases`` is empty for ordinary resources; ``skip`` is set for objects that must
    not be applied at all (``Skip``, or only hook types with no sync counterpart).
    """

    phases: tuple[Phase, ...] = ()
    skip: bool = False
    source: str = ""

    @property
    def is_hook(self) -> bool:
        return bool(self.phases)


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def hook_spec(obj: Mapping[str, Any], where: str) -> HookSpec:
    annotations = annotations_of(obj)
    for annotation in HOOK_ANNOTATIONS:
        value = annotations.get(annotation)
        if isinstance(value, str):
            return _argo_style_hook(value, annotation, where)
    helm = annotations.get(HELM_HOOK)
    if isinstance(helm, str):
        phases = _unique(_HELM_PHASES[t] for t in _items(helm) if t in _HELM_PHASES)
        return HookSpec(phases, skip=not phases, source=HELM_HOOK)
    return HookSpec()


def _argo_style_hook(value: str, annotation: str, where: str) -> HookSpec:
    phases: list[Phase] = []
    skip = False
    for item in _items(value):
        if item == "Skip":
            skip = True
        elif item in _HOOK_TYPES:
            phases.append(_HOOK_TYPES[item])
        elif item not in _IGNORED_HOOK_TYPES:
            raise InvalidHookError(where, annotation, value, f"unknown hook type {item}")
    if not phases and not skip:
        skip = True  # only PreDelete/PostDelete, or an empty value: nothing to run in a sync
    return HookSpec(() if skip else _unique(phases), skip=skip, source=annotation)


def _unique(phases: Any) -> tuple[Phase, ...]:
    return tuple(sorted(set(phases), key=lambda p: p.rank))


def wave(obj: Mapping[str, Any], where: str, *, is_hook: bool) -> int:
    """The sync wave: the wave annotation, else Helm's hook weight for hooks, else 0."""
    annotations = annotations_of(obj)
    candidates = list(WAVE_ANNOTATIONS) + ([HELM_WEIGHT] if is_hook else [])
    for annotation in candidates:
        value = annotations.get(annotation)
        if value is None:
            continue
        text = str(value).strip() if isinstance(value, str | int) else None
        if text is None or not _INT_RE.match(text):
            raise InvalidWaveError(where, annotation, str(value), "expected an integer")
        return int(text)
    return 0


def delete_policies(obj: Mapping[str, Any], where: str) -> tuple[DeletePolicy, ...]:
    """The hook delete policies; BeforeHookCreation when none is set."""
    annotations = annotations_of(obj)
    for annotation in DELETE_POLICY_ANNOTATIONS:
        value = annotations.get(annotation)
        if not isinstance(value, str):
            continue
        policies = []
        for item in _items(value):
            if item not in _DELETE_POLICIES:
                raise InvalidHookError(where, annotation, value, f"unknown delete policy {item}")
            policies.append(_DELETE_POLICIES[item])
        if policies:
            return tuple(sorted(set(policies), key=list(DeletePolicy).index))
    return (DeletePolicy.BEFORE_HOOK_CREATION,)
