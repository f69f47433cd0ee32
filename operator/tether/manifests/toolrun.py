"""Run helm or kustomize: clean environment, confinement, deadline, bounded output.

The child gets a minimal environment (PATH, a throw-away HOME and TMPDIR,
plus what the caller adds), so no cloud or cluster credentials of the
operator reach it. Given the render's private folder (``confine``), it runs
through ``jail.py`` in a mount namespace that shows only that folder and the
system's read-only binaries, when the kernel allows it (detected once; a pod
without CAP_SYS_ADMIN falls back, logged at debug, to the reference checks
made before any tool runs). Output goes to temporary files rather than
pipes, so a runaway tool cannot fill memory; its size is checked before it
is read. The child leads its own process group: at its deadline, on any
exception in the caller, and on ``stop_tools`` (the operator's SIGTERM) the
whole group is killed. Errors carry the tool's stderr, trimmed, with
temporary paths removed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from tether.manifests.errors import RenderTimeoutError, RenderToolError, SizeLimitError

log = logging.getLogger(__name__)

JAIL_SCRIPT = Path(__file__).with_name("jail.py")
# Read-only inside the jail: system binaries and libraries (no secrets live there).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/dev/null", "/dev/urandom")
_KILL_GRACE = 5.0


class RenderStoppedError(RenderToolError):
    """A tool run was stopped because Tether is shutting down."""


class _Running:
    """The tool process groups alive now, and whether new runs are refused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processes: set[subprocess.Popen[bytes]] = set()
        self.stopping = False


_running = _Running()


def stop_tools() -> int:
    """Kill every running tool's process group and refuse new runs; return how many."""
    with _running.lock:
        _running.stopping = True
        processes = list(_running.processes)
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return len(processes)


def allow_tools() -> None:
    """Accept tool runs again (at operator start; ``stop_tools`` is for shutdown)."""
    with _running.lock:
        _running.stopping = False


def track(process: subprocess.Popen[bytes], *, file: str) -> None:
    """Count a long-lived helper process (e.g. the Jsonnet evaluator) among the running
    tools, so ``stop_tools`` kills its group too; refuse it once shutdown began."""
    with _running.lock:
        stopping = _running.stopping
        if not stopping:
            _running.processes.add(process)
    if stopping:
        kill_group(process)
        raise RenderStoppedError("render stopped: Tether is shutting down", file=file)


def stopping() -> bool:
    """Whether shutdown began (``stop_tools`` was called)."""
    return _running.stopping


def untrack(process: subprocess.Popen[bytes]) -> None:
    with _running.lock:
        _running.processes.discard(process)


def check_not_stopping(*, file: str) -> None:
    """Raise RenderStoppedError once shutdown began, so long exports stop early too."""
    if _running.stopping:
        raise RenderStoppedError("render stopped: Tether is shutting down", file=file)


@functools.cache
def jail_available() -> bool:
    """Whether this kernel and these privileges allow the mount-namespace jail."""
    if not sys.platform.startswith("linux"):
        return False
    with tempfile.TemporaryDirectory(prefix="tether-jail-probe-") as probe:
        try:
            done = subprocess.run(
                ["--probe" if arg == "--" else arg for arg in jailed(["/bin/true"], Path(probe))],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("render jail unavailable: %s", exc)
            return False
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()
        log.debug("render jail unavailable, reference checks only: %s", reason)
        return False
    return True


def jailed(argv: list[str], root: Path) -> list[str]:
    """``argv`` wrapped to run with only ``root`` and the system binaries visible."""
    tool = os.path.abspath(argv[0])
    binds = [(path, path) for path in SYSTEM_PATHS]
    real = os.path.realpath(tool)
    binds += [(real, real), (real, tool)]
    flat = [item for source, target in binds for item in ("--ro", source, target)]
    return [sys.executable, "-I", "-S", str(JAIL_SCRIPT), str(root), *flat, "--", tool, *argv[1:]]


STDERR_LINES = 15
STDERR_CHARS = 1500


def tool_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a tool run, rooted in the throw-away folder ``home``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def run_tool(
    argv: list[str],
    *,
    file: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    max_output_bytes: int,
    scrub: Mapping[str, str] | None = None,
    confine: Path | None = None,
) -> bytes:
    """Run ``argv`` and return its stdout; raise RenderToolError naming ``file``.

    With ``confine`` (the render's private folder, holding ``cwd`` and every
    path the tool needs), the tool runs jailed to it where the kernel allows.
    """
    name = Path(argv[0]).name
    if confine is not None and jail_available():
        argv = jailed(argv, confine)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = _run(argv, name, file=file, env=env, cwd=cwd, timeout=timeout, out=out, err=err)
        if code != 0:
            detail = trim_stderr(_read_all(err), scrub or {})
            raise RenderToolError(f"{name} failed (exit {code}): {detail}", file=file)
        size = os.fstat(out.fileno()).st_size
        if size > max_output_bytes:
            raise SizeLimitError(
                f"{name} printed {size:,} bytes, over the limit of {max_output_bytes:,}", file=file
            )
        return _read_all(out)


def trim_stderr(raw: bytes, scrub: Mapping[str, str]) -> str:
    """The last lines of a tool's stderr on one line, with temp paths replaced."""
    text = raw.decode("utf-8", errors="replace")
    for secret_path, shown in sorted(scrub.items(), key=lambda item: -len(item[0])):
        text = text.replace(secret_path, shown)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-STDERR_LINES:]) or "(no error output)"
    return joined if len(joined) <= STDERR_CHARS else "..." + joined[-STDERR_CHARS:]


def _run(
    argv: list[str],
    name: str,
    *,
    file: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    out: IO[bytes],
    err: IO[bytes],
) -> int:
    """Start the tool in its own process group, wait for it, and kill the group on any exit
    but a normal one; return the exit code."""
    with _running.lock:
        if _running.stopping:
            raise RenderStoppedError("render stopped: Tether is shutting down", file=file)
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise RenderToolError(f"cannot run {name}: {exc.strerror}", file=file) from None
        _running.processes.add(process)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise RenderTimeoutError(
            f"{name} did not finish within {timeout:g} s and was stopped", file=file
        ) from None
    except BaseException:
        kill_group(process)
        raise
    finally:
        with _running.lock:
            _running.processes.discard(process)
    if _running.stopping:
        kill_group(process)  # what the tool started must not outlive it
        raise RenderStoppedError("render stopped: Tether is shutting down", file=file)
    return code


def _read_all(stream: IO[bytes]) -> bytes:
    stream.seek(0)
    return stream.read()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the tool's whole process group, reap it, and wait until no member is left
    running (children that daemonised within the group included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + _KILL_GRACE
    while _group_members(process.pid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.01)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in group ``pgid``, read from /proc ([] without /proc)."""
    members = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(entry.name))
    return members
