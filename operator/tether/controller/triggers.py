"""The wake-up queue that decides when an object is reconciled.

Kubernetes watch events, Repository revision moves, cluster-cache events on
managed objects, the ``tether.dev/refresh`` and ``tether.dev/sync`` annotations,
verified push webhooks and interval timers all end up as ``wake(key, reason)`` here. The queue is
keyed, so a burst of wake-ups for one object collapses into one reconcile;
an object is never reconciled by two workers at once, and a wake-up that
arrives while it is being reconciled runs it once more afterwards.

Fair sharing: ``done`` is told how long the reconcile took, and a key whose
reconciles are quick (an average under ``EXPRESS_SECONDS``), woken only for drift or
its interval (``EXPRESS_REASONS``: nothing that means a new render), is queued in the
express lane. Every worker takes express keys first; an *express* worker (``get(express=True)``, the
runtime keeps one when it has two or more) takes nothing else. So a cheap reconcile
(a canary's selfHeal) never waits behind a pool full of heavy renders; a key whose
cost is not known yet goes in the ordinary lane until it has shown it is cheap.

This module knows nothing about what a reconcile does; controllers pull keys
with ``get`` and report back with ``done``.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field

from tether.backoff import exponential
from tether.constants import REFRESH_ANNOTATION as REFRESH_ANNOTATION  # re-exported

Key = tuple[str, str]
"""(namespace, name) of the object to reconcile."""

# Why an object was woken. Plain strings so logs and tests read well.
CREATED = "created"
SPEC_CHANGED = "spec-changed"
RESUMED = "resumed"
REVISION_MOVED = "revision-moved"
DRIFT = "drift"
REFRESH = "refresh-annotation"
WEBHOOK = "webhook"  # a verified push webhook named this Repository (tether.webhook)
SYNC = "sync-annotation"
INTERVAL = "interval"
RETRY = "retry"
DELETING = "deleting"
DEPENDENCY = "dependency"
PROJECT = "project-changed"  # the app's Project changed: re-check what it may do


def jittered(seconds: float, fraction: float = 0.1, rng: random.Random | None = None) -> float:
    """``seconds`` spread by up to +/- ``fraction`` so that many apps do not tick together."""
    if seconds <= 0:
        return 0.0
    spread = seconds * fraction
    pick = (rng or random).uniform(-spread, spread)
    return max(0.0, seconds + pick)


def backoff(failures: int, base: float = 1.0, factor: float = 2.0, cap: float = 300.0) -> float:
    """Delay before retry number ``failures`` (1-based): base * factor**(n-1), capped.

    Never overflows, whatever the count (see ``tether.backoff``).
    """
    return exponential(failures, base, factor, cap)


# A key whose reconciles take this little (an average that one slow run under CPU
# contention does not tip over) stays in the express lane ...
EXPRESS_SECONDS = 5.0
# ... while it is woken only for these: a moved revision, a spec change or a refresh
# means a new render, which is no prediction from the last reconcile's cost.
EXPRESS_REASONS = frozenset({DRIFT, INTERVAL})


@dataclass
class _Entry:
    reasons: set[str] = field(default_factory=set)


class WakeQueue:
    """A keyed, de-duplicating work queue with delayed wake-ups."""

    def __init__(self, *, express_seconds: float = EXPRESS_SECONDS) -> None:
        self._express: deque[Key] = deque()  # keys whose last reconcile was quick
        self._ordinary: deque[Key] = deque()
        self._signal = asyncio.Event()  # set whenever a key is queued or the queue closes
        self._pending: dict[Key, _Entry] = {}  # queued, or woken while processing
        self._processing: set[Key] = set()
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._cost: dict[Key, float] = {}  # seconds the last reconcile of each key took
        self._express_seconds = express_seconds
        self._closed = False

    def __len__(self) -> int:
        return sum(1 for key in self._pending if key not in self._processing)

    @property
    def processing(self) -> frozenset[Key]:
        return frozenset(self._processing)

    def wake(self, key: Key, reason: str) -> None:
        """Queue ``key`` now, remembering why. Safe to call from any callback."""
        if self._closed:
            return
        entry = self._pending.get(key)
        if entry is not None:
            entry.reasons.add(reason)
            return
        self._pending[key] = _Entry({reason})
        if key not in self._processing:
            self._queue(key)

    def is_express(self, key: Key) -> bool:
        """Whether ``key``'s reconciles are quick enough for the express lane."""
        cost = self._cost.get(key)
        return cost is not None and cost < self._express_seconds

    def _queue(self, key: Key) -> None:
        entry = self._pending.get(key)
        quick = self.is_express(key) and entry is not None and entry.reasons <= EXPRESS_REASONS
        (self._express if quick else self._ordinary).append(key)
        self._signal.set()

    def wake_after(self, key: Key, delay: float, reason: str) -> None:
        """Queue ``key`` after ``delay`` seconds, unless an earlier wake-up is already set."""
        if self._closed:
            return
        if delay <= 0:
            self.wake(key, reason)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        current = self._timers.get(key)
        if current is not None:
            if current[0] <= due:
                return
            current[1].cancel()
        handle = loop.call_at(due, self._fire, key, reason)
        self._timers[key] = (due, handle)

    def scheduled_in(self, key: Key) -> float | None:
        """Seconds until the timer for ``key`` fires, or None."""
        current = self._timers.get(key)
        if current is None:
            return None
        return max(0.0, current[0] - asyncio.get_running_loop().time())

    def forget(self, key: Key) -> None:
        """Drop timers and queued wake-ups for a deleted object."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()
        self._pending.pop(key, None)
        self._cost.pop(key, None)

    async def get(self, *, express: bool = False) -> tuple[Key, frozenset[str]]:
        """Wait for the next key, express lane first (only that lane when ``express``);
        it is marked processing until ``done``."""
        while True:
            if self._closed:
                raise QueueClosed()
            found = self._take(self._express) or (None if express else self._take(self._ordinary))
            if found is not None:
                return found
            self._signal.clear()  # no await since the lanes were read: no wake-up is lost
            await self._signal.wait()

    def _take(self, lane: deque[Key]) -> tuple[Key, frozenset[str]] | None:
        while lane:
            key = lane.popleft()
            if key in self._processing:
                continue  # a stale duplicate; ``done`` queues it again
            entry = self._pending.get(key)
            if entry is None:
                continue  # forgotten, or a stale duplicate
            if lane is self._express and not entry.reasons <= EXPRESS_REASONS:
                self._ordinary.append(key)  # woken meanwhile for work that renders
                continue
            del self._pending[key]
            self._processing.add(key)
            return key, frozenset(entry.reasons)
        return None

    def done(self, key: Key, seconds: float | None = None) -> None:
        """Mark ``key`` finished, ``seconds`` after it started (averaged with the last
        cost, it picks the lane from now on); if it was woken meanwhile, queue it again."""
        self._processing.discard(key)
        if seconds is not None:
            previous = self._cost.get(key)
            self._cost[key] = seconds if previous is None else (previous + seconds) / 2
        if key in self._pending and not self._closed:
            self._queue(key)

    def close(self) -> None:
        self._closed = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._signal.set()

    def _fire(self, key: Key, reason: str) -> None:
        self._timers.pop(key, None)
        self.wake(key, reason)


class QueueClosed(Exception):
    """Raised from ``get`` once the queue is closed and empty."""
