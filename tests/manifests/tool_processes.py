"""A fake tool that hangs with children, and how to find its processes in /proc.

Shared by the render isolation tests and the operator's SIGTERM test in e2e/.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path


def new_marker() -> str:
    """Digits only: the marker becomes the fraction of the fake tool's ``sleep``."""
    return str(uuid.uuid4().int)[:10]


def hanging_tool(folder: Path, marker: str) -> Path:
    """A fake kustomize that starts a child and a grandchild and never ends."""
    script = folder / "kustomize"
    script.write_text(f"#!/bin/sh\nsh -c 'sleep 3600.{marker}1' &\nsleep 3600.{marker}2 &\nwait\n")
    script.chmod(0o755)
    return script


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for_processes(marker: str, count: int) -> list[int]:
    """The pids of ``count`` processes with ``marker``, waiting until they have started."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = processes_with(marker)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the fake tool's processes did not start: {processes_with(marker)}")


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
