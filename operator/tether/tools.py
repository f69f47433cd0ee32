"""Locate the external binaries Tether runs: helm, kustomize, kubectl.

Lookup order for a tool NAME: the ``TETHER_<NAME>`` environment variable, then
``~/.cache/tether/bin/<name>`` (the pinned build from ``e2e/build-tools.sh``),
then ``PATH``. Nothing here downloads anything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ToolNotFoundError(RuntimeError):
    """A required external binary is missing."""


def cache_dir() -> Path:
    """The root cache folder, ``$TETHER_CACHE`` or ``~/.cache/tether``."""
    return Path(os.environ.get("TETHER_CACHE", Path.home() / ".cache" / "tether"))


def find_tool(name: str) -> str:
    """Return the path of ``name`` or raise ToolNotFoundError saying where we looked."""
    env = os.environ.get(f"TETHER_{name.upper()}")
    if env:
        return env
    pinned = cache_dir() / "bin" / name
    if pinned.exists():
        return str(pinned)
    found = shutil.which(name)
    if found:
        return found
    raise ToolNotFoundError(
        f"{name} not found: set TETHER_{name.upper()}, run e2e/build-tools.sh, or put {name} on PATH"
    )
