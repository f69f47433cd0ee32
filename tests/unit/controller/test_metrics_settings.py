"""Metrics exposition, probe endpoints over real HTTP, kopf settings and registry."""

from __future__ import annotations

import aiohttp
import kopf
import pytest

from tether.controller.handlers import build_registry
from tether.controller.metrics import Metrics, Probes, ProbeServer
from tether.controller.runtime import Runtime
from tether.controller.settings import ChangeHandlerError, check_registry, configure


def test_metric_names_and_labels() -> None:
    m = Metrics()
    m.observe_reconcile("Application", 0.02)
    m.count_sync("Succeeded")
    m.count_api_request("patch", 200, "applications/status")
    m.observe_git_fetch(0.3)
    m.set_cache_objects(12)
    m.set_applications([("Synced", "Healthy"), ("Synced", "Healthy"), ("OutOfSync", "Missing")])
    text = m.exposition().decode()
    assert 'tether_reconcile_duration_seconds_count{kind="Application"} 1.0' in text
    assert 'tether_sync_total{result="Succeeded"} 1.0' in text
    assert (
        'tether_api_requests_total{code="200",resource="applications/status",verb="PATCH"} 1.0'
        in text
    )
    assert "tether_git_fetch_duration_seconds_count 1.0" in text
    assert "tether_cache_objects 12.0" in text
    assert 'tether_applications{health_status="Healthy",sync_status="Synced"} 2.0' in text
    m.set_applications([("Synced", "Healthy")])
    assert "Missing" not in m.exposition().decode()
    assert "tether_shard_reconcile_duration_seconds_count{" not in text  # alone: no shard


def test_shard_metrics_are_labelled_by_shard() -> None:
    m = Metrics()
    m.shard = "shard-a"
    m.observe_reconcile("Application", 0.02)
    m.observe_reconcile("Repository", 0.02)
    m.set_shard(owned=20, queued=3, members=3)
    text = m.exposition().decode()
    assert 'tether_shard_reconcile_duration_seconds_count{shard="shard-a"} 1.0' in text
    assert 'tether_shard_apps_owned{shard="shard-a"} 20.0' in text
    assert 'tether_shard_queue_depth{shard="shard-a"} 3.0' in text
    assert 'tether_shard_members{shard="shard-a"} 3.0' in text


def test_one_app_moves_in_the_application_gauge() -> None:
    m = Metrics()
    m.set_applications([("Synced", "Healthy"), ("OutOfSync", "Missing")])
    m.move_application(("OutOfSync", "Missing"), ("Synced", "Healthy"))
    text = m.exposition().decode()
    assert 'tether_applications{health_status="Healthy",sync_status="Synced"} 2.0' in text
    assert "Missing" not in text  # a pair that reaches zero leaves, as after a rebuild
    m.move_application(None, ("OutOfSync", "Progressing"))
    m.move_application(("Synced", "Healthy"), None)
    text = m.exposition().decode()
    assert 'tether_applications{health_status="Healthy",sync_status="Synced"} 1.0' in text
    assert 'tether_applications{health_status="Progressing",sync_status="OutOfSync"} 1.0' in text


async def test_probe_server_serves_three_endpoints() -> None:
    probes = Probes()
    server = ProbeServer(Metrics(), probes, "127.0.0.1", 0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as s:

            async def get(path: str) -> tuple[int, str]:
                async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                    return r.status, await r.text()

            assert (await get("/readyz"))[0] == 503
            assert (await get("/healthz"))[0] == 200
            probes.ready = True
            assert (await get("/readyz"))[0] == 200
            probes.checks["kopf"] = lambda: False
            status, body = await get("/healthz")
            assert status == 503 and "kopf" in body
            status, body = await get("/metrics")
            assert status == 200 and "tether_sync_total" in body
    finally:
        await server.stop()


def test_settings_keep_kopf_state_off_annotations() -> None:
    s = kopf.OperatorSettings()
    configure(s)
    assert isinstance(s.persistence.progress_storage, kopf.StatusProgressStorage)
    assert isinstance(s.persistence.diffbase_storage, kopf.StatusDiffBaseStorage)
    assert s.posting.enabled is False
    assert s.peering.standalone is True
    assert s.scanning.disabled is True


def test_registry_has_only_event_handlers() -> None:
    registry = build_registry(Runtime())
    check_registry(registry)
    assert registry._watching.get_all_handlers()
    assert not registry._changing.get_all_handlers()


def test_change_handlers_are_refused() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.on.update("tether.dev", "v1alpha1", "applications", registry=registry)
    def _h(**_: object) -> None: ...

    with pytest.raises(ChangeHandlerError):
        check_registry(registry)
