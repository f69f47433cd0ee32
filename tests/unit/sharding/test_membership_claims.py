"""Pure parts of sharding: who is a live member, and who may claim an app."""

from __future__ import annotations

import datetime as dt

from tether.sharding.claims import (
    CLAIM_ANNOTATION,
    claim_patch,
    holder_of,
    may_claim,
    release_patch,
)
from tether.sharding.membership import lease_name, live_members

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def lease(holder: str, seconds_ago: float, duration: int = 15) -> dict[str, object]:
    renewed = (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "spec": {
            "holderIdentity": holder,
            "renewTime": renewed,
            "leaseDurationSeconds": duration,
        }
    }


def test_a_member_is_live_while_its_lease_is_unexpired() -> None:
    leases = [lease("a", 1), lease("b", 14.9), lease("c", 15.0), lease("d", 40), lease("", 0)]
    assert live_members(leases, NOW) == frozenset({"a", "b"})


def test_a_lease_without_renew_time_is_not_live() -> None:
    assert live_members([{"spec": {"holderIdentity": "a", "leaseDurationSeconds": 5}}], NOW) == (
        frozenset()
    )


def test_lease_names_are_valid_object_names() -> None:
    assert lease_name("Shard_A.local-12") == "tether-shard-shard-a-local-12"
    assert lease_name("___") == "tether-shard-shard"
    assert len(lease_name("x" * 400)) <= 253


def test_a_claim_passes_only_from_nobody_ourselves_or_a_dead_holder() -> None:
    live = frozenset({"a", "b"})
    assert may_claim("", "a", live)
    assert may_claim("a", "a", live)
    assert not may_claim("b", "a", live)  # b is live: it hands off first
    assert may_claim("c", "a", live)  # c's Lease expired


def test_claim_and_release_patches_carry_their_preconditions() -> None:
    body = {"metadata": {"annotations": {CLAIM_ANNOTATION: "a"}}}
    assert holder_of(body) == "a"
    assert holder_of({"metadata": {}}) == ""
    patch = claim_patch("b", "42")
    assert patch == {"metadata": {"resourceVersion": "42", "annotations": {CLAIM_ANNOTATION: "b"}}}
    test, remove = release_patch("a")
    assert test == {"op": "test", "path": "/metadata/annotations/tether.dev~1shard", "value": "a"}
    assert remove == {"op": "remove", "path": "/metadata/annotations/tether.dev~1shard"}
