"""Run helm or kustomize: clean environment, timeout, bounded output, clear errors.

The child gets a minimal environment (PATH, a throw-away HOME and TMPDIR,
plus what the caller adds), so no cloud or cluster credentials of the
operator reach it. Output goes to temporary files rather than pipes, so a
runaway tool cannot fill memory; its size is checked before it is read.
Errors carry the tool's stderr, trimmed, with temporary paths removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from tether.manifests.errors import RenderTimeoutError, RenderToolError, SizeLimitError

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
) -> bytes:
    """Run ``argv`` and return its stdout; raise RenderToolError naming ``file``."""
    name = Path(argv[0]).name
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
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
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise RenderTimeoutError(
                f"{name} did not finish within {timeout:g} s and was stopped", file=file
            ) from None
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


def _read_all(stream: IO[bytes]) -> bytes:
    stream.seek(0)
    return stream.read()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
