"""Start, record and stop the component processes of a local cluster.

Every component runs in its own process group (session) with its output in
``<run>/logs/<name>.log`` and its PID in ``<run>/pids/<name>.pid``, so that a
later ``tether cluster down`` in another process can stop the whole group.
A PID is only signalled if its command line still names the run folder, so a
recycled PID is never hit. Optionally the children die with their parent
(``PR_SET_PDEATHSIG``), which is what the pytest fixture wants.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.localcluster.errors import ComponentExitedError

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Component:
    """A started component: its name, PID and log file."""

    name: str
    pid: int
    log: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_component(
    run_dir: Path, name: str, argv: Sequence[str], *, die_with_parent: bool
) -> tuple[Component, subprocess.Popen[bytes]]:
    """Start ``argv`` as ``name`` in a new session and record its PID."""
    logs = run_dir / "logs"
    pids = run_dir / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    (pids / f"{name}.pid").write_text(f"{proc.pid}\n")
    return Component(name=name, pid=proc.pid, log=log_path), proc


def check_running(component: Component, proc: subprocess.Popen[bytes]) -> None:
    """Raise ComponentExitedError if the process has exited."""
    code = proc.poll()
    if code is not None:
        raise ComponentExitedError(component.name, code, log_tail(component.log))


def recorded_pids(run_dir: Path) -> dict[str, int]:
    """The PIDs recorded in ``run_dir/pids`` by component name."""
    found: dict[str, int] = {}
    folder = run_dir / "pids"
    if not folder.is_dir():
        return found
    for pid_file in sorted(folder.glob("*.pid")):
        with contextlib.suppress(ValueError):
            found[pid_file.stem] = int(pid_file.read_text().strip())
    return found


def is_ours(pid: int, run_dir: Path) -> bool:
    """True if ``pid`` is alive and its command line mentions ``run_dir``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(run_dir).encode() in cmdline


def stop_components(
    run_dir: Path,
    order: Sequence[str],
    grace: float = _STOP_GRACE_SECONDS,
    *,
    only: bool = False,
) -> list[str]:
    """Stop every recorded component, ``order`` first; return the names stopped.

    Each process group gets SIGTERM, then SIGKILL after a grace period. PID
    files are removed once their process is gone. With ``only``, just the
    components named in ``order`` are stopped.
    """
    pids = recorded_pids(run_dir)
    names = [n for n in order if n in pids]
    if not only:
        names += [n for n in pids if n not in order]
    stopped: list[str] = []
    for name in names:
        pid = pids[name]
        if is_ours(pid, run_dir):
            _terminate_group(pid, run_dir, grace)
            stopped.append(name)
        (run_dir / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if missing)."""
    try:
        data = path.read_bytes()[-64 * 1024 :]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def kill_group(pid: int, run_dir: Path) -> None:
    """SIGKILL a component's process group, as a crash would; return once it is gone."""
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while time.monotonic() < deadline and (is_ours(pid, run_dir) or _group_alive(pid)):
        _reap(pid)
        time.sleep(0.05)


def _terminate_group(pid: int, run_dir: Path, grace: float) -> None:
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_ours(pid, run_dir) and not _group_alive(pid):
            return
        time.sleep(0.05)
    kill_group(pid, run_dir)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    # killpg(…, 0) succeeds for zombies too; look for a member that is not one.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
