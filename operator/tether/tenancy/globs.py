"""Glob matching for Project rules: namespaces, group/kinds and Git URLs.

``*`` matches any run of characters, ``?`` exactly one, everything else itself. With a
separator (URLs use ``/``), ``*`` and ``?`` stay within one segment and ``**`` crosses
segments; a pattern that is exactly ``*`` matches everything. There are no character
classes and no escapes: Kubernetes names never contain ``*`` or ``?``.

Pure; compiled patterns are cached.
"""

from __future__ import annotations

import functools
import re


def glob_match(pattern: str, text: str, *, separator: str = "") -> bool:
    """Whether ``text`` matches ``pattern`` as a whole (see the module docstring)."""
    if pattern == "*":
        return True
    return _compile(pattern, separator).fullmatch(text) is not None


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, separator: str) -> re.Pattern[str]:
    one = f"[^{re.escape(separator)}]" if separator else "."
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i) and separator:
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"{one}*")
            i += 1
        elif pattern[i] == "?":
            out.append(one)
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def has_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` holds ``*`` or ``?`` (is not a literal)."""
    return "*" in pattern or "?" in pattern
