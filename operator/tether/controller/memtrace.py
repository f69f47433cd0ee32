"""Opt-in allocation tracing of the running operator, for memory measurements.

With ``TETHER_TRACEMALLOC=/some/file`` in the environment, ``install_from_env``
starts ``tracemalloc`` and, on each SIGUSR1, writes the live allocations of the
Python heap grouped by source line and by file (largest first) to that file.
``TETHER_TRACEMALLOC_FRAMES=N`` keeps N frames per allocation and adds the
largest call chains, and the allocations grouped by holder: the innermost frame
of each chain in Tether or a library, so that a ``json`` or ``copy`` allocation
counts for the Tether (or kopf) line that asked for it. Off by default: tracing costs CPU and memory, so it is for ``bench/`` runs, never
production. It stops at Python allocations: interpreter code objects of imported
modules and C-library heaps show only in RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sysconfig
import tracemalloc
from pathlib import Path

ENV = "TETHER_TRACEMALLOC"
FRAMES_ENV = "TETHER_TRACEMALLOC_FRAMES"  # > 1 adds the top call chains to the dump
TOP = 40
CHAINS = 15
STDLIB = sysconfig.get_paths()["stdlib"] + "/"


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
        chains = snapshot.statistics("traceback")
        out.append("-- by holder")
        for where, (size, count) in by_holder(chains)[:top]:
            out.append(f"{size / 1024:10.1f} KiB {count:8d} blocks  {where}")
        # which callers hold the generic allocations (json, copy) seen by line
        for s in chains[:CHAINS]:
            out.append(f"-- chain {s.size / 1024:.1f} KiB {s.count} blocks")
            out.extend(f"   {f.filename}:{f.lineno}" for f in s.traceback)
    return "\n".join(out) + "\n"


def holder(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of ``traceback`` outside the standard library."""
    for frame in reversed(traceback):  # oldest first: the innermost frame is last
        if not frame.filename.startswith(STDLIB) and not frame.filename.startswith("<"):
            return f"{frame.filename}:{frame.lineno}"
    return f"{traceback[-1].filename}:{traceback[-1].lineno}"


def by_holder(chains: list[tracemalloc.Statistic]) -> list[tuple[str, tuple[int, int]]]:
    """(holder, (bytes, blocks)) of the chains, largest first."""
    totals: dict[str, tuple[int, int]] = {}
    for s in chains:
        where = holder(s.traceback)
        size, count = totals.get(where, (0, 0))
        totals[where] = (size + s.size, count + s.count)
    return sorted(totals.items(), key=lambda item: -item[1][0])


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
