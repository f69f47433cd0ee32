"""Semantic versions and version ranges, for revisions like ``>=1.2.0 <2.0.0``.

Versions follow semver 2.0 precedence; a leading ``v`` and missing minor/patch
parts are accepted in tags (``v1.2`` is 1.2.0). Ranges use the npm/Helm syntax:

* comparators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, joined by spaces or
  commas (all must hold) and ``||`` (either side may hold);
* wildcards ``1.2.*``, ``1.2.x``, ``1.2`` and ``*``;
* ``^1.2.3`` (same left-most non-zero part), ``~1.2.3`` / ``~>1.2.3`` (same minor);
* hyphen ranges ``1.2.3 - 2.0.0``.

Pre-releases match only when ``allow_prerelease`` is set, or when a comparator in
the same ``||`` branch names a pre-release of the same major.minor.patch (npm's
rule). This module is pure: it knows nothing about Git.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*)(?:\.(?P<patch>0|[1-9]\d*))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PARTIAL = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*])(?:\.(?P<patch>\d+|[xX*]))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|<=|!=|~>|[<>=^~])?\s*(?P<version>\S+)$")
_WILDCARDS = frozenset({"x", "X", "*"})


class SemverError(ValueError):
    """A version or range string is malformed."""


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version; ``build`` metadata is kept but ignored in comparisons."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def _key(self) -> tuple[object, ...]:
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (*self.core, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        pre = "-" + ".".join(self.prerelease) if self.prerelease else ""
        build = "+" + self.build if self.build else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}{build}"


def parse_version(text: str) -> Version:
    """Parse ``1.2.3``, ``v1.2.3-rc.1+build``, ``v1.2`` (= 1.2.0); raise SemverError otherwise."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise SemverError(f"not a semantic version: {text!r}")
    return Version(
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        tuple(match["pre"].split(".")) if match["pre"] else (),
        match["build"] or "",
    )


def try_parse_version(text: str) -> Version | None:
    """``parse_version`` that returns None instead of raising."""
    try:
        return parse_version(text)
    except SemverError:
        return None


@dataclass(frozen=True)
class _Bound:
    op: str  # one of "<", "<=", ">", ">=", "=", "!="
    version: Version

    def holds(self, version: Version) -> bool:
        if self.op == "=":
            return version == self.version
        if self.op == "!=":
            return version != self.version
        if self.op == ">":
            return version > self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == "<":
            return version < self.version
        return version <= self.version


@dataclass(frozen=True)
class Range:
    """A parsed version range: a union (``||``) of intersections of bounds."""

    text: str
    branches: tuple[tuple[_Bound, ...], ...]

    def matches(self, version: Version, *, allow_prerelease: bool = False) -> bool:
        """True if ``version`` satisfies the range under the pre-release rule."""
        return any(self._branch_matches(b, version, allow_prerelease) for b in self.branches)

    @staticmethod
    def _branch_matches(branch: tuple[_Bound, ...], version: Version, allow: bool) -> bool:
        if not all(bound.holds(version) for bound in branch):
            return False
        if not version.prerelease or allow:
            return True
        return any(b.version.prerelease and b.version.core == version.core for b in branch)

    def best(
        self, candidates: Iterable[tuple[str, Version]], *, allow_prerelease: bool = False
    ) -> tuple[str, Version] | None:
        """The highest matching (name, version); ties go to the first name in sort order."""
        matching = [
            (n, v) for n, v in candidates if self.matches(v, allow_prerelease=allow_prerelease)
        ]
        if not matching:
            return None
        return max(sorted(matching), key=lambda item: item[1])


def parse_range(text: str) -> Range:
    """Parse a range such as ``>=1.2.0 <2.0.0``, ``1.2.*``, ``^1.2`` or ``~1.2.3``."""
    stripped = text.strip()
    if not stripped:
        raise SemverError("empty version range")
    branches = tuple(_parse_branch(part.strip(), text) for part in stripped.split("||"))
    return Range(stripped, branches)


def _parse_branch(text: str, whole: str) -> tuple[_Bound, ...]:
    if not text:
        raise SemverError(f"empty alternative in version range {whole!r}")
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low, high = _parse_partial(hyphen[1], whole), _parse_partial(hyphen[2], whole)
        return (*_expand(">=", low), *_expand("<=", high))
    tokens = _tokens(text)
    bounds: list[_Bound] = []
    for token in tokens:
        match = _COMPARATOR.match(token)
        if match is None:
            raise SemverError(f"bad comparator {token!r} in version range {whole!r}")
        bounds.extend(_expand(match["op"] or "=", _parse_partial(match["version"], whole)))
    return tuple(bounds)


def _tokens(text: str) -> list[str]:
    """Split on commas and spaces, re-attaching an operator written apart from its version."""
    raw = [t for t in re.split(r"[\s,]+", text) if t]
    tokens: list[str] = []
    for token in raw:
        if tokens and re.fullmatch(r">=|<=|!=|~>|[<>=^~]", tokens[-1]):
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


@dataclass(frozen=True)
class _Partial:
    parts: tuple[int, ...]  # 0 to 3 numbers; fewer means the rest were wildcards/missing
    prerelease: tuple[str, ...]

    def floor(self) -> Version:
        major, minor, patch = (*self.parts, 0, 0, 0)[:3]
        return Version(major, minor, patch, prerelease=self.prerelease)

    def bump(self, index: int) -> Version:
        """The first version past the partial at ``index`` (0 = major)."""
        padded = [*self.parts, 0, 0, 0][:3]
        padded[index] += 1
        for i in range(index + 1, 3):
            padded[i] = 0
        return Version(padded[0], padded[1], padded[2])


def _parse_partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL.match(text)
    if match is None:
        raise SemverError(f"bad version {text!r} in version range {whole!r}")
    parts: list[int] = []
    for name in ("major", "minor", "patch"):
        value = match[name]
        if value is None or value in _WILDCARDS:
            break
        parts.append(int(value))
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    if pre and len(parts) < 3:
        raise SemverError(f"a pre-release needs a full version: {text!r} in {whole!r}")
    return _Partial(tuple(parts), pre)


def _expand(op: str, partial: _Partial) -> list[_Bound]:
    """Turn one comparator over a possibly partial version into plain bounds."""
    n = len(partial.parts)
    low = partial.floor()
    if op in ("^", "~", "~>"):
        if n == 0:
            return []
        if op == "^":
            nonzero = next((i for i, p in enumerate(partial.parts) if p != 0), n - 1)
            index = min(nonzero, n - 1)
        else:
            index = 0 if n == 1 else 1
        return [_Bound(">=", low), _Bound("<", partial.bump(index))]
    if n == 3:
        return [_Bound(op, low)]
    if n == 0:
        return [] if op in ("=", ">=", "<=") else [_Bound("<", Version(0, 0, 0))]
    high = partial.bump(n - 1)
    if op == "=":
        return [_Bound(">=", low), _Bound("<", high)]
    if op == "!=":
        raise SemverError(f"!= needs a full version, got {'.'.join(map(str, partial.parts))}")
    return {
        ">=": [_Bound(">=", low)],
        ">": [_Bound(">=", high)],
        "<": [_Bound("<", low)],
        "<=": [_Bound("<", high)],
    }[op]
