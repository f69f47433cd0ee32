"""Give memory freed after a burst of work back to the system.

CPython keeps small objects in its own arenas (returned when empty); anything
larger (a JSON document being decoded, a TLS read buffer, a YAML file, a packed
object) comes from the C library's ``malloc``. glibc keeps the pages it freed
in its heaps resident until ``malloc_trim`` is called, so after converging
1,000 apps the operator keeps megabytes it no longer uses. ``release_free_memory``
calls ``malloc_trim(0)`` (a few milliseconds); the operator calls it when its
queues are idle, at most every gauge period (15 s). With another C library it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim  # glibc only
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; False when the libc cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
