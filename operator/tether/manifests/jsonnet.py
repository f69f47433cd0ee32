"""Evaluate a directory's ``*.jsonnet`` files as Argo CD does, inside the repository.

Each file is evaluated with the options' extVars and top-level arguments; its
output is one object, an array of objects, or a ``List`` (flattened). Objects
remember their file, and their index in an array as the document index.

The evaluator (the official ``jsonnet`` binding) runs in a worker process
(``jsonnet_worker.py``), one per render, killed at the render's deadline: the
C++ evaluator cannot be interrupted in a thread. The worker reads nothing
itself. Every ``import``/``importstr``/``importbin`` comes back here and is
resolved against the FileTree, like go-jsonnet's importer in Argo CD: relative
to the importing file's folder, then in the ``libs`` folders (last first),
then in the source folder. An import whose path leaves the repository (an
absolute path, a ``..`` chain past the root, a symlink out) is refused, naming
the importing file and the import. Each imported file is read once per render
and counted against the Budget; so is the output.

Evaluation errors keep the evaluator's ``file:line:col`` (paths are repository
paths, so nothing needs scrubbing), on one line.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from tether.manifests import jsonnet_worker, toolrun
from tether.manifests.errors import (
    InvalidObjectError,
    JsonnetError,
    JsonnetImportEscapeError,
    ManifestError,
    ManifestPathEscapeError,
    Position,
    RenderTimeoutError,
    SizeLimitError,
    SourceNotFoundError,
)
from tether.manifests.jsonstream import load_json_documents
from tether.manifests.limits import Budget, Limits, MiB
from tether.manifests.objects import Manifest, ObjectSource, collect_objects
from tether.manifests.options import JsonnetOptions, JsonnetVar
from tether.manifests.toolrun import trim_stderr
from tether.manifests.treeio import read_file, tree_kind
from tether.tree import FileTree, PathEscapeError, split_tree_path

JSONNET_SUFFIX = ".jsonnet"
MAX_TRACE = 20
MAX_MESSAGE_CHARS = 500
_LOCATION = re.compile(r"^(?P<file>.+?):\(?(?P<line>\d+):(?P<col>\d+)")


@dataclass(frozen=True)
class ImportRefusal:
    """An import the parent refused; raised once the evaluator reports where it was."""

    target: str
    reason: str
    folder: str


def is_jsonnet_file(name: str) -> bool:
    """True for an entry point (``*.jsonnet``); ``*.libsonnet`` files are only imported."""
    return name.endswith(JSONNET_SUFFIX)


class JsonnetSession:
    """One render's Jsonnet files, evaluated in turn by one worker process.

    Use as a context manager; the worker starts at the first ``evaluate`` and
    is killed on exit, whatever happened.
    """

    def __init__(self, tree: FileTree, source: str, options: JsonnetOptions, budget: Budget):
        self._tree = tree
        self._source = source
        self._options = options
        self._budget = budget
        self._libs = _check_libs(tree, source, options.libs)
        self._imports: dict[str, bytes] = {}
        self._worker: _Worker | None = None

    def __enter__(self) -> JsonnetSession:
        return self

    def __exit__(self, *_: object) -> None:
        if self._worker is not None:
            self._worker.stop()

    def evaluate(self, file: str, source: bytes) -> list[Manifest]:
        """The objects of the Jsonnet file ``file`` whose text is ``source``."""
        if self._worker is None:
            self._worker = _Worker(self._budget.limits, file)
        worker = self._worker
        header = self._eval_header(file)
        refusals: list[ImportRefusal] = []
        with worker.guard(file):
            worker.send(header, source)
            while True:
                reply, payload = worker.receive(file)
                if reply["op"] != "import":
                    break
                self._answer(worker, reply["dir"], reply["target"], refusals)
        if reply["op"] == "error":
            raise evaluation_error(reply["message"], file, refusals, self._known_files(file))
        if reply["op"] == "too-large":
            raise SizeLimitError(
                f"Jsonnet output is {reply['bytes']:,} bytes, over the limit of "
                f"{header['max_output']:,}",
                file=file,
            )
        self._budget.add_bytes(len(payload), file=file)
        return _objects(payload, file, self._budget)

    def _eval_header(self, file: str) -> dict[str, Any]:
        limits = self._budget.limits
        ext_vars, ext_codes = _split_vars(self._options.ext_vars)
        tla_vars, tla_codes = _split_vars(self._options.tlas)
        return {
            "op": "eval",
            "file": file,
            "ext_vars": ext_vars,
            "ext_codes": ext_codes,
            "tla_vars": tla_vars,
            "tla_codes": tla_codes,
            "max_stack": limits.jsonnet_max_stack,
            "max_trace": MAX_TRACE,
            "max_output": max(0, limits.max_total_bytes - self._budget.bytes),
        }

    def _answer(
        self, worker: _Worker, folder: str, target: str, refusals: list[ImportRefusal]
    ) -> None:
        try:
            path = resolve_import(self._tree, folder, target, self._libs, self._source)
        except _ImportRefused as refused:
            refusals.append(ImportRefusal(target, refused.reason, folder))
            worker.send({"op": "refused", "reason": refused.reason})
            return
        except ManifestError as broken:  # a symlink loop, say: the evaluator says where
            worker.send({"op": "refused", "reason": str(broken)})
            return
        if path is None:
            worker.send({"op": "refused", "reason": "not found in the repository"})
            return
        if path not in self._imports:
            self._imports[path] = read_file(self._tree, path, self._budget)
        worker.send({"op": "found", "path": path}, self._imports[path])

    def _known_files(self, file: str) -> frozenset[str]:
        return frozenset({file, *self._imports})


class _ImportRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_import(
    tree: FileTree, folder: str, target: str, libs: tuple[str, ...], source: str
) -> str | None:
    """The repository path ``target`` names when imported from ``folder``, or None.

    Candidates in go-jsonnet's order: the importing folder, the libs (last
    first), the source folder. Raises _ImportRefused for any candidate that
    leaves the repository, so a refused import never falls through to another.
    """
    if target.startswith("/"):
        raise _ImportRefused("an absolute path leaves the repository")
    if not target or "\0" in target or "\\" in target:
        raise _ImportRefused("not a relative POSIX path")
    for base in _unique((folder.rstrip("/"), *reversed(libs), source)):
        candidate = posixpath.normpath(posixpath.join(base, target))
        if candidate == ".." or candidate.startswith("../"):
            raise _ImportRefused(f"the '..' chain leaves the repository (from {base or '.'}/)")
        try:
            kind = tree_kind(tree, candidate)
        except ManifestPathEscapeError:
            raise _ImportRefused(f"{candidate} is a symlink that leaves the repository") from None
        if kind == "file":
            return candidate
    return None


def _unique(folders: tuple[str, ...]) -> Iterator[str]:
    seen: set[str] = set()
    for folder in folders:
        if folder not in seen:
            seen.add(folder)
            yield folder


def _check_libs(tree: FileTree, source: str, libs: tuple[str, ...]) -> tuple[str, ...]:
    """The lib folders as repository paths; refuse one outside the repository or missing."""
    checked = []
    for lib in libs:
        shown = source or "."
        try:
            path = "/".join(split_tree_path(lib))
        except PathEscapeError:
            raise ManifestPathEscapeError(
                f"Jsonnet lib folder {lib!r} lies outside the repository", file=shown
            ) from None
        try:
            kind = tree_kind(tree, path)
        except ManifestPathEscapeError:
            raise ManifestPathEscapeError(
                f"Jsonnet lib folder {lib!r} is a symlink that leaves the repository", file=shown
            ) from None
        if kind != "dir":
            raise SourceNotFoundError(
                f"Jsonnet lib folder {lib!r} is not a folder in the repository", file=shown
            )
        checked.append(path)
    return tuple(checked)


def _split_vars(variables: tuple[JsonnetVar, ...]) -> tuple[dict[str, str], dict[str, str]]:
    strings = {v.name: v.value for v in variables if not v.code}
    codes = {v.name: v.value for v in variables if v.code}
    return strings, codes


def _objects(output: bytes, file: str, budget: Budget) -> list[Manifest]:
    """Objects of one file's JSON output: an object, an array of objects, or a List."""
    documents = load_json_documents(output.decode("utf-8", errors="replace"), file=file)
    value = documents[0].value if documents else None
    if isinstance(value, dict):
        found = collect_objects(value, ObjectSource(file, 0), strict=True)
    elif isinstance(value, list):
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise InvalidObjectError(
                    f"array item {index} is {_kind_of(item)}, not an object", file=file, doc=index
                )
            found.extend(collect_objects(item, ObjectSource(file, index), strict=True))
    else:
        raise InvalidObjectError(
            f"the output is {_kind_of(value)}; a Jsonnet file must give an object or an array "
            "of objects",
            file=file,
        )
    budget.add_objects(len(found), file=file)
    return found


def _kind_of(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", str: "a string", list: "an array"}
    return names.get(type(value), "a number")


def evaluation_error(
    text: str, file: str, refusals: list[ImportRefusal], known: frozenset[str]
) -> ManifestError:
    """The evaluator's message as a typed, one-line error naming ``file:line``."""
    message, positions = parse_error(text, known)
    position = positions[0] if positions else None
    if refusals:
        refusal = refusals[0]
        cause = f"import {refusal.target!r} refused: {refusal.reason}"
        if position is None:
            cause += f" (imported from a file in {refusal.folder or './'})"
        return JsonnetImportEscapeError(cause, file=file, position=position)
    caller = next((p for p in positions if p.file == file), None)
    if position is not None and position.file != file and caller is not None:
        message += f" (from {caller})"
    return JsonnetError(message, file=file, position=position)


def parse_error(text: str, known: frozenset[str]) -> tuple[str, list[Position]]:
    """The message of a jsonnet error text, and its positions, most useful first.

    ``STATIC ERROR: f:1:8: msg`` and ``RUNTIME ERROR: msg`` followed by tab
    indented ``f:2:5-17  <description>`` frames, innermost first. Frames in
    repository files (``known``) come first, so std.jsonnet's do not hide them.
    """
    lines = text.strip().splitlines() or [""]
    first = lines[0]
    for prefix in ("STATIC ERROR: ", "RUNTIME ERROR: "):
        first = first.removeprefix(prefix)
    positions = [p for p in (_position(line.strip().split("\t")[0]) for line in lines[1:]) if p]
    static = _position(first)
    if static is not None and not positions:
        first = first.split(": ", 1)[1] if ": " in first else first
        positions = [static]
    preferred = [p for p in positions if p.file in known]
    if any(line.strip() == "Top-level function" for line in lines[1:]):
        first += " (top-level arguments: directory.jsonnet.tlas, --jsonnet-tla)"
    return _one_line(first), preferred + [p for p in positions if p not in preferred]


def _position(text: str) -> Position | None:
    match = _LOCATION.match(text)
    if match is None:
        return None
    return Position(match["file"], int(match["line"]), int(match["col"]))


def _one_line(text: str) -> str:
    joined = " ".join(text.split())
    return joined if len(joined) <= MAX_MESSAGE_CHARS else joined[:MAX_MESSAGE_CHARS] + "..."


class _Worker:
    """The evaluator process: framed messages over its stdin/stdout, killed at the deadline."""

    def __init__(self, limits: Limits, file: str) -> None:
        timeout = limits.tool_timeout
        self._timeout = timeout
        self._memory = limits.jsonnet_max_memory
        # Closed in stop(): the worker outlives this call.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        argv = [
            sys.executable,
            "-I",
            jsonnet_worker.__file__,
            str(limits.jsonnet_max_memory),
            str(int(timeout) + 2),
            str(os.getpid()),
        ]
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd="/",
                env={"LANG": "C.UTF-8"},
                start_new_session=True,
            )
        except OSError as exc:
            self._stderr.close()
            raise JsonnetError(
                f"cannot start the Jsonnet evaluator: {exc.strerror}", file=file
            ) from None
        toolrun.track(self._process, file=file)  # killed with the other tools at SIGTERM
        self._timed_out = threading.Event()
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self._timed_out.set()
        self._kill()

    @contextlib.contextmanager
    def guard(self, file: str) -> Iterator[None]:
        """Turn a dead worker's broken pipe into the error that killed it."""
        try:
            yield
        except (BrokenPipeError, ConnectionResetError):
            raise self._death(file) from None

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        assert self._process.stdin is not None
        jsonnet_worker.send(self._process.stdin, header, payload)

    def receive(self, file: str) -> tuple[dict[str, Any], bytes]:
        assert self._process.stdout is not None
        message = jsonnet_worker.receive(self._process.stdout)
        if message is None:
            raise self._death(file)
        return message

    def _death(self, file: str) -> ManifestError:
        self._process.wait()
        if toolrun.stopping():
            return toolrun.RenderStoppedError("render stopped: Tether is shutting down", file=file)
        if self._timed_out.is_set():
            return RenderTimeoutError(
                f"Jsonnet evaluation did not finish within {self._timeout:g} s and was stopped",
                file=file,
            )
        self._stderr.seek(0)
        detail = trim_stderr(self._stderr.read(), {})
        if "memory allocation" in detail or "MemoryError" in detail:
            return JsonnetError(
                f"Jsonnet evaluation ran out of memory (limit {self._memory // MiB:,} MiB)",
                file=file,
            )
        return JsonnetError(
            f"the Jsonnet evaluator stopped (exit {self._process.returncode}): {detail}", file=file
        )

    def stop(self) -> None:
        """Kill the process (it may be mid-evaluation) and release its pipes."""
        self._timer.cancel()
        self._kill()
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        toolrun.untrack(self._process)
