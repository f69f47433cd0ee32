"""Kubernetes Events on Applications and Repositories.

``EventRecorder`` builds core/v1 Events with fixed reasons, masks secret values,
and drops repeats of the same (object, reason, message) for a quiet period so
that a reconcile loop that keeps seeing the same failure does not flood the
API server with writes. Posting goes through an ``EventSink`` (the Kubernetes
API in the operator, a list in tests).

``BackgroundSink`` takes the POSTs off the reconcile's path: a reconcile hands
its Event to a bounded queue (waiting only when it is full) and a few tasks post
them, each object's Events in order. A failing sink is logged when it starts failing and once more
when it recovers, with the count lost meanwhile; Events still queued at shutdown
are posted within a grace period, and any left are counted in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tether.controller.redact import REDACTOR, Redactor

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]

# The reasons Tether posts; kept here so that docs and tests have one list.
SYNC_STARTED = "SyncStarted"
SYNC_SUCCEEDED = "SyncSucceeded"
SYNC_FAILED = "SyncFailed"
PRUNED = "Pruned"
PRUNE_SKIPPED = "PruneSkipped"
ADOPTED = "Adopted"
SHARED_RESOURCE = "SharedResource"
SOURCE_UNAVAILABLE = "SourceUnavailable"
DELETION_BLOCKED = "DeletionBlocked"
FETCH_FAILED = "FetchFailed"

_MAX_MESSAGE = 1024
_QUIET_SECONDS = 600.0


@dataclass(frozen=True)
class InvolvedObject:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, body: dict[str, Any]) -> InvolvedObject:
        meta = body.get("metadata") or {}
        return cls(
            api_version=str(body.get("apiVersion", "")),
            kind=str(body.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
        )


class EventSink(Protocol):
    async def create_event(self, namespace: str, event: dict[str, Any]) -> None: ...


class EventRecorder:
    """Posts Events, masked and de-duplicated. Failures to post are logged, not raised."""

    def __init__(
        self,
        sink: EventSink,
        *,
        component: str = "tether",
        instance: str = "",
        redactor: Redactor = REDACTOR,
        quiet_seconds: float = _QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.component = component
        self.instance = instance
        self.redactor = redactor
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self._recent: dict[tuple[str, str, str, str], float] = {}

    async def normal(self, obj: InvolvedObject, reason: str, message: str) -> bool:
        return await self.post(obj, "Normal", reason, message)

    async def warning(self, obj: InvolvedObject, reason: str, message: str) -> bool:
        return await self.post(obj, "Warning", reason, message)

    async def post(self, obj: InvolvedObject, type_: EventType, reason: str, message: str) -> bool:
        """Post one Event; returns False when it was a recent repeat or posting failed."""
        text = self.redactor.redact(message)[:_MAX_MESSAGE]
        key = (obj.uid or f"{obj.namespace}/{obj.name}", type_, reason, text)
        now = self.clock()
        last = self._recent.get(key)
        if last is not None and now - last < self.quiet_seconds:
            return False
        self._recent[key] = now
        self._forget_old(now)
        try:
            await self.sink.create_event(obj.namespace, self.build(obj, type_, reason, text))
        except Exception as exc:  # an Event is never worth failing a reconcile for
            log.warning(
                "could not post event %s on %s/%s: %s", reason, obj.namespace, obj.name, exc
            )
            return False
        return True

    def build(
        self, obj: InvolvedObject, type_: EventType, reason: str, message: str
    ) -> dict[str, Any]:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        micro = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        involved = {
            "apiVersion": obj.api_version,
            "kind": obj.kind,
            "namespace": obj.namespace,
            "name": obj.name,
        }
        if obj.uid:
            involved["uid"] = obj.uid
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{obj.name}.{secrets.token_hex(8)}",
                "namespace": obj.namespace,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "eventTime": micro,
            "action": reason,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance or self.component,
        }

    def _forget_old(self, now: float) -> None:
        if len(self._recent) < 4096:
            return
        horizon = now - self.quiet_seconds
        self._recent = {k: t for k, t in self._recent.items() if t >= horizon}


class BackgroundSink:
    """An EventSink that queues (bounded) and posts through ``sink`` from a few tasks.

    Each involved object's Events go through one lane (by uid, else name), so they
    are posted in the order they were made; ``lanes`` objects post at once.
    """

    def __init__(self, sink: EventSink, *, capacity: int = 1024, lanes: int = 4) -> None:
        self.sink = sink
        size = max(1, capacity // lanes)
        self._queues: list[asyncio.Queue[tuple[str, dict[str, Any]]]] = [
            asyncio.Queue(size) for _ in range(lanes)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = ""  # the error of the current run of failures, logged once
        self._failed = 0
        self._unposted = 0  # queued or in flight

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._post_all(queue), name=f"tether-events-{i}")
                for i, queue in enumerate(self._queues)
            ]
        involved = event.get("involvedObject") or {}
        lane = hash(involved.get("uid") or (namespace, involved.get("name")))
        # Waits only while the lane is full: bounded, and nothing dropped.
        await self._queues[lane % len(self._queues)].put((namespace, event))
        self._unposted += 1

    async def close(self, grace: float = 5.0) -> None:
        """Post what is queued (at most ``grace`` seconds), then stop; say what was left."""
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._unposted or self._failed:
            log.warning(
                "%d events not posted at shutdown, %d failed to post",
                self._unposted,
                self._failed,
            )

    async def _post_all(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        while True:
            namespace, event = await queue.get()
            try:
                await self.sink.create_event(namespace, event)
            except Exception as exc:  # an Event is never worth stopping the others for
                self._fail(event, exc)
            else:
                self._recovered()
            finally:  # a cancelled post stays counted as not posted
                queue.task_done()
            self._unposted -= 1

    def _fail(self, event: dict[str, Any], exc: Exception) -> None:
        self._failed += 1
        error = str(exc)
        if error != self._failing:
            involved = event.get("involvedObject") or {}
            log.warning(
                "could not post event %s on %s/%s: %s (logged once until it changes)",
                event.get("reason"),
                involved.get("namespace"),
                involved.get("name"),
                error,
            )
            self._failing = error

    def _recovered(self) -> None:
        if self._failing:
            log.warning("posting events again; %d failed meanwhile", self._failed)
            self._failing, self._failed = "", 0


class ListSink:
    """An EventSink that keeps events in memory (tests, dry runs)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        self.events.append(event)
