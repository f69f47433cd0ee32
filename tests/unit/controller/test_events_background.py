"""``BackgroundSink``: Events posted off the caller's path, in order, bounded, never lost silently."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tether.controller.events import BackgroundSink


class HeldSink:
    """Posts wait for the test's go; some fail, as the test says."""

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.go = asyncio.Event()
        self.fail_with: Exception | None = None

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self.go.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.posted.append(event["reason"])


def event(reason: str, name: str = "web") -> dict[str, Any]:
    return {"reason": reason, "involvedObject": {"namespace": "ns", "name": name, "uid": name}}


async def test_the_caller_does_not_wait_for_the_post_and_order_is_kept() -> None:
    sink = HeldSink()
    background = BackgroundSink(sink)
    for reason in ("SyncStarted", "Adopted", "SyncSucceeded"):
        await background.create_event("ns", event(reason))  # returns with the sink held
    assert sink.posted == []
    sink.go.set()
    await background.close()
    assert sink.posted == ["SyncStarted", "Adopted", "SyncSucceeded"]


async def test_objects_post_in_parallel_lanes_each_in_its_own_order() -> None:
    sink = HeldSink()
    background = BackgroundSink(sink, lanes=4)
    made = [(f"app{i}", reason) for i in range(8) for reason in ("SyncStarted", "SyncSucceeded")]
    for name, reason in made:
        await background.create_event("ns", event(f"{name}:{reason}", name))
    sink.go.set()
    await background.close()
    assert sorted(sink.posted) == sorted(f"{n}:{r}" for n, r in made)
    for i in range(8):
        mine = [p for p in sink.posted if p.startswith(f"app{i}:")]
        assert mine == [f"app{i}:SyncStarted", f"app{i}:SyncSucceeded"]


async def test_a_full_queue_makes_the_caller_wait_instead_of_dropping() -> None:
    sink = HeldSink()
    background = BackgroundSink(sink, capacity=1, lanes=1)
    await background.create_event("ns", event("one"))  # taken by the poster, held
    await asyncio.sleep(0)
    await background.create_event("ns", event("two"))  # fills the queue
    assert background._queues[0].full()
    third = asyncio.create_task(background.create_event("ns", event("three")))
    await asyncio.sleep(0)  # its one step: put() on a full queue that nobody drains yet
    assert not third.done()  # bounded: it waits for room
    sink.go.set()
    await third
    await background.close()
    assert sink.posted == ["one", "two", "three"]


async def test_failures_are_logged_once_per_error_and_counted_at_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = HeldSink()
    sink.go.set()
    sink.fail_with = RuntimeError("events are forbidden")
    background = BackgroundSink(sink)
    with caplog.at_level(logging.WARNING, logger="tether.controller.events"):
        for reason in ("a", "b", "c"):
            await background.create_event("ns", event(reason))
        await asyncio.gather(*(q.join() for q in background._queues))
        sink.fail_with = None
        await background.create_event("ns", event("d"))
        await background.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("events are forbidden" in m for m in messages) == 1, messages
    assert "posting events again; 3 failed meanwhile" in messages
    assert sink.posted == ["d"]


async def test_events_left_at_shutdown_are_counted_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = HeldSink()  # never lets a post finish
    background = BackgroundSink(sink)
    with caplog.at_level(logging.WARNING, logger="tether.controller.events"):
        for reason in ("a", "b"):
            await background.create_event("ns", event(reason))
        await background.close(grace=0.01)
    assert "2 events not posted at shutdown, 0 failed to post" in caplog.text  # one in flight
