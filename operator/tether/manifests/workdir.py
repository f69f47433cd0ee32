"""Private working folders for render tools, removed on every exit path.

Layout, under the system temp folder::

    tether-render-<uid>/          0700, must be ours: refused if another user made it
      <pid>-<start>/              one per process; <start> is the kernel's start time
        kustomize-XXXXXXXX/       one per render (0700), removed when the render ends

``render_workdir`` yields a fresh per-render folder and removes it whatever
happens (error, timeout, KeyboardInterrupt, SystemExit). The process folder
goes at interpreter exit. A process killed with SIGKILL leaves its folder
behind; the first render of the next process (and the operator at startup,
through ``prepare``) removes every process folder whose pid is dead, or whose
pid now belongs to a different process (a restarted container is pid 1 again),
which the start time tells apart.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tether.manifests.errors import RenderToolError

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Path] = {}


def parent_dir() -> Path:
    """The well-known folder that holds every process folder of this user."""
    return Path(tempfile.gettempdir()) / f"tether-render-{os.getuid()}"


def prepare() -> Path:
    """Create (once) this process's folder after sweeping stale ones; return it."""
    with _lock:
        mine = _state.get("process")
        if mine is not None and mine.is_dir():
            return mine
        parent = _private_parent()
        removed = sweep_stale(parent)
        if removed:
            log.info("removed %d render folder(s) left by stopped processes", len(removed))
        mine = parent / process_name(os.getpid())
        mine.mkdir(mode=0o700, exist_ok=True)
        if "process" not in _state:
            atexit.register(remove_process_dir)
        _state["process"] = mine
        return mine


@contextmanager
def render_workdir(kind: str) -> Iterator[Path]:
    """A new private folder for one render; removed when the block exits, however it exits."""
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=prepare()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale(parent: Path | None = None) -> list[str]:
    """Remove the process folders under ``parent`` whose process is gone; return their names."""
    parent = parent or parent_dir()
    removed = []
    try:
        children = list(parent.iterdir())
    except FileNotFoundError:
        return []
    for child in children:
        if not _alive(child.name):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed


def remove_process_dir() -> None:
    """Remove this process's folder (at exit; renders in flight have ended by then)."""
    mine = _state.get("process")
    if mine is not None:
        shutil.rmtree(mine, ignore_errors=True)


def process_name(pid: int) -> str:
    """``<pid>-<start time>``, or just ``<pid>`` where /proc is not available."""
    start = _start_time(pid)
    return f"{pid}-{start}" if start else str(pid)


def _alive(name: str) -> bool:
    pid_text, _, start = name.partition("-")
    if not pid_text.isdigit():
        return True  # not ours to judge: leave it
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a live process of another user
    return not start or _start_time(pid) == start


def _start_time(pid: int) -> str:
    """The process start time (clock ticks since boot) from /proc, or "" when unknown."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = raw.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat, 3 is the first here


def _private_parent() -> Path:
    """Create the parent folder 0700, or refuse it when someone else owns it."""
    parent = parent_dir()
    with suppress(FileExistsError):
        parent.mkdir(mode=0o700)
    info = os.lstat(parent)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RenderToolError(
            "is not a folder owned by this user; refusing to render in it", file=str(parent)
        )
    if info.st_mode & 0o077:
        os.chmod(parent, 0o700)
    return parent
