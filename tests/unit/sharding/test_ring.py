"""The consistent-hash ring: balance across members, and minimal movement."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from tether.sharding.ring import DEFAULT_VNODES, HashRing

KEYS = [str(uuid.UUID(int=n * 7919 + 1, version=4)) for n in range(10_000)]
MEMBER_SETS = [
    ("tether-0", "tether-1", "tether-2"),
    ("a", "b", "c"),
    ("node-7f3a-1234", "node-19bc-777", "node-c0ff-42"),
]


@pytest.mark.parametrize("members", MEMBER_SETS)
def test_three_members_share_10000_keys_within_125_percent(members: tuple[str, ...]) -> None:
    counts = Counter(HashRing.of(members).assign(KEYS).values())
    assert set(counts) == set(members)
    assert sum(counts.values()) == len(KEYS)
    assert max(counts.values()) / min(counts.values()) <= 1.25, counts


def test_an_empty_ring_owns_nothing() -> None:
    ring = HashRing.of(())
    assert ring.owner("x") is None
    assert ring.assign(["x"]) == {}


def test_the_same_members_give_the_same_owner_in_any_order() -> None:
    one = HashRing.of(["a", "b", "c"]).assign(KEYS[:500])
    two = HashRing.of(["c", "a", "b"]).assign(KEYS[:500])
    assert one == two


def test_a_joining_member_takes_about_a_quarter_and_only_from_others_to_itself() -> None:
    before = HashRing.of(["a", "b", "c"]).assign(KEYS)
    after = HashRing.of(["a", "b", "c", "d"]).assign(KEYS)
    moved = [k for k in KEYS if before[k] != after[k]]
    # Every moved key moved to the new member: none between two that stayed.
    assert {after[k] for k in moved} == {"d"}
    share = len(moved) / len(KEYS)
    assert 0.25 * 0.75 <= share <= 0.25 * 1.25, share


def test_a_leaving_member_gives_away_only_its_own_keys() -> None:
    before = HashRing.of(["a", "b", "c"]).assign(KEYS)
    after = HashRing.of(["a", "c"]).assign(KEYS)
    moved = [k for k in KEYS if before[k] != after[k]]
    assert moved == [k for k in KEYS if before[k] == "b"]
    assert {after[k] for k in moved} == {"a", "c"}
    share = len(moved) / len(KEYS)
    assert 1 / 3 * 0.75 <= share <= 1 / 3 * 1.25, share


def test_owner_and_assign_agree() -> None:
    ring = HashRing.of(["a", "b", "c"], DEFAULT_VNODES)
    assert {k: ring.owner(k) for k in KEYS[:200]} == ring.assign(KEYS[:200])
