"""The engine's one verdict store: one LRU, one eviction rule, per-app forgetting."""

from __future__ import annotations

from tether.diff import DiffResult
from tether.engine.verdicts import Confirmation, VerdictStore
from tether.identity import AppRef, ResourceKey

A, B = AppRef("ns", "a"), AppRef("ns", "b")
KEY = ResourceKey("", "ConfigMap", "ns", "cm")


def test_least_recently_used_entry_goes_first() -> None:
    store = VerdictStore(max_entries=2)
    store.put(A, "t", "one", 1)
    store.put(A, "t", "two", 2)
    assert store.get(A, "t", "one") == 1  # "one" is now the most recently used
    store.put(A, "t", "three", 3)
    assert store.get(A, "t", "two") is None and store.get(A, "t", "one") == 1 and len(store) == 2


def test_forget_drops_every_entry_of_one_app_only() -> None:
    store = VerdictStore()
    store.confirmations(A).put(KEY, "5", "d", Confirmation.DRIFT)
    store.local(A).put(("k",), DiffResult(patch={}, content_type="", in_sync=True, predicted={}))
    store.confirmations(B).put(KEY, "5", "d", Confirmation.NOISE)
    store.forget(A)
    assert store.confirmations(A).get(KEY, "5", "d") is None
    assert store.local(A).get(("k",)) is None
    assert store.confirmations(B).known_in_sync(KEY, "5", "d")


def test_confirmations_are_keyed_by_version_and_digest_and_failures_not_kept() -> None:
    confirmations = VerdictStore().confirmations(A)
    confirmations.record_in_sync(KEY, "5", "d")
    assert confirmations.get(KEY, "5", "d") is Confirmation.NOISE
    assert confirmations.get(KEY, "6", "d") is None and confirmations.get(KEY, "5", "e") is None
    confirmations.put(KEY, "7", "d", Confirmation.FAILED)
    assert confirmations.get(KEY, "7", "d") is None


def test_an_in_sync_verdict_is_kept_without_the_live_object() -> None:
    live = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"big": "x" * 1000}}
    local = VerdictStore().local(A)
    for name in ("a", "b"):
        local.put((name,), DiffResult({}, "json", True, live, live, {}, {}))
    a, b = local.get(("a",)), local.get(("b",))
    assert a is not None and a.in_sync and a.patch == {} and a.effective == {} and a.exists
    assert a.predicted == {} and a.live == {} and a.diff == ""
    assert a is b  # one shared value for every empty in-sync verdict
    noisy = DiffResult({}, "json", True, live, live, {}, {"metadata": {"x": 1}})
    local.put(("c",), noisy)
    kept = local.get(("c",))
    assert kept is not None and kept.raw_patch == noisy.raw_patch and kept.live == {}
    drift = DiffResult({"data": {}}, "json", False, {"data": {}}, live, {"data": {}}, {})
    local.put(("d",), drift)
    assert local.get(("d",)) is drift  # its diff is rendered from live and the prediction
