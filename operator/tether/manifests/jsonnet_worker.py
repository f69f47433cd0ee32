"""The Jsonnet evaluator process, and the framed messages it exchanges with Tether.

Run as ``python -I jsonnet_worker.py MEMORY_BYTES CPU_SECONDS PARENT_PID``: the C++
evaluator cannot be interrupted from Python, so it runs in its own process,
which the parent kills at the render's deadline. The process has no view of
any repository: every ``import``, ``importstr`` and ``importbin`` is sent to
the parent as a request, and the parent answers with the file's bytes or a
refusal (see ``jsonnet.py``). Kernel limits on address space and CPU time, and
a parent-death signal, are a second wall should the parent die before it can
kill the process.

This file imports only the standard library and ``_jsonnet``, so the process
starts in tens of milliseconds without loading the rest of Tether.

A message is a JSON header on one line, then ``size`` bytes of payload.
Parent to worker: ``eval`` (payload: the source) and ``found``/``refused``
answers. Worker to parent: ``import`` requests, then ``result`` (payload: the
JSON output) or ``error`` (the evaluator's message).
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

Header = dict[str, Any]


def send(stream: IO[bytes], header: Header, payload: bytes = b"") -> None:
    """Write one message: ``header`` (with the payload's size) and the payload."""
    line = json.dumps({**header, "size": len(payload)}, separators=(",", ":"))
    stream.write(line.encode() + b"\n" + payload)
    stream.flush()


def receive(stream: IO[bytes]) -> tuple[Header, bytes] | None:
    """Read one message, or None at end of stream (the other side has gone)."""
    line = stream.readline()
    if not line.endswith(b"\n"):
        return None
    header: Header = json.loads(line)
    size = int(header.get("size", 0))
    payload = stream.read(size) if size else b""
    if len(payload) != size:
        return None
    return header, payload


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)


def _limit_resources(memory: int, cpu_seconds: int) -> None:
    import resource

    for kind, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu_seconds)):
        if value > 0:
            resource.setrlimit(kind, (value, value))


def _evaluate(header: Header, source: bytes, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    import _jsonnet

    def import_callback(folder: str, target: str) -> tuple[str, bytes]:
        send(stdout, {"op": "import", "dir": folder, "target": target})
        answer = receive(stdin)
        if answer is None:
            raise SystemExit(1)
        reply, content = answer
        if reply["op"] != "found":
            raise RuntimeError(reply.get("reason", "refused"))
        return str(reply["path"]), content

    try:
        output = _jsonnet.evaluate_snippet(
            header["file"],
            source.decode("utf-8", errors="replace"),
            ext_vars=header["ext_vars"],
            ext_codes=header["ext_codes"],
            tla_vars=header["tla_vars"],
            tla_codes=header["tla_codes"],
            max_stack=header["max_stack"],
            max_trace=header["max_trace"],
            import_callback=import_callback,
        )
    except RuntimeError as exc:
        send(stdout, {"op": "error", "message": str(exc)})
        return
    data = output.encode()
    if len(data) > header["max_output"]:
        send(stdout, {"op": "too-large", "bytes": len(data)})
        return
    send(stdout, {"op": "result"}, data)


def main(argv: list[str]) -> int:
    """Evaluate files as the parent sends them, until it closes the pipe."""
    _die_with_parent(int(argv[3]))
    _limit_resources(int(argv[1]), int(argv[2]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (message := receive(stdin)) is not None:
        header, source = message
        _evaluate(header, source, stdin, stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
