"""The watched-object store: lean heads as dicts, the status packed, reads never shared."""

from __future__ import annotations

from typing import Any

from tether.controller.store import LAST_APPLIED, ObjectStore


def app(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "generation": 2,
            "annotations": {LAST_APPLIED: '{"big": "copy"}', "tether.dev/refresh": "x"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"source": {"path": "apps/web"}},
    }
    if status is not None:
        body["status"] = status
    return body


def test_get_returns_the_body_without_what_no_controller_reads() -> None:
    store = ObjectStore()
    status = {"sync": {"status": "Synced"}, "resources": [{"kind": "ConfigMap", "name": "a"}]}
    assert store.put(app("web", status)) == ("ns", "web")
    body = store.get(("ns", "web"))
    assert body is not None
    assert body["status"] == status and body["spec"] == {"source": {"path": "apps/web"}}
    assert body["metadata"]["annotations"] == {"tether.dev/refresh": "x"}
    assert "managedFields" not in body["metadata"] and body["metadata"]["generation"] == 2


def test_each_read_of_the_status_is_a_fresh_copy() -> None:
    store = ObjectStore()
    store.put(app("web", {"sync": {"status": "Synced"}}))
    first = store.get(("ns", "web"))
    assert first is not None
    first["status"]["sync"]["status"] = "changed by a caller"
    first["extra"] = True
    again = store.get(("ns", "web"))
    assert again is not None and again["status"] == {"sync": {"status": "Synced"}}
    assert "extra" not in again


def test_heads_and_scans_leave_the_status_out() -> None:
    store = ObjectStore()
    store.put(app("web", {"sync": {"status": "Synced"}}))
    store.put(app("db"))
    assert store.head(("ns", "web")) == {
        k: v for k, v in store.get(("ns", "web")).items() if k != "status"
    }  # type: ignore[union-attr]
    assert sorted(k for k, _ in store.in_namespace("ns")) == [("ns", "db"), ("ns", "web")]
    assert all("status" not in head for _, head in store.items())
    assert list(store.in_namespace("other")) == []


def test_a_status_removed_or_a_body_deleted_is_gone() -> None:
    store = ObjectStore()
    store.put(app("web", {"sync": {"status": "Synced"}}))
    store.put(app("web"))
    assert "status" not in store.get(("ns", "web"))  # type: ignore[operator]
    store.remove(("ns", "web"))
    assert store.get(("ns", "web")) is None and store.head(("ns", "web")) is None
    assert ("ns", "web") not in store and len(store) == 0
