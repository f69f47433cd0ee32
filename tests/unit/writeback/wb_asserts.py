"""Byte-level assertions shared by the write-back tests."""

from __future__ import annotations


def is_one_insertion(original: bytes, result: bytes) -> bool:
    """``result`` is ``original`` with one run of bytes inserted somewhere."""
    if len(result) <= len(original):
        return False
    prefix = 0
    while prefix < len(original) and original[prefix] == result[prefix]:
        prefix += 1
    return result.endswith(original[prefix:])
