"""Limits that keep a hostile or broken source from exhausting memory or time.

One ``Limits`` value travels with a render; ``Budget`` counts what a render
has used so far (files, bytes, objects and wall time since it began) and
raises SizeLimitError or RenderTimeoutError, naming the file, when a limit is
passed. Exports and tool runs check it before and while they work, so one
heavy source cannot hold a worker past its budget. Nothing here reads files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tether.manifests.errors import RenderTimeoutError, SizeLimitError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one render. All sizes in bytes."""

    max_file_bytes: int = 32 * MiB
    max_total_bytes: int = 256 * MiB
    max_objects: int = 20_000
    max_files: int = 20_000
    max_depth: int = 512
    max_dir_depth: int = 64
    tool_timeout: float = 120.0
    render_timeout: float = 180.0
    # Jsonnet: call depth (bounds recursion and output nesting) and the evaluator
    # process's address space; its time is tool_timeout, its output max_total_bytes.
    jsonnet_max_stack: int = 500
    jsonnet_max_memory: int = 1024 * MiB


class Budget:
    """Running totals for one render, checked against ``Limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes = 0
        self.objects = 0
        self.files = 0
        self.started = time.monotonic()

    def remaining(self) -> float:
        """Seconds left of the render's time budget (never negative)."""
        return max(0.0, self.limits.render_timeout - (time.monotonic() - self.started))

    def check_time(self, *, file: str) -> None:
        """Refuse to go on once the render has used its whole time budget."""
        if self.remaining() <= 0:
            raise RenderTimeoutError(
                f"render did not finish within {self.limits.render_timeout:g} s", file=file
            )

    def tool_timeout(self, *, file: str) -> float:
        """How long a tool may run now: its own limit, capped by the render's time left."""
        self.check_time(file=file)
        return min(self.limits.tool_timeout, self.remaining())

    def check_files(self, count: int, *, file: str) -> None:
        """Refuse, before anything is read, a plan that needs more than max_files files."""
        if self.files + count > self.limits.max_files:
            raise SizeLimitError(
                f"needs {self.files + count:,} files, over the limit of {self.limits.max_files:,}",
                file=file,
            )

    def check_file_size(self, size: int, *, file: str) -> None:
        """Refuse a file larger than max_file_bytes, before or after reading it."""
        if size > self.limits.max_file_bytes:
            raise SizeLimitError(
                f"file is {size:,} bytes, over the limit of {self.limits.max_file_bytes:,}",
                file=file,
            )

    def add_file(self, size: int, *, file: str) -> None:
        """Count one file read; refuse it when the file or total limits are passed."""
        self.check_file_size(size, file=file)
        self.files += 1
        if self.files > self.limits.max_files:
            raise SizeLimitError(f"more than {self.limits.max_files:,} files", file=file)
        self.add_bytes(size, file=file)

    def add_bytes(self, size: int, *, file: str) -> None:
        """Count rendered bytes (files read or tool output) against max_total_bytes."""
        self.bytes += size
        if self.bytes > self.limits.max_total_bytes:
            raise SizeLimitError(
                f"total rendered size passes the limit of {self.limits.max_total_bytes:,} bytes",
                file=file,
            )

    def add_objects(self, count: int, *, file: str) -> None:
        """Count objects produced; refuse more than max_objects."""
        self.objects += count
        if self.objects > self.limits.max_objects:
            raise SizeLimitError(f"more than {self.limits.max_objects:,} objects", file=file)
