"""Coalescing and bounds of ``UnlabelledLister`` against a client whose LIST the test holds.

The server side (what a LIST answers, crowded namespaces) is in
``e2e/test_engine_misses.py``; here is the scheduling only: callers join a LIST
that waits to be sent, never one on the wire, and a cancelled caller leaves no
one waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether.kube.errors import Forbidden, Unavailable
from tether.kube.resource import ApiResource
from tether.kube.unlabelled import CROWDED_SECONDS, PAGE_FLOOR, UnlabelledLister

CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True)


class HeldClient:
    """Each LIST waits until the test releases it; records its limit."""

    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items = items or []
        self.limits: list[int] = []
        self.release = asyncio.Event()
        self.sent = asyncio.Event()
        self.fail: Exception | None = None
        self.more = False

    async def list_page(self, res: ApiResource, **query: Any) -> dict[str, Any]:
        assert query["label_selector"] == "!tether.dev/app" and query["namespace"] == "ns"
        self.limits.append(query["limit"])
        self.sent.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        meta = {"continue": "next"} if self.more else {}
        return {"apiVersion": "v1", "metadata": meta, "items": [dict(i) for i in self.items]}


def lister(client: HeldClient, now: list[float] | None = None) -> UnlabelledLister:
    clock = now or [0.0]
    return UnlabelledLister(client, clock=lambda: clock[0])  # type: ignore[arg-type]


async def test_callers_gather_behind_the_list_on_the_wire_and_share_the_next() -> None:
    client = HeldClient([{"metadata": {"name": "found"}}])
    unlabelled = lister(client)
    first = asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", 3))
    await client.sent.wait()  # on the wire: a later caller must not take its answer
    later = [asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", n)) for n in (5, 20)]
    await asyncio.sleep(0)
    assert unlabelled.worth_listing(CONFIGMAPS, "ns", 1)  # one miss may join the batch
    client.release.set()
    answers = await asyncio.gather(first, *later)
    assert client.limits == [PAGE_FLOOR, 2 * (5 + 20)]  # two LISTs for three callers
    for answer in answers:
        assert answer == {"found": {"metadata": {"name": "found"}, "apiVersion": "v1",
                                    "kind": "ConfigMap"}}  # fmt: skip


async def test_one_miss_alone_is_a_get_not_a_list() -> None:
    unlabelled = lister(HeldClient())
    assert not unlabelled.worth_listing(CONFIGMAPS, "ns", 1)
    assert unlabelled.worth_listing(CONFIGMAPS, "ns", 2)


async def test_more_than_a_page_or_a_refusal_marks_the_namespace_crowded_for_a_while() -> None:
    now = [0.0]
    for make in (lambda c: setattr(c, "more", True),
                 lambda c: setattr(c, "fail", Forbidden("no list", status=403))):  # fmt: skip
        client = HeldClient()
        make(client)
        client.release.set()
        unlabelled = lister(client, now)
        assert await unlabelled.names(CONFIGMAPS, "ns", 2) is None
        assert not unlabelled.worth_listing(CONFIGMAPS, "ns", 50)
        now[0] += CROWDED_SECONDS + 1
        assert unlabelled.worth_listing(CONFIGMAPS, "ns", 2)


async def test_a_failed_list_answers_none_without_marking_the_namespace() -> None:
    client = HeldClient()
    client.fail = Unavailable("API server unreachable: reset", status=0)
    client.release.set()
    unlabelled = lister(client)
    assert await unlabelled.names(CONFIGMAPS, "ns", 2) is None
    assert unlabelled.worth_listing(CONFIGMAPS, "ns", 2)


async def test_a_cancelled_leader_leaves_its_followers_an_answer_and_no_stale_batch() -> None:
    client = HeldClient()
    unlabelled = lister(client)
    busy = asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", 2))
    await client.sent.wait()
    waiting = asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", 2))  # behind `busy`
    await asyncio.sleep(0)
    follower = asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", 2))  # joins `waiting`
    await asyncio.sleep(0)
    waiting.cancel()
    assert await follower is None  # ask by GET, not hang
    client.release.set()
    assert await busy == {}
    client.sent.clear()
    again = asyncio.create_task(unlabelled.names(CONFIGMAPS, "ns", 2))
    await client.sent.wait()  # a new LIST, not the cancelled batch's answer
    assert await again == {}
    assert len(client.limits) == 2
