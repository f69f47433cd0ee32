"""Semantic versions and ranges: parsing, precedence, range forms and the pre-release rule."""

from __future__ import annotations

import pytest

from tether.git.semver import SemverError, Version, parse_range, parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", Version(1, 2, 3)),
        ("v1.2.3", Version(1, 2, 3)),
        ("V0.0.1", Version(0, 0, 1)),
        ("v1.2", Version(1, 2, 0)),
        ("1", Version(1, 0, 0)),
        ("1.2.3-rc.1+build.5", Version(1, 2, 3, ("rc", "1"), "build.5")),
    ],
)
def test_parse_version(text: str, expected: Version) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "text", ["", "x1.2.3", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-rc..1", "latest", "1.2.3.", "v"]
)
def test_bad_versions(text: str) -> None:
    with pytest.raises(SemverError):
        parse_version(text)


def test_precedence_follows_semver_spec() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    versions = [parse_version(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert parse_version("1.0.0+a") == parse_version("1.0.0+b")


CASES = [
    (">=1.2.0 <2.0.0", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0", "1.5.0-rc.1"]),
    (">=1.2.0, <2.0.0", ["1.2.0"], ["2.0.0"]),
    (">= 1.2.0 < 2.0.0", ["1.2.0"], ["2.0.0"]),
    ("1.2.*", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.9", "1.2.1-rc.1"]),
    ("1.2.x", ["1.2.5"], ["1.3.0"]),
    ("1.x", ["1.0.0", "1.9.0"], ["2.0.0", "0.9.0"]),
    ("1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
    ("*", ["0.0.1", "99.0.0"], ["1.0.0-rc.1"]),
    ("^1.2", ["1.2.0", "1.99.0"], ["2.0.0", "1.1.0"]),
    ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
    ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
    ("~>1.2.3", ["1.2.4"], ["1.3.0"]),
    (">1.2", ["1.3.0"], ["1.2.9"]),
    ("<=1.2", ["1.2.9"], ["1.3.0"]),
    ("<1.2", ["1.1.9"], ["1.2.0"]),
    ("=1.2.3", ["1.2.3", "1.2.3+meta"], ["1.2.4"]),
    ("!=1.2.3 >=1.2.0 <1.3.0", ["1.2.4"], ["1.2.3"]),
    ("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["2.3.5"]),
    ("1.2 - 2.3", ["2.3.9"], ["2.4.0"]),
    ("<1.0.0 || >=3.0.0", ["0.9.0", "3.1.0"], ["2.0.0"]),
    (">=1.0.0-rc.1 <1.1.0", ["1.0.0-rc.2", "1.0.0"], ["1.0.1-rc.1", "1.0.0-beta"]),
]


@pytest.mark.parametrize(("text", "inside", "outside"), CASES)
def test_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    wanted = parse_range(text)
    for version in inside:
        assert wanted.matches(parse_version(version)), version
    for version in outside:
        assert not wanted.matches(parse_version(version)), version


def test_allow_prerelease_flag() -> None:
    wanted = parse_range(">=1.0.0 <2.0.0")
    rc = parse_version("1.5.0-rc.1")
    assert not wanted.matches(rc)
    assert wanted.matches(rc, allow_prerelease=True)


@pytest.mark.parametrize(
    "text", ["", ">=", ">=a.b", "1.2.3 - ", "1.2-rc.1", ">>1.0", "||", "!=1.2"]
)
def test_bad_ranges(text: str) -> None:
    with pytest.raises(SemverError):
        parse_range(text)


def test_best_picks_highest_and_breaks_ties_by_name() -> None:
    tags = [
        (f"refs/tags/{t}", parse_version(t))
        for t in ["v1.0.0", "1.2.0", "v1.2.0", "v1.3.0-rc.1", "v2.0.0"]
    ]
    assert parse_range("<2.0.0").best(tags) == ("refs/tags/1.2.0", parse_version("1.2.0"))
    assert parse_range("<2.0.0").best(tags, allow_prerelease=True) == (
        "refs/tags/v1.3.0-rc.1",
        parse_version("1.3.0-rc.1"),
    )
    assert parse_range(">=3").best(tags) is None
