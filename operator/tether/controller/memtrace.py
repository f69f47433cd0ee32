"""Opt-in allocation tracing of the running operator, for memory measurements.

With ``TETHER_TRACEMALLOC=/some/file`` in the environment, ``install_from_env``
starts ``tracemalloc`` and, on each SIGUSR1, writes the live allocations of the
Python heap grouped by source line and by file (largest first) to that file.
``TETHER_TRACEMALLOC_FRAMES=N`` keeps N frames per allocation and adds the
largest call chains. Off by default: tracing costs CPU and memory, so it is for ``bench/`` runs, never
production. It stops at Python allocations: interpreter code objects of imported
modules and C-library heaps show only in RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tracemalloc
from pathlib import Path

ENV = "TETHER_TRACEMALLOC"
FRAMES_ENV = "TETHER_TRACEMALLOC_FRAMES"  # > 1 adds the top call chains to the dump
TOP = 40
CHAINS = 15


def format_snapshot(snapshot: tracemalloc.Snapshot, top: int = TOP) -> str:
    """The traced total, then the ``top`` lines and files by size."""
    by_line = snapshot.statistics("lineno")
    total = sum(s.size for s in by_line)
    out = [f"traced total: {total / 2**20:.2f} MiB in {sum(s.count for s in by_line)} blocks"]
    for group, stats in (
        ("by line", by_line[:top]),
        ("by file", snapshot.statistics("filename")[:top]),
    ):
        out.append(f"-- {group}")
        for s in stats:
            frame = s.traceback[0]
            where = frame.filename if group == "by file" else f"{frame.filename}:{frame.lineno}"
            out.append(f"{s.size / 1024:10.1f} KiB {s.count:8d} blocks  {where}")
    if tracemalloc.get_traceback_limit() > 1:
        # which callers hold the generic allocations (json, copy) seen by line
        for s in snapshot.statistics("traceback")[:CHAINS]:
            out.append(f"-- chain {s.size / 1024:.1f} KiB {s.count} blocks")
            out.extend(f"   {f.filename}:{f.lineno}" for f in s.traceback)
    return "\n".join(out) + "\n"


def dump(path: Path) -> None:
    # written aside and renamed, so a reader waiting for the file never sees half of it
    partial = path.with_name(path.name + ".partial")
    partial.write_text(format_snapshot(tracemalloc.take_snapshot()))
    partial.replace(path)


def install_from_env() -> None:
    """Start tracing and dump on SIGUSR1 when ``TETHER_TRACEMALLOC`` names a file."""
    target = os.environ.get(ENV)
    if not target:
        return
    tracemalloc.start(int(os.environ.get(FRAMES_ENV) or 1))
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, Path(target))
