"""Sync options: the ``Key=value`` strings of ``syncPolicy.syncOptions``.

``parse_sync_options`` checks a list of them and returns a ``SyncOptions`` value
with one boolean per option, so the planner never looks at strings. The same
syntax is used by Argo CD, which lets existing repositories keep their settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Option name -> (attribute of SyncOptions, value that differs from the default).
KNOWN_SYNC_OPTIONS: dict[str, tuple[str, str]] = {
    "Prune": ("prune", "false"),
    "Replace": ("replace", "true"),
    "Force": ("force", "true"),
    "ServerSideApply": ("server_side_apply", "true"),
    "CreateNamespace": ("create_namespace", "true"),
    "ApplyOutOfSyncOnly": ("apply_out_of_sync_only", "true"),
    "PruneLast": ("prune_last", "true"),
    "SkipDryRunOnMissingResource": ("skip_dry_run_on_missing_resource", "true"),
}

SYNC_OPTION_PATTERN = "^(" + "|".join(KNOWN_SYNC_OPTIONS) + ")=(true|false)$"
ALLOWED_SYNC_OPTIONS = ", ".join(f"{k}={v}" for k, (_, v) in KNOWN_SYNC_OPTIONS.items())


@dataclass(frozen=True)
class SyncOptions:
    """The effective sync options; each field is the option's default when unset."""

    prune: bool = True
    replace: bool = False
    force: bool = False
    server_side_apply: bool = False
    create_namespace: bool = False
    apply_out_of_sync_only: bool = False
    prune_last: bool = False
    skip_dry_run_on_missing_resource: bool = False


def check_sync_option(option: str) -> str:
    """Return ``option`` if it is a known ``Key=true|false``; else a ValueError listing them."""
    key, sep, value = option.partition("=")
    if not sep or key not in KNOWN_SYNC_OPTIONS or value not in ("true", "false"):
        raise ValueError(f"unknown sync option {option!r}: allowed are {ALLOWED_SYNC_OPTIONS}")
    return option


def parse_sync_options(options: Iterable[str]) -> SyncOptions:
    """The SyncOptions a list of option strings sets; a key set twice must agree."""
    values: dict[str, bool] = {}
    for option in options:
        check_sync_option(option)
        key, _, value = option.partition("=")
        attr = KNOWN_SYNC_OPTIONS[key][0]
        flag = value == "true"
        if values.get(attr, flag) != flag:
            raise ValueError(f"sync option {key} is set to both true and false: keep one")
        values[attr] = flag
    return SyncOptions(**values)
