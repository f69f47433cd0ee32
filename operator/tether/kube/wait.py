"""Waiting on live objects: health gates, hook completion, deletion.

Each wait polls a ``LiveLookup`` (the cache first, then a GET) until the
condition holds or the timeout passes, and returns a result value instead of
raising, so the executor can record why a gate failed. Health comes from
``tether.health.assess``.

``fresh_lookup`` guards a gate against the watch cache lagging behind a write:
an object the cache still holds at a version older than the one written is
fetched directly instead of being judged stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.health import HealthResult, HealthStatus, assess
from tether.identity import ResourceKey
from tether.kube.changeset import Written

LiveLookup = Callable[[ResourceKey], Awaitable[dict[str, Any] | None]]

_PASS = frozenset({HealthStatus.HEALTHY, HealthStatus.SUSPENDED})


@dataclass(frozen=True)
class GateResult:
    """Whether every object passed, and the health of those that did not."""

    passed: bool
    pending: tuple[tuple[ResourceKey, HealthResult], ...] = ()
    timed_out: bool = False

    @property
    def message(self) -> str:
        if self.passed:
            return ""
        parts = [
            f"{k.kind} {k.namespace + '/' if k.namespace else ''}{k.name} is {h.status.value}"
            + (f": {h.message}" if h.message else "")
            for k, h in self.pending[:5]
        ]
        more = f" (+{len(self.pending) - 5} more)" if len(self.pending) > 5 else ""
        prefix = "health gate timed out: " if self.timed_out else "health gate failed: "
        return prefix + "; ".join(parts) + more


def fresh_lookup(
    lookup: LiveLookup, fetch: LiveLookup, written: Mapping[ResourceKey, Written]
) -> LiveLookup:
    """``lookup``, except that an object older than its write in ``written`` is ``fetch``ed."""

    async def fresh(key: ResourceKey) -> dict[str, Any] | None:
        live = await lookup(key)
        mark = written.get(key)
        if mark is None or not mark.is_older(live):
            return live
        return await fetch(key)

    return fresh


async def wait_healthy(
    keys: Sequence[ResourceKey],
    lookup: LiveLookup,
    *,
    timeout: float,
    poll: float = 0.2,
    fail_on_degraded: bool = False,
    rules: Any = None,
) -> GateResult:
    """Wait until every object is Healthy (or Suspended)."""
    deadline = time.monotonic() + timeout
    remaining = list(keys)
    while True:
        pending: list[tuple[ResourceKey, HealthResult]] = []
        for key in remaining:
            live = await lookup(key)
            result = assess(live) if rules is None else assess(live, rules)
            if result.status not in _PASS:
                pending.append((key, result))
        if not pending:
            return GateResult(True)
        if fail_on_degraded and any(h.status is HealthStatus.DEGRADED for _, h in pending):
            return GateResult(
                False, tuple(p for p in pending if p[1].status is HealthStatus.DEGRADED)
            )
        if time.monotonic() >= deadline:
            return GateResult(False, tuple(pending), timed_out=True)
        remaining = [k for k, _ in pending]
        await asyncio.sleep(poll)


async def wait_gone(
    key: ResourceKey, lookup: LiveLookup, *, timeout: float, uid: str = "", poll: float = 0.1
) -> bool:
    """Wait until the object (with ``uid``, when given) no longer exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = await lookup(key)
        if live is None or (uid and (live.get("metadata") or {}).get("uid") != uid):
            return True
        await asyncio.sleep(poll)
    return False
