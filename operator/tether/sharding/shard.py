"""One shard of several: which Applications are mine, and the fence around them.

``Shard`` keeps the ring of the live members (``membership``) and answers
``owns(key)``: the app's uid hashes to this replica. It is wired into the
operator in three places:

* ``Runtime.owns``: watch events wake only owned apps (every replica keeps every
  Application body, which costs no API call, for the Repository -> app map);
* ``gate``, wrapped around the Application reconcile: an app not owned is
  skipped (and its claim released if we held it); an owned app is reconciled
  only once this shard holds its claim (``claims``): unclaimed, ours, or
  held by a member whose Lease expired; a live holder hands off first;
* ``OperationFence``: ``begin`` re-reads the app and writes the operation claim
  with a resourceVersion precondition; ``check`` before each step stops an
  operation whose app moved or whose shard is no longer sure of its Lease.

When the members change, apps that moved away are released (their cache
entries, memos and status memory dropped, the claim removed once no reconcile
of theirs is running) and apps that moved here are woken; an app waiting on a
live holder is retried every renew period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tether.controller import triggers
from tether.controller.fence import Fenced
from tether.controller.kubeio import APPLICATIONS
from tether.controller.store import ObjectStore
from tether.controller.triggers import Key, WakeQueue
from tether.kube.client import JSON_PATCH, KubeClient
from tether.kube.errors import Conflict, KubeError, NotFound
from tether.sharding.claims import (
    OPERATION_CLAIM_ANNOTATION,
    claim_patch,
    holder_of,
    may_claim,
    release_patch,
)
from tether.sharding.membership import Membership
from tether.sharding.ring import HashRing
from tether.sync.state import now as stamp

log = logging.getLogger(__name__)

Reconcile = Callable[[Key, frozenset[str]], Awaitable[None]]
MOVED = "shard-moved"  # wake-up reason: the app moved to this shard
CLAIM_RETRY = 1.0  # seconds before retrying a claim refused with 409
CLAIMS_AT_ONCE = 16  # claim PATCHes in flight after a membership change


def ring_key(body: dict[str, Any]) -> str:
    """What an app hashes by: its uid (stable across renames of nothing, unique)."""
    meta = body.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


class Shard:
    """This replica's share of the Applications; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        membership: Membership,
        apps: ObjectStore,
        queue: WakeQueue,
    ) -> None:
        self.client = client
        self.membership = membership
        self.identity = membership.config.identity
        self.apps = apps
        self.queue = queue
        # Drops what the controller keeps for an app (set once the controller exists).
        self.forget_app: Callable[[Key], Awaitable[None]] = _nothing
        self.ring = HashRing.of(())
        self._blocked: set[Key] = set()  # owned, but a live shard still holds the claim
        self._claimed: set[Key] = set()  # claims this replica wrote (or found its own)
        self._claiming = asyncio.Semaphore(CLAIMS_AT_ONCE)
        self._tasks: set[asyncio.Task[None]] = set()
        membership.listen(self.members_changed)

    # -- ownership ---------------------------------------------------------------------

    def owns(self, key: Key) -> bool:
        body = self.apps.head(key)
        return body is not None and self.owns_body(body)

    def owns_body(self, body: dict[str, Any]) -> bool:
        return self.ring.owner(ring_key(body)) == self.identity

    def owns_name(self, name: str) -> bool:
        """For objects shared by every shard (Repositories): one of them writes."""
        return self.ring.owner(name) == self.identity

    def owned_count(self) -> int:
        return sum(1 for _k, body in self.apps.items() if self.owns_body(body))

    def members_changed(self, members: frozenset[str]) -> None:
        """Recompute the ring; claim what came here at once, release what left."""
        before = self.ring
        self.ring = HashRing.of(members)
        for key, body in self.apps.items():
            was = before.owner(ring_key(body)) == self.identity
            now = self.owns_body(body)
            if now and (not was or key in self._blocked):
                # Claimed now, not when a worker gets to the app: the claim is what moves
                # it, and a worker pool busy with renders must not hold that up.
                self._blocked.discard(key)
                self._spawn(self._take(key))
            elif was and not now and key not in self.queue.processing:
                self._spawn(self.release(key))

    async def _take(self, key: Key) -> None:
        async with self._claiming:
            body = self.apps.head(key)
            if body is not None and self.owns_body(body) and await self._claim(key, body):
                self.queue.wake(key, MOVED)

    # -- the gate around a reconcile ------------------------------------------------------

    def gate(self, inner: Reconcile) -> Reconcile:
        async def reconcile(key: Key, reasons: frozenset[str]) -> None:
            body = self.apps.head(key)
            if body is None:
                self._claimed.discard(key)
                await inner(key, reasons)  # deleted: drop what was kept, nothing to claim
                return
            if not self.owns_body(body):
                if key in self._claimed or holder_of(body) == self.identity:
                    await self.release(key)
                return
            if not self.membership.fresh():  # not sure of our Lease: wait for a renewal
                self.queue.wake_after(key, self.membership.config.renew_seconds, triggers.RETRY)
                return
            if not await self._claim(key, body):
                return
            try:
                await inner(key, reasons)
            finally:
                if not self.owns(key):
                    await self.release(key)

        return reconcile

    async def _claim(self, key: Key, body: dict[str, Any]) -> bool:
        """Hold the app's claim: already ours, or written now at the version we saw."""
        holder = holder_of(body)
        if key in self._claimed or holder == self.identity:
            self._claimed.add(key)
            return True
        if not may_claim(holder, self.identity, self.membership.members):
            # A live shard still holds it: it hands off after its step, or its Lease expires.
            self._blocked.add(key)
            self.queue.wake_after(key, self.membership.config.renew_seconds, MOVED)
            return False
        rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        try:
            await self.client.patch(
                APPLICATIONS, key[1], claim_patch(self.identity, rv), namespace=key[0]
            )
        except Conflict:
            self.queue.wake_after(key, CLAIM_RETRY, triggers.RETRY)  # the watch brings the news
            return False
        except NotFound:
            return False
        self._claimed.add(key)
        self._blocked.discard(key)
        log.info(
            "application %s/%s: claimed by shard %s (was %s)",
            *key,
            self.identity,
            holder or "unclaimed",
        )
        return True

    async def release(self, key: Key) -> None:
        """Forget ``key`` here and remove our claim on it (only if we still hold it)."""
        self._blocked.discard(key)
        self._claimed.discard(key)
        await self.forget_app(key)
        try:
            await self.client.patch(
                APPLICATIONS,
                key[1],
                release_patch(self.identity),
                namespace=key[0],
                content_type=JSON_PATCH,
            )
        except KubeError:
            return  # not ours any more (422 from the test), or gone
        log.info("application %s/%s: released by shard %s", *key, self.identity)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the operation fence -------------------------------------------------------------

    async def begin(self, key: Key) -> None:
        """Claim the operation: the app is still ours, re-read, and written at that version."""
        self.check(key)
        try:
            body = await self.client.get(APPLICATIONS, key[1], key[0])
        except NotFound as exc:
            raise Fenced("the Application is gone") from exc
        holder = holder_of(body)
        if holder != self.identity:
            self._claimed.discard(key)  # the next reconcile claims again, or skips
            raise Fenced(f"claimed by shard {holder or 'nobody'}")
        rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        marker = {OPERATION_CLAIM_ANNOTATION: f"{self.identity} {stamp()}"}
        try:
            await self.client.patch(
                APPLICATIONS, key[1], claim_patch(self.identity, rv, marker), namespace=key[0]
            )
        except Conflict as exc:
            self.queue.wake_after(key, CLAIM_RETRY, triggers.RETRY)
            raise Fenced("the Application changed while the operation started") from exc

    def check(self, key: Key) -> None:
        if not self.membership.fresh():
            raise Fenced(f"shard {self.identity} could not renew its Lease")
        if not self.owns(key):
            raise Fenced(
                f"the app moved to shard {self.ring.owner(ring_key(self.apps.head(key) or {}))}"
            )


async def _nothing(_key: Key) -> None:
    return None


class ShardedStatusPatcher:
    """Status writes for objects every shard reconciles (Repositories): only the shard
    the object's name hashes to sends them, so N replicas do not write N times."""

    def __init__(self, inner: Any, shard: Shard) -> None:
        self.inner = inner
        self.shard = shard

    async def patch_status(self, key: Key, patch: dict[str, Any]) -> dict[str, Any] | None:
        if not self.shard.owns_name(f"repository:{key[0]}/{key[1]}"):
            return None
        result: dict[str, Any] | None = await self.inner.patch_status(key, patch)
        return result
