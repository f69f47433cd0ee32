"""Sync options: parsed from the app's ``syncOptions`` and the objects' annotations.

Options come as ``Name=value`` strings, comma-separated in the annotations
``tether.dev/sync-options`` and ``argocd.argoproj.io/sync-options``. An object's own
options override the app's. Unknown names or values are errors naming where they came
from. Besides the options Tether acts on, the ones Argo CD repositories commonly carry
(Validate, PrunePropagationPolicy, RespectIgnoreDifferences, FailOnSharedResource,
Delete) are accepted and carried along so such repositories sync unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from tether.constants import SYNC_OPTION_ANNOTATIONS

from .errors import InvalidSyncOptionError, PlanFormatError

OPTION_ANNOTATIONS = SYNC_OPTION_ANNOTATIONS

# Option name -> SyncOptions field, for every option that takes true/false.
BOOL_OPTIONS: Mapping[str, str] = {
    "Prune": "prune",
    "Replace": "replace",
    "Force": "force",
    "ServerSideApply": "server_side_apply",
    "CreateNamespace": "create_namespace",
    "ApplyOutOfSyncOnly": "apply_out_of_sync_only",
    "PruneLast": "prune_last",
    "SkipDryRunOnMissingResource": "skip_dry_run_on_missing_resource",
    "Validate": "validate",
    "RespectIgnoreDifferences": "respect_ignore_differences",
    "FailOnSharedResource": "fail_on_shared_resource",
    "Delete": "delete",
    "PruneNonEmptyNamespace": "prune_non_empty_namespace",
}
_BOOL_OPTIONS = BOOL_OPTIONS
# The options Tether acts on; the rest of BOOL_OPTIONS is accepted for Argo CD
# compatibility in object annotations only.
TETHER_OPTIONS: tuple[str, ...] = (
    "Prune",
    "Replace",
    "Force",
    "ServerSideApply",
    "CreateNamespace",
    "ApplyOutOfSyncOnly",
    "PruneLast",
    "SkipDryRunOnMissingResource",
    "PruneNonEmptyNamespace",
)
_PROPAGATION = ("foreground", "background", "orphan")


@dataclass(frozen=True)
class SyncOptions:
    """Resolved options for one task (defaults are those of a plain sync)."""

    prune: bool = True
    replace: bool = False
    force: bool = False
    server_side_apply: bool = False
    create_namespace: bool = False
    apply_out_of_sync_only: bool = False
    prune_last: bool = False
    skip_dry_run_on_missing_resource: bool = False
    validate: bool = True
    respect_ignore_differences: bool = False
    fail_on_shared_resource: bool = False
    delete: bool = True
    # A Namespace that still holds objects this app does not own is not pruned unless
    # its own annotation sets this (see kube.prune).
    prune_non_empty_namespace: bool = False
    prune_propagation_policy: str = "foreground"

    def override(self, settings: Mapping[str, Any]) -> SyncOptions:
        """These options with ``settings`` (field name -> value) laid on top."""
        return replace(self, **settings) if settings else self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncOptions:
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise PlanFormatError(f"sync options: unknown fields {sorted(unknown)}")
        for name, value in data.items():
            expected = str if name == "prune_propagation_policy" else bool
            if not isinstance(value, expected):
                raise PlanFormatError(f"sync options: {name} must be {expected.__name__}")
        return cls(**data)


def parse_option_strings(items: Iterable[str], where: str, source: str) -> dict[str, Any]:
    """``["Prune=false", ...]`` -> ``{"prune": False, ...}``; ``source`` names the setting."""
    settings: dict[str, Any] = {}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise InvalidSyncOptionError(where, source, item, "expected Name=value")
        if name == "PrunePropagationPolicy":
            if value.lower() not in _PROPAGATION:
                raise InvalidSyncOptionError(
                    where, source, item, f"expected one of {', '.join(_PROPAGATION)}"
                )
            settings["prune_propagation_policy"] = value.lower()
            continue
        field = _BOOL_OPTIONS.get(name)
        if field is None:
            raise InvalidSyncOptionError(where, source, item, f"unknown sync option {name}")
        if value.lower() not in ("true", "false"):
            raise InvalidSyncOptionError(where, source, item, "expected true or false")
        settings[field] = value.lower() == "true"
    return settings


def object_option_settings(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The option settings an object's annotations carry (Tether's win over Argo CD's)."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping):
        return {}
    settings: dict[str, Any] = {}
    for annotation in reversed(OPTION_ANNOTATIONS):
        value = annotations.get(annotation)
        if isinstance(value, str):
            settings.update(parse_option_strings(value.split(","), where, annotation))
    return settings


def app_options(items: Iterable[str], app: str) -> SyncOptions:
    """The app-level options from ``spec.syncPolicy.syncOptions``."""
    return SyncOptions().override(parse_option_strings(items, app, "syncPolicy.syncOptions"))
