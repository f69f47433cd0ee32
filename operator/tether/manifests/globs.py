"""Glob patterns for directory include/exclude.

Patterns match the POSIX path of a file relative to the source path:
``*`` and ``?`` stay within one folder, ``**`` spans folders (``**/`` also
matches no folder at all), ``[abc]``/``[!abc]`` are classes and ``{a,b}`` are
alternatives. A pattern without ``/`` also matches the file's base name, as in
.gitignore, so ``*-test.yaml`` excludes such files at every depth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


def matches_any(patterns: Sequence[str], rel_path: str) -> bool:
    """True when any pattern matches ``rel_path`` (or its base name, see above)."""
    base = rel_path.rsplit("/", 1)[-1]
    for pattern in patterns:
        regex = compile_glob(pattern)
        if regex.fullmatch(rel_path) or ("/" not in pattern and regex.fullmatch(base)):
            return True
    return False


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Translate one glob to an anchored regular expression."""
    return re.compile(_translate(pattern.removeprefix("./")))


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif char == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(option) for option in options) + ")")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)
