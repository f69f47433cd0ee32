"""Exponential backoff that no failure count, factor or duration can overflow.

``exponential(n, base, factor, cap)`` is ``base * factor**(n-1)`` capped at
``cap``, compared in log space before any power is taken: an object that
fails forever (or an ``interval: 1ns`` that counts failures fast) waits ``cap``
instead of raising ``OverflowError``. Pure; used by the controller's wake-up
timers and retry policy and by the engine's sync retries.
"""

from __future__ import annotations

import math

_MAX_STEPS = 2**62  # any int becomes a finite float; far past every reachable cap
_MAX_LOG_GROWTH = 700.0  # factor**steps stays below the largest float (about e**709)


def exponential(failures: int, base: float, factor: float, cap: float) -> float:
    """Delay before retry ``failures`` (1-based): base * factor**(failures-1), at most ``cap``."""
    if failures <= 0 or base <= 0 or cap <= 0:
        return 0.0
    if factor <= 1.0:  # a non-growing delay cannot overflow
        return float(min(cap, base * max(factor, 0.0) ** min(failures - 1, _MAX_STEPS)))
    # Compare in log space first, where nothing overflows; take the power only when
    # the result is below the cap (and the power alone fits a float).
    steps = min(failures - 1, _MAX_STEPS)
    growth = float(steps) * math.log(factor)
    if math.log(base) + growth >= math.log(cap):
        return float(cap)
    if growth < _MAX_LOG_GROWTH:
        return float(min(cap, base * factor**steps))
    return float(min(cap, math.exp(math.log(base) + growth)))
