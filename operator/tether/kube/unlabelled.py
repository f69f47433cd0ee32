"""The objects of one resource in one namespace that carry no app label, by one LIST.

The watch cache holds every object labelled ``tether.dev/app`` of a watched kind
(unless scoped to one shard's apps), so a desired object it does not hold is
either absent or unlabelled. ``UnlabelledLister.names`` answers "which of these
exist, and as what" for several such objects at once with one LIST
(``labelSelector=!tether.dev/app``, ``limit``) instead of one GET each.

Cost, so that a LIST never costs more than the GETs it replaces:

* It is used only for two or more misses (one miss is one GET either way), or
  when it can join a LIST that is about to be sent for the same place.
* ``limit`` bounds the answer to ``max(PAGE_FLOOR, 2 x misses)`` objects; the
  server serves a LIST from its watch cache (consistent reads from the cache,
  Kubernetes 1.31+) and filters by label in memory, so labelled objects around
  (another 5,000 of Tether's in the namespace) cost the server a scan, not a
  payload.
* An answer with a ``continue`` token (more unlabelled objects than the page)
  or a LIST refused (403) marks the place crowded for ``CROWDED_SECONDS``: its misses
  go back to GETs, at the cost of that one LIST.

Coalescing keeps a GET's freshness: callers join a LIST only while it waits to be
sent (one in flight per place; the next one gathers whoever arrives meanwhile),
never one already on the wire.

Stops at answering; falling back to GETs is the caller's (``engine.live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.constants import APP_LABEL
from tether.kube.client import KubeClient
from tether.kube.errors import Forbidden, KubeError
from tether.kube.resource import ApiResource

PAGE_FLOOR = 16
CROWDED_SECONDS = 300.0
_CROWDED_MAX = 4096

Place = str  # the resource's collection path (it names the namespace)
Unlabelled = dict[str, dict[str, Any]]  # name -> object, complete for its place


@dataclass
class _Lane:
    """One place's LIST in flight (``sending``) and the batch gathering behind it."""

    sending: asyncio.Lock = field(default_factory=asyncio.Lock)
    batch: asyncio.Future[Unlabelled | None] | None = None
    wanted: int = 0


class UnlabelledLister:
    """Coalesced, bounded LISTs of unlabelled objects per (resource, namespace)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        label: str = APP_LABEL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.label = label
        self.clock = clock
        self._lanes: dict[Place, _Lane] = {}
        self._crowded: OrderedDict[Place, float] = OrderedDict()

    def worth_listing(self, res: ApiResource, namespace: str, misses: int) -> bool:
        """A LIST would replace at least two GETs (or join one about to be sent)."""
        place = self._place(res, namespace)
        if self._is_crowded(place):
            return False
        lane = self._lanes.get(place)
        return misses >= 2 or (lane is not None and lane.batch is not None)

    async def names(self, res: ApiResource, namespace: str, misses: int) -> Unlabelled | None:
        """Every unlabelled object of ``res`` in ``namespace`` by name; None: ask by GET."""
        place = self._place(res, namespace)
        lane = self._lanes.setdefault(place, _Lane())
        if lane.batch is not None:  # not sent yet: it will answer for us too
            lane.wanted += misses
            return await asyncio.shield(lane.batch)
        batch: asyncio.Future[Unlabelled | None] = asyncio.get_running_loop().create_future()
        lane.batch, lane.wanted = batch, misses
        answer: Unlabelled | None = None
        try:
            async with lane.sending:  # after the LIST in flight, if any
                lane.batch = None  # later callers gather behind this one
                answer = await self._list(res, namespace, place, lane.wanted)
        finally:
            if lane.batch is batch:  # cancelled before it was sent
                lane.batch = None
            batch.set_result(answer)  # None on error or cancellation: GETs then
            if lane.batch is None and not lane.sending.locked():
                self._lanes.pop(place, None)
        return answer

    async def _list(
        self, res: ApiResource, namespace: str, place: Place, wanted: int
    ) -> Unlabelled | None:
        try:
            doc = await self.client.list_page(
                res,
                namespace=namespace or None,
                label_selector=f"!{self.label}",
                limit=max(PAGE_FLOOR, 2 * wanted),
            )
        except Forbidden:
            self._mark_crowded(place)  # may GET but not LIST here: GETs from now on
            return None
        except KubeError:
            return None  # the GETs say why, if they fail too
        if (doc.get("metadata") or {}).get("continue"):
            self._mark_crowded(place)
            return None
        api_version = str(doc.get("apiVersion") or res.gvk.api_version)
        found: Unlabelled = {}
        for item in doc.get("items") or ():
            # A LIST's items carry no apiVersion and kind; a GET's answer does.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", res.kind)
            found[str((item.get("metadata") or {}).get("name") or "")] = item
        return found

    @staticmethod
    def _place(res: ApiResource, namespace: str) -> Place:
        return res.path(namespace or None)

    def _is_crowded(self, place: Place) -> bool:
        until = self._crowded.get(place)
        if until is None:
            return False
        if until > self.clock():
            return True
        del self._crowded[place]
        return False

    def _mark_crowded(self, place: Place) -> None:
        self._crowded[place] = self.clock() + CROWDED_SECONDS
        self._crowded.move_to_end(place)
        while len(self._crowded) > _CROWDED_MAX:
            with contextlib.suppress(KeyError):
                self._crowded.popitem(last=False)


__all__ = ["CROWDED_SECONDS", "PAGE_FLOOR", "UnlabelledLister"]
