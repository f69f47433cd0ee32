"""Status diffing and the one-PATCH-at-most writer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tether.controller.status import StatusWriter, carry_volatile
from tether.diff.jsonmerge import apply_merge_patch as apply_merge
from tether.diff.jsonmerge import create_merge_patch as merge_diff

json_leaf = st.one_of(
    st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=3)
)
json_obj = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=4), json_leaf, max_size=4),
    lambda children: st.dictionaries(
        st.text(min_size=1, max_size=4), st.one_of(json_leaf, children), max_size=4
    ),
    max_leaves=12,
)


@given(json_obj, json_obj)
def test_merge_diff_round_trips(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert apply_merge(old, merge_diff(old, new)) == new


@given(json_obj)
def test_equal_values_give_empty_patch(value: dict[str, Any]) -> None:
    assert merge_diff(value, value) == {}


def test_removed_keys_become_null_and_lists_replace_whole() -> None:
    old = {"a": 1, "b": {"c": [1, 2], "d": 1}}
    new = {"b": {"c": [2], "d": 1}}
    assert merge_diff(old, new) == {"a": None, "b": {"c": [2]}}


def test_reconciled_at_alone_does_not_count_as_a_change() -> None:
    old = {"sync": {"status": "Synced"}, "reconciledAt": "2024-01-01T00:00:00Z"}
    new = {"sync": {"status": "Synced"}, "reconciledAt": "2024-01-01T00:05:00Z"}
    assert carry_volatile(old, new) == old
    changed = {"sync": {"status": "OutOfSync"}, "reconciledAt": "2024-01-01T00:05:00Z"}
    assert carry_volatile(old, changed) == changed


class RecordingPatcher:
    def __init__(self) -> None:
        self.patches: list[tuple[tuple[str, str], dict[str, Any]]] = []

    async def patch_status(
        self, key: tuple[str, str], patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        self.patches.append((key, patch))
        return None


async def test_writer_sends_one_patch_then_none_when_unchanged() -> None:
    patcher = RecordingPatcher()
    writer = StatusWriter(patcher)
    key = ("ns", "app")
    observed = {"sync": {"status": "Unknown"}}
    status = {"sync": {"status": "Synced"}, "reconciledAt": "t1"}
    assert await writer.write(key, status, observed) is True
    assert patcher.patches == [(key, {"sync": {"status": "Synced"}, "reconciledAt": "t1"})]
    again = {"sync": {"status": "Synced"}, "reconciledAt": "t2"}
    assert await writer.write(key, again, observed) is False
    assert len(patcher.patches) == 1


async def test_writer_uses_the_observed_status_after_a_restart() -> None:
    patcher = RecordingPatcher()
    writer = StatusWriter(patcher)
    observed = {"sync": {"status": "Synced"}, "reconciledAt": "t0"}
    assert (
        await writer.write(
            ("n", "a"), {"sync": {"status": "Synced"}, "reconciledAt": "t9"}, observed
        )
        is False
    )
    assert patcher.patches == []


async def test_writer_compares_as_json_and_hands_out_copies() -> None:
    # The last status is kept packed: a tuple built by a controller equals the list it
    # came back as, and what ``last`` returns can be changed without touching the writer.
    patcher = RecordingPatcher()
    writer = StatusWriter(patcher)
    key = ("ns", "app")
    status = {"resources": ({"kind": "ConfigMap", "name": "a"},), "sync": {"status": "Synced"}}
    assert await writer.write(key, status, None) is True
    assert await writer.write(key, dict(status), None) is False
    last = writer.last(key)
    assert last == {"resources": [{"kind": "ConfigMap", "name": "a"}], "sync": {"status": "Synced"}}
    last["sync"]["status"] = "changed by a caller"
    assert writer.last(key)["sync"] == {"status": "Synced"}
    writer.remember(key, {"sync": {"status": "OutOfSync"}})
    assert writer.last(key) == {"sync": {"status": "OutOfSync"}}
    assert len(patcher.patches) == 1
