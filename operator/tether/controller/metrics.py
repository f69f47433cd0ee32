"""Prometheus metrics and the probe endpoints of the operator.

One ``Metrics`` object owns a private ``CollectorRegistry`` (so tests can build
as many as they like) and every series the operator exports. ``ProbeServer``
serves ``/metrics``, ``/healthz`` and ``/readyz`` on one port with aiohttp, in
the operator's own event loop: a loop that is blocked cannot answer, which is
what the liveness probe is for.

This module stops at exporting numbers; the code that measures calls the
``observe_*``/``count_*`` methods.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tether.aioserve import AppServer

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_FETCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Every series Tether exports, registered on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconcile_duration = Histogram(
            "tether_reconcile_duration_seconds",
            "Wall time of one reconcile, by kind (Application or Repository).",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.sync_total = Counter(
            "tether_sync_total",
            "Sync operations that finished, by result (Succeeded, Failed, Error).",
            ["result"],
            registry=self.registry,
        )
        self.applications = Gauge(
            "tether_applications",
            "Applications by sync status and health status.",
            ["sync_status", "health_status"],
            registry=self.registry,
        )
        self.cache_objects = Gauge(
            "tether_cache_objects",
            "Live objects held in the cluster cache.",
            registry=self.registry,
        )
        self.api_requests = Counter(
            "tether_api_requests_total",
            "Kubernetes API requests made by the engine, by verb, HTTP code and resource "
            "(plural name, with the subresource: applications/status).",
            ["verb", "code", "resource"],
            registry=self.registry,
        )
        # Per shard (``tether run --shards``); empty when running alone.
        self.shard = ""
        self.shard_apps_owned = Gauge(
            "tether_shard_apps_owned",
            "Applications this shard owns on the ring of live members.",
            ["shard"],
            registry=self.registry,
        )
        self.shard_queue_depth = Gauge(
            "tether_shard_queue_depth",
            "Applications of this shard waiting for a worker.",
            ["shard"],
            registry=self.registry,
        )
        self.shard_members = Gauge(
            "tether_shard_members",
            "Live shard members this shard sees (its own Lease included).",
            ["shard"],
            registry=self.registry,
        )
        self.shard_reconcile_duration = Histogram(
            "tether_shard_reconcile_duration_seconds",
            "Wall time of one Application reconcile on this shard.",
            ["shard"],
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.git_fetch_duration = Histogram(
            "tether_git_fetch_duration_seconds",
            "Wall time of resolving and fetching one Repository.",
            buckets=_FETCH_BUCKETS,
            registry=self.registry,
        )

        self._app_counts: dict[tuple[str, str], int] = {}
        self.webhook_requests = Counter(
            "tether_webhook_requests_total",
            "Push webhook requests, by provider and outcome (accepted, ignored, ping, "
            "unauthorized, too_large, rate_limited, bad_request, not_found, unavailable).",
            ["provider", "outcome"],
            registry=self.registry,
        )

    def count_webhook(self, provider: str, outcome: str) -> None:
        self.webhook_requests.labels(provider=provider, outcome=outcome).inc()

    def observe_reconcile(self, kind: str, seconds: float) -> None:
        self.reconcile_duration.labels(kind=kind).observe(seconds)
        if self.shard and kind == "Application":
            self.shard_reconcile_duration.labels(shard=self.shard).observe(seconds)

    def set_shard(self, *, owned: int, queued: int, members: int) -> None:
        """This shard's gauges (only called when sharded)."""
        self.shard_apps_owned.labels(shard=self.shard).set(owned)
        self.shard_queue_depth.labels(shard=self.shard).set(queued)
        self.shard_members.labels(shard=self.shard).set(members)

    def count_sync(self, result: str) -> None:
        self.sync_total.labels(result=result).inc()

    def count_api_request(self, verb: str, code: int | str, resource: str = "") -> None:
        self.api_requests.labels(verb=verb.upper(), code=str(code), resource=resource).inc()

    def observe_git_fetch(self, seconds: float) -> None:
        self.git_fetch_duration.observe(seconds)

    def set_cache_objects(self, count: int) -> None:
        self.cache_objects.set(count)

    def set_applications(self, states: Iterable[tuple[str, str]]) -> None:
        """Replace the application gauge with a count per (sync, health) pair."""
        counts: dict[tuple[str, str], int] = {}
        for pair in states:
            counts[pair] = counts.get(pair, 0) + 1
        self.applications.clear()
        self._app_counts = counts
        for (sync_status, health_status), n in counts.items():
            self.applications.labels(sync_status=sync_status, health_status=health_status).set(n)

    def move_application(self, old: tuple[str, str] | None, new: tuple[str, str] | None) -> None:
        """One app went from ``old`` to ``new`` (None: not counted); a pair whose count
        reaches zero leaves the gauge, as with ``set_applications``. Constant time, where
        a rebuild per change made every reconcile linear in the number of apps."""
        for pair, step in ((old, -1), (new, 1)):
            if pair is None:
                continue
            n = self._app_counts.get(pair, 0) + step
            if n > 0:
                self._app_counts[pair] = n
                self.applications.labels(sync_status=pair[0], health_status=pair[1]).set(n)
            else:
                self._app_counts.pop(pair, None)
                with contextlib.suppress(KeyError):  # never set: nothing to remove
                    self.applications.remove(*pair)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Probes:
    """What the probes answer. ``checks`` are extra liveness checks (name -> ok?)."""

    ready: bool = False
    started_at: float = field(default_factory=time.monotonic)
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)

    def failing_checks(self) -> list[str]:
        return sorted(name for name, check in self.checks.items() if not _safe(check))


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


class ProbeServer(AppServer):
    """``/metrics``, ``/healthz`` and ``/readyz`` on one host and port."""

    def __init__(self, metrics: Metrics, probes: Probes, host: str, port: int) -> None:
        super().__init__(host, port)
        self.metrics = metrics
        self.probes = probes

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _metrics(self, _: web.Request) -> web.Response:
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        failing = self.probes.failing_checks()
        if failing:
            return web.Response(status=503, text="failing: " + ", ".join(failing) + "\n")
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if not self.probes.ready:
            return web.Response(status=503, text="not ready\n")
        return web.Response(text="ready\n")
