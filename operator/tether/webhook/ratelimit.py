"""Token buckets for the webhook receiver: one per source address and one for everything.

A bucket holds up to ``burst`` tokens and gains ``rate`` per second; a request takes
one. ``RateLimiter.admit(source)`` takes from the source's bucket and the global one,
so one noisy sender is stopped before it can starve the others, and a flood from many
addresses is stopped by the global bucket. Pure: the clock is passed in. The table of
per-source buckets is bounded; when full, the longest-idle buckets go first (a full
bucket carries no state worth keeping).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``per_second`` sustained, ``burst`` at once. ``per_second <= 0`` means no limit."""

    per_second: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0


class TokenBucket:
    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(max(1, rate.burst))
        self.stamp = now

    def take(self, now: float) -> bool:
        if self.rate.unlimited:
            return True
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(
            float(max(1, self.rate.burst)), self.tokens + elapsed * self.rate.per_second
        )
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """Per-source and global buckets; ``admit`` is False when either is empty."""

    def __init__(self, per_source: Rate, overall: Rate, *, max_sources: int = 10_000) -> None:
        self.per_source = per_source
        self.max_sources = max(1, max_sources)
        self._overall_rate = overall
        self._overall: TokenBucket | None = None
        self._sources: OrderedDict[str, TokenBucket] = OrderedDict()

    def admit(self, source: str, now: float) -> bool:
        bucket = self._sources.get(source)
        if bucket is None:
            bucket = TokenBucket(self.per_source, now)
            self._sources[source] = bucket
            while len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        if not bucket.take(now):
            return False
        if self._overall is None:
            self._overall = TokenBucket(self._overall_rate, now)
        return self._overall.take(now)
