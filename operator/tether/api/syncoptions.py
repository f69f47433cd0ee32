"""Sync options: the ``Key=value`` strings of ``syncPolicy.syncOptions``.

``parse_sync_options`` checks a list of them and returns a ``SyncOptions`` value
with one boolean per option, so the planner never looks at strings. The same
syntax is used by Argo CD, which lets existing repositories keep their settings.
"""

from __future__ import annotations

from collections.abc import Iterable

from tether.plan.options import BOOL_OPTIONS, TETHER_OPTIONS, SyncOptions

__all__ = ["SyncOptions", "check_sync_option", "parse_sync_options"]


def _non_default(name: str) -> str:
    return "false" if getattr(SyncOptions(), BOOL_OPTIONS[name]) else "true"


# Option name -> (attribute of SyncOptions, value that differs from the default). The
# planner owns the option table; an Application accepts only the options Tether acts on.
KNOWN_SYNC_OPTIONS: dict[str, tuple[str, str]] = {
    name: (BOOL_OPTIONS[name], _non_default(name)) for name in TETHER_OPTIONS
}

SYNC_OPTION_PATTERN = "^(" + "|".join(KNOWN_SYNC_OPTIONS) + ")=(true|false)$"
ALLOWED_SYNC_OPTIONS = ", ".join(f"{k}={v}" for k, (_, v) in KNOWN_SYNC_OPTIONS.items())


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
    return SyncOptions().override(values)
