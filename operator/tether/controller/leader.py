"""Lease-based leader election (coordination.k8s.io/v1), so one replica reconciles.

Why a Lease and not kopf peering: peering pauses operators in favour of a
higher priority one and treats equal priorities as a conflict, so it gives no
"exactly one active" guarantee; it also needs its own CRDs and RBAC. A Lease
is what Kubernetes controllers use, needs only ``leases`` RBAC in one
namespace, and has clear timing (lease duration, renew deadline).

Every replica runs the kopf watches (a warm standby); only the leader runs the
workers. A leader that cannot renew before the deadline stops the process:
restarting is the simplest way to be sure no two replicas write at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from tether.kube.client import KubeClient
from tether.kube.errors import Conflict, KubeError, NotFound
from tether.kube.resource import ApiResource

log = logging.getLogger(__name__)

LEASES = ApiResource("coordination.k8s.io", "v1", "Lease", "leases", True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lease_time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_lease_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "tether-leader"
    identity: str = "tether"
    lease_seconds: int = 15
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0


class LeaderElector:
    """Acquire, then keep renewing, one Lease."""

    def __init__(self, client: KubeClient, config: LeaseConfig) -> None:
        self.client = client
        self.config = config
        self.is_leader = False

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        while not await self._try():
            await asyncio.sleep(self.config.retry_seconds)
        self.is_leader = True
        log.info("became leader (Lease %s/%s)", self.config.namespace, self.config.name)

    async def hold(self) -> None:
        """Renew until a renewal fails past the lease duration; then return (caller exits)."""
        last_ok = _now()
        while True:
            await asyncio.sleep(self.config.renew_seconds)
            try:
                ok = await self._try()
            except KubeError as exc:
                log.warning("lease renewal failed: %s", exc)
                ok = False
            if ok:
                last_ok = _now()
            elif (_now() - last_ok).total_seconds() >= self.config.lease_seconds:
                self.is_leader = False
                log.error("lost the leader Lease; stopping")
                return

    async def release(self) -> None:
        if not self.is_leader:
            return
        try:
            lease = await self.client.get(LEASES, self.config.name, self.config.namespace)
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") == self.config.identity:
                spec["holderIdentity"] = None
                spec["leaseDurationSeconds"] = 1
                await self.client.replace(
                    LEASES, {**lease, "spec": spec}, namespace=self.config.namespace
                )
        except KubeError as exc:
            log.warning("could not release the Lease: %s", exc)
        self.is_leader = False

    async def _try(self) -> bool:
        cfg = self.config
        now = _now()
        try:
            lease: dict[str, Any] = await self.client.get(LEASES, cfg.name, cfg.namespace)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": self._spec(now, transitions=0, acquired=now),
            }
            try:
                await self.client.create(LEASES, body, namespace=cfg.namespace)
            except Conflict:
                return False
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = parse_lease_time(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or cfg.lease_seconds)
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if holder not in (None, "", cfg.identity) and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = parse_lease_time(spec.get("acquireTime")) or now
        if holder != cfg.identity:
            transitions += 1
            acquired = now
        lease["spec"] = self._spec(now, transitions=transitions, acquired=acquired)
        try:
            await self.client.replace(LEASES, lease, namespace=cfg.namespace)
        except Conflict:
            return False
        return True

    def _spec(self, now: dt.datetime, *, transitions: int, acquired: dt.datetime) -> dict[str, Any]:
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self.config.lease_seconds,
            "acquireTime": lease_time(acquired),
            "renewTime": lease_time(now),
            "leaseTransitions": transitions,
        }
