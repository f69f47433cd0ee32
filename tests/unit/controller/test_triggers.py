"""The keyed wake-up queue."""

from __future__ import annotations

import asyncio
import random

import pytest

from tether.controller import triggers
from tether.controller.triggers import QueueClosed, WakeQueue


async def test_wakes_for_one_key_collapse_and_keep_every_reason() -> None:
    q = WakeQueue()
    q.wake(("n", "a"), triggers.DRIFT)
    q.wake(("n", "a"), triggers.REFRESH)
    q.wake(("n", "b"), triggers.CREATED)
    key, reasons = await q.get()
    assert key == ("n", "a") and reasons == {triggers.DRIFT, triggers.REFRESH}
    key2, _ = await q.get()
    assert key2 == ("n", "b")
    assert len(q) == 0


async def test_a_key_woken_while_processing_runs_again_after_done_never_in_parallel() -> None:
    q = WakeQueue()
    q.wake(("n", "a"), triggers.CREATED)
    key, _ = await q.get()
    q.wake(key, triggers.DRIFT)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.get(), 0.05)  # not handed to a second worker
    q.done(key)
    again, reasons = await asyncio.wait_for(q.get(), 1)
    assert again == key and reasons == {triggers.DRIFT}


async def test_wake_after_keeps_the_earliest_timer() -> None:
    q = WakeQueue()
    q.wake_after(("n", "a"), 10, triggers.INTERVAL)
    q.wake_after(("n", "a"), 0.05, triggers.RETRY)
    q.wake_after(("n", "a"), 20, triggers.INTERVAL)
    delay = q.scheduled_in(("n", "a"))
    assert delay is not None and delay < 1
    key, reasons = await asyncio.wait_for(q.get(), 1)
    assert key == ("n", "a") and reasons == {triggers.RETRY}


async def test_forget_drops_queued_and_timed_wakes() -> None:
    q = WakeQueue()
    q.wake(("n", "a"), triggers.CREATED)
    q.wake_after(("n", "b"), 0.01, triggers.INTERVAL)
    q.forget(("n", "a"))
    q.forget(("n", "b"))
    await asyncio.sleep(0.05)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.get(), 0.05)


async def test_close_releases_waiting_workers() -> None:
    q = WakeQueue()
    waiters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.close()
    for w in waiters:
        with pytest.raises(QueueClosed):
            await asyncio.wait_for(w, 1)


def test_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(7)
    values = [triggers.jittered(100, 0.1, rng) for _ in range(200)]
    assert all(90 <= v <= 110 for v in values)
    assert max(values) - min(values) > 10
    assert triggers.jittered(0) == 0


def test_backoff_grows_and_caps() -> None:
    assert [triggers.backoff(n, 1, 2, 5) for n in range(5)] == [0, 1, 2, 4, 5]


@pytest.mark.parametrize(
    ("failures", "base", "factor", "cap"),
    [
        (10**6, 2.0, 2.0, 1e-9),  # interval: 1ns, a million failures: the old OverflowError
        (2000, 1e-9, 2.0, 1e300),  # factor**n alone would overflow before the product
        (5, 5.0, 1e308, 180.0),
        (10**400, 1.0, 2.0, 300.0),  # more failures than a float can hold
    ],
)
def test_backoff_never_overflows_and_ends_at_the_cap(
    failures: int, base: float, factor: float, cap: float
) -> None:
    assert triggers.backoff(failures, base, factor, cap) == pytest.approx(cap)


async def test_a_key_that_reconciled_quickly_goes_first_and_to_the_express_worker() -> None:
    q = WakeQueue(express_seconds=1.0)
    heavy, canary, fresh = ("n", "heavy"), ("n", "canary"), ("n", "fresh")
    for key, seconds in ((heavy, 30.0), (canary, 0.05)):
        q.wake(key, triggers.CREATED)
        got, _ = await q.get()
        q.done(got, seconds)
    assert q.is_express(canary) and not q.is_express(heavy) and not q.is_express(fresh)
    q.wake(heavy, triggers.REVISION_MOVED)
    q.wake(fresh, triggers.CREATED)  # cost unknown: the ordinary lane
    # the express worker does not take ordinary keys ...
    express = asyncio.create_task(q.get(express=True))
    await asyncio.sleep(0.01)
    assert not express.done()
    q.wake(canary, triggers.DRIFT)  # ... and takes the quick one as soon as it is woken
    key, reasons = await asyncio.wait_for(express, 1)
    assert key == canary and reasons == {triggers.DRIFT}
    # an ordinary worker takes the express lane first, then in order
    q.done(canary, 0.05)
    q.wake(canary, triggers.DRIFT)
    assert [(await q.get())[0] for _ in range(3)] == [canary, heavy, fresh]


async def test_a_quick_key_woken_for_a_new_revision_waits_in_the_ordinary_lane() -> None:
    q = WakeQueue(express_seconds=1.0)
    key = ("n", "usually-cheap")
    q.wake(key, triggers.CREATED)
    await q.get()
    q.done(key, 0.1)
    q.wake(key, triggers.REVISION_MOVED)  # a new commit: it will render
    express = asyncio.create_task(q.get(express=True))
    await asyncio.sleep(0.01)
    assert not express.done()
    assert (await q.get())[0] == key
    q.done(key, 0.1)
    q.wake(key, triggers.DRIFT)  # queued express, then a new commit arrives meanwhile
    q.wake(key, triggers.REVISION_MOVED)
    await asyncio.sleep(0.01)
    assert not express.done()  # the express worker passed it on
    key2, reasons = await q.get()
    assert key2 == key and reasons == {triggers.DRIFT, triggers.REVISION_MOVED}
    express.cancel()


async def test_a_cheap_key_that_turned_heavy_leaves_the_express_lane() -> None:
    q = WakeQueue(express_seconds=1.0)
    key = ("n", "a")
    q.wake(key, triggers.CREATED)
    await q.get()
    q.done(key, 0.1)
    assert q.is_express(key)
    q.wake(key, triggers.REVISION_MOVED)
    await q.get()
    q.done(key, 1.5)  # one slow run (CPU contention) does not tip the average
    assert q.is_express(key)
    q.wake(key, triggers.DRIFT)
    await q.get()
    q.done(key, 12.0)  # it turned heavy: 12 s, then 20 s
    q.wake(key, triggers.DRIFT)
    await q.get()
    q.done(key, 20.0)
    assert not q.is_express(key)
    q.forget(key)
    assert not q.is_express(key)
