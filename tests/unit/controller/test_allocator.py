"""Freed C-heap memory goes back to the system when the operator asks."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: 25 MiB of 64 KiB buffers (from malloc's heap, below the mmap
# threshold), each followed by a small live one so that freeing them cannot shrink the
# heap's top by itself; they stay resident until malloc_trim.
PROGRAM = """
from pathlib import Path
from tether.controller.allocator import release_free_memory
def rss():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024
blocks, pins = [], []
for _ in range(400):
    blocks.append(bytearray(64 * 1024))
    pins.append(bytearray(1024))
del blocks
freed = rss()
released = release_free_memory()
print(released, freed, rss(), len(pins))
"""


def test_memory_freed_by_python_is_returned_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    ).stdout
    released, freed, after, pins = out.split()
    assert released == "True" and pins == "400"
    assert int(freed) - int(after) >= 15  # MiB of the 25 freed, resident until trimmed
