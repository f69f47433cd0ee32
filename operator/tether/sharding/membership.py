"""Membership: one ``coordination.k8s.io`` Lease per replica, and who is live.

Each replica holds ``tether-shard-<id>`` in the operator namespace, labelled
``tether.dev/shard-member``, and renews it every ``renew_seconds``. A member is
live while its Lease is unexpired (``renewTime + leaseDurationSeconds`` is in
the future). Each renew period the replica lists the member Leases and, when
the live set changed, tells its listener: a dead replica drops out at most one
lease duration plus one renew period after its last renewal, a new one joins
within one renew period of its first.

A replica that cannot renew for a whole lease duration is no longer sure it is
a member: ``fresh`` turns false a margin before then (the fence stops starting
new operation steps) and ``run`` returns (the operator stops, like a leader
that lost its Lease). On a clean stop ``leave`` deletes the Lease, so the
others take over at once instead of after the expiry.

Stops at membership; which app is whose is the ring's and the shard's job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.controller.leader import LEASES, lease_time, parse_lease_time
from tether.kube.client import KubeClient
from tether.kube.errors import KubeError, NotFound

log = logging.getLogger(__name__)

MEMBER_LABEL = "tether.dev/shard-member"
LEASE_PREFIX = "tether-shard-"


@dataclass(frozen=True)
class ShardConfig:
    """Who this replica is among the shards, and the lease timing."""

    namespace: str
    identity: str
    shards: int = 2  # how many replicas are expected (reported; the ring uses the live ones)
    lease_seconds: int = 15
    renew_seconds: float = 5.0

    @property
    def lease_name(self) -> str:
        return lease_name(self.identity)


def lease_name(identity: str) -> str:
    """``tether-shard-<id>``, with the id made a valid object name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", identity.lower()).strip("-") or "shard"
    return (LEASE_PREFIX + slug)[:253].rstrip("-")


def live_members(leases: list[dict[str, Any]], now: dt.datetime) -> frozenset[str]:
    """The holders of the member Leases that have not expired at ``now``. Pure."""
    live = set()
    for lease in leases:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_lease_time(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or 0)
        if holder and renewed is not None and (now - renewed).total_seconds() < duration:
            live.add(str(holder))
    return frozenset(live)


Listener = Callable[[frozenset[str]], None]


class Membership:
    """This replica's Lease, renewed; the live members, listed each renew period."""

    def __init__(
        self,
        client: KubeClient,
        config: ShardConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.config = config
        self.members: frozenset[str] = frozenset()
        self._clock = clock
        self._renewed_at: float | None = None  # monotonic time a renewal was sent
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def fresh(self) -> bool:
        """True while our Lease is surely unexpired for everyone: renewed within the lease
        duration minus one renew period (the margin a step needs to stop)."""
        if self._renewed_at is None:
            return False
        margin = self.config.lease_seconds - self.config.renew_seconds
        return self._clock() - self._renewed_at < max(margin, self.config.renew_seconds)

    def _since_renewal(self) -> float:
        return 0.0 if self._renewed_at is None else self._clock() - self._renewed_at

    async def join(self) -> None:
        """Create or take over our Lease, then read the members once."""
        await self._renew()
        await self._refresh()

    async def run(self) -> None:
        """Renew and list every renew period; return when a lease duration passed without
        a renewal (the caller stops the operator)."""
        while True:
            # One renewal per period, start to start: a slow request does not stretch it.
            await asyncio.sleep(max(0.0, self.config.renew_seconds - self._since_renewal()))
            try:
                await self._renew()
            except KubeError as exc:
                log.warning("shard lease renewal failed: %s", exc)
            if self._renewed_at is None or (
                self._clock() - self._renewed_at >= self.config.lease_seconds
            ):
                log.error("could not renew the shard Lease for a lease duration; stopping")
                return
            try:
                await self._refresh()
            except KubeError as exc:
                log.warning("could not list the shard Leases: %s", exc)

    async def leave(self) -> None:
        """Delete our Lease so the others take our apps now (a clean stop)."""
        self._renewed_at = None
        try:
            await self.client.delete(
                LEASES, self.config.lease_name, namespace=self.config.namespace
            )
        except KubeError as exc:
            if not isinstance(exc, NotFound):
                log.warning("could not delete the shard Lease: %s", exc)

    async def _renew(self) -> None:
        """One merge PATCH of ``renewTime``; the first time (or after a clean stop
        deleted it) the Lease is created."""
        cfg = self.config
        sent = self._clock()
        now = lease_time(dt.datetime.now(dt.UTC))
        spec = {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": cfg.lease_seconds,
            "renewTime": now,
        }
        try:
            await self.client.patch(LEASES, cfg.lease_name, {"spec": spec}, namespace=cfg.namespace)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": cfg.lease_name,
                    "namespace": cfg.namespace,
                    "labels": {MEMBER_LABEL: "true"},
                },
                "spec": {**spec, "acquireTime": now},
            }
            await self.client.create(LEASES, body, namespace=cfg.namespace)
        self._renewed_at = sent

    async def _refresh(self) -> None:
        items, _ = await self.client.list_all(
            LEASES, namespace=self.config.namespace, label_selector=MEMBER_LABEL
        )
        live = live_members(items, dt.datetime.now(dt.UTC))
        if self.fresh():
            live = live | {self.config.identity}
        if live != self.members:
            log.info("shard members: %s", ", ".join(sorted(live)) or "none")
            self.members = live
            for listener in self._listeners:
                listener(live)
