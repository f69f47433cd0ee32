"""Which Repositories a push concerns: URL spellings, branches, tags and ranges; and the
token buckets that keep floods out."""

from __future__ import annotations

import pytest

from tether.webhook import Push, PushedRef, RefKind, repository_matches, revision_moves, url_key
from tether.webhook.matching import url_keys
from tether.webhook.ratelimit import Rate, RateLimiter

BRANCH_MAIN = PushedRef(RefKind.BRANCH, "main")
TAG = PushedRef(RefKind.TAG, "v1.4.0")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/Org/Repo", "ssh://git@github.com/org/repo.git"),
        ("ssh://git@bb.example:7999/prj/app.git", "https://bb.example/prj/app"),
        ("https://user:pw@github.com/org/repo/", "https://github.com/org/repo"),
        ("git://127.0.0.1:9418/apps.git", "http://127.0.0.1:8080/apps"),
        ("oci://Registry.example:5000/charts/web", "oci://registry.example/charts/web/"),
        ("file:///srv/git/x.git", "file:///srv/git/x"),
    ],
)
def test_spellings_of_one_repository_share_a_key(a: str, b: str) -> None:
    assert url_key(a) is not None
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/org/repo", "https://github.com/org/repo2"),
        ("https://github.com/org/repo", "https://gitlab.com/org/repo"),
        ("https://github.com/org/repo", "oci://github.com/org/repo"),
        ("file:///srv/a", "https://srv/a"),
    ],
)
def test_different_repositories_differ(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


def test_urls_that_do_not_parse_have_no_key() -> None:
    assert url_key("not a url at all") is None
    assert url_key("oci://") is None
    assert url_key("ftp://h/r") is None


@pytest.mark.parametrize(
    ("revision", "ref", "moves"),
    [
        ("main", BRANCH_MAIN, True),
        ("refs/heads/main", BRANCH_MAIN, True),
        ("HEAD", BRANCH_MAIN, True),  # the default branch is not named by webhooks
        ("", BRANCH_MAIN, True),
        ("develop", BRANCH_MAIN, False),
        ("refs/tags/main", BRANCH_MAIN, False),
        ("a" * 40, BRANCH_MAIN, False),  # a pinned commit never moves
        ("v1.4.0", TAG, True),
        ("refs/tags/v1.4.0", TAG, True),
        (">=1.0.0 <2.0.0", TAG, True),
        ("^1.2", TAG, True),
        ("1.4.*", TAG, True),
        ("~1.3.0", TAG, False),
        (">=2.0.0", TAG, False),
        ("HEAD", TAG, False),
        ("main", TAG, False),
        (">=1.0.0", PushedRef(RefKind.TAG, "v2.0.0-rc.1"), True),  # the fetch decides
        (">=1.0.0", PushedRef(RefKind.TAG, "latest"), False),
        ("main", PushedRef(RefKind.NAME, "main"), True),
        ("refs/tags/main", PushedRef(RefKind.NAME, "main"), True),
        ("HEAD", PushedRef(RefKind.NAME, "main"), True),
        ("1.4.0", PushedRef(RefKind.TAG, "1.4.0"), True),
        ("1.4.0@sha256:" + "c" * 64, PushedRef(RefKind.TAG, "1.4.0"), False),
        ("sha256:" + "c" * 64, PushedRef(RefKind.DIGEST, "sha256:" + "c" * 64), False),
    ],
)
def test_which_revisions_a_push_moves(revision: str, ref: PushedRef, moves: bool) -> None:
    assert revision_moves(revision, ref) is moves


def test_repository_matches_needs_both_url_and_revision() -> None:
    push = Push(("https://github.com/org/repo.git", "git@github.com:org/repo.git"), (BRANCH_MAIN,))
    assert repository_matches("ssh://git@github.com/org/repo", ["main"], push)
    assert repository_matches("https://github.com/org/repo", ["v1", "main"], push)
    assert not repository_matches("https://github.com/org/other", ["main"], push)
    assert not repository_matches("https://github.com/org/repo", ["develop"], push)
    assert repository_matches("https://github.com/org/repo", [], push)  # follows HEAD


def test_a_source_over_its_rate_is_refused_and_refills() -> None:
    limiter = RateLimiter(Rate(1.0, 3), Rate(100.0, 100))
    assert [limiter.admit("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.admit("b", 0.0)  # another source has its own bucket
    assert not limiter.admit("a", 0.5)
    assert limiter.admit("a", 1.6)  # one token back after a second


def test_the_global_bucket_stops_many_sources() -> None:
    limiter = RateLimiter(Rate(10.0, 10), Rate(1.0, 2))
    assert limiter.admit("a", 0.0) and limiter.admit("b", 0.0)
    assert not limiter.admit("c", 0.0)


def test_zero_rate_is_no_limit_and_the_source_table_is_bounded() -> None:
    limiter = RateLimiter(Rate(0.0, 1), Rate(0.0, 1), max_sources=3)
    assert all(limiter.admit(f"s{i}", 0.0) for i in range(100))
    assert len(limiter._sources) == 3


def test_a_registry_push_of_a_chart_refreshes_the_repository_above_it() -> None:
    """An oci Repository at ``oci://host/charts`` follows ``web@^1.2``; the registry names
    the chart's own repository, ``host/charts/web``, and the new tag."""
    push = Push(("oci://registry.example:5000/charts/web",), (PushedRef(RefKind.TAG, "1.3.0"),))
    repo = "oci://registry.example:5000/charts"
    assert repository_matches(repo, ["web@^1.2"], push)
    assert not repository_matches(repo, ["web@~1.2.0"], push)  # outside the range
    assert not repository_matches(repo, ["api@^1.2"], push)  # another chart
    assert not repository_matches(repo, ["^1.2"], push)  # no chart: the URL itself differs
    assert url_keys(repo, ["web@^1.2"]) == {
        "oci://registry.example/charts",
        "oci://registry.example/charts/web",
    }
