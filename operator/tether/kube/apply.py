"""Apply one desired object to the cluster, the way ``kubectl apply`` would, but cheaper.

Per object:

* missing live object -> create it carrying the last-applied annotation
  (``kubectl.kubernetes.io/last-applied-configuration``), so ``kubectl apply``
  interoperates; AlreadyExists (stale cache) falls through to the patch path;
* existing object -> compute the three-way patch locally (the injected
  ``Comparator``, i.e. ``tether.diff``); an empty patch costs no request;
* a non-empty patch is first sent as a server-side dry-run; when the dry-run
  result equals live (normalization noise) the verdict is recorded and no write
  is made; otherwise the same patch is sent for real;
* server-side apply (field manager ``tether``, force) when the options ask for
  it, or automatically when the annotation would pass 256 KiB;
* ``Replace=true`` sends a PUT; ``Force=true`` deletes and recreates after the
  server rejects a patch as invalid (immutable fields);
* a 409 Conflict is retried with a fresh live object.

Every outcome is a ``Change`` (results as data); API failures become ``failed``
entries whose message names the object and the server's reason. Bounded
concurrency across many objects is ``apply_many``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tether.identity import AppRef, ResourceKey, SharedConflict, ownership
from tether.kube.changeset import Action, Change, ChangeSet
from tether.kube.client import APPLY_PATCH, KubeClient
from tether.kube.discovery import Discovery
from tether.kube.errors import AlreadyExists, Conflict, Invalid, KubeError, NotFound
from tether.kube.resource import ApiResource

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANNOTATION_LIMIT = 262144
FIELD_MANAGER = "tether"
CONFLICT_RETRIES = 3
_VOLATILE_META = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


@dataclass(frozen=True)
class LocalDiff:
    """What the comparator decided: the patch to send (empty when in sync)."""

    patch: dict[str, Any]
    content_type: str

    @property
    def in_sync(self) -> bool:
        return not self.patch


class Comparator(Protocol):
    """Three-way diff: desired (with its new annotation) vs live vs last-applied."""

    def __call__(
        self,
        desired: dict[str, Any],
        live: dict[str, Any],
        last_applied: dict[str, Any] | None,
        res: ApiResource,
    ) -> LocalDiff: ...


class VerdictStore(Protocol):
    """Remembers that (resourceVersion, desired hash) was found in sync by the server."""

    def known_in_sync(self, key: ResourceKey, resource_version: str, desired_hash: str) -> bool: ...

    def record_in_sync(
        self, key: ResourceKey, resource_version: str, desired_hash: str
    ) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply one object; built from the plan's per-task SyncOptions."""

    server_side: bool = False
    replace: bool = False
    force: bool = False
    dry_run: bool = False
    confirm_with_dry_run: bool = True
    field_manager: str = FIELD_MANAGER


@dataclass(frozen=True)
class ApplyItem:
    key: ResourceKey
    desired: dict[str, Any]
    live: dict[str, Any] | None
    options: ApplyOptions = ApplyOptions()


def last_applied_text(desired: dict[str, Any]) -> str:
    """The annotation value kubectl would write: the object's JSON without the annotation."""
    body = _without_last_applied(desired)
    return json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"


def with_last_applied(desired: dict[str, Any], text: str) -> dict[str, Any]:
    meta = dict(desired.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: text}
    return {**desired, "metadata": meta}


def read_last_applied(live: dict[str, Any]) -> dict[str, Any] | None:
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def desired_hash(desired: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(desired, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:32]


def _without_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if LAST_APPLIED not in annotations:
        return obj
    rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    new_meta = {k: v for k, v in meta.items() if k != "annotations"}
    if rest:
        new_meta["annotations"] = rest
    return {**obj, "metadata": new_meta}


def normalized(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without the server bookkeeping that differs between equal objects."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_META}
    return {**obj, "metadata": meta}


def local_diff(
    compare: Comparator,
    desired: dict[str, Any],
    live: dict[str, Any],
    res: ApiResource | None,
    *,
    server_side: bool = False,
) -> LocalDiff:
    """The patch that would bring ``live`` to ``desired``, as ``apply`` decides it.

    Client-side: three-way against the last-applied annotation, the new
    annotation included. Server-side (asked, or the annotation is too big): is
    every desired field present in live.
    """
    desired = _without_last_applied(desired)
    annotation = last_applied_text(desired)
    if server_side or len(annotation) > ANNOTATION_LIMIT:
        return compare(desired, live, None, res)  # type: ignore[arg-type]
    modified = with_last_applied(desired, annotation)
    return compare(modified, live, read_last_applied(live), res)  # type: ignore[arg-type]


class Applier:
    """Applies desired objects through one (possibly impersonating) client."""

    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        compare: Comparator,
        *,
        verdicts: VerdictStore | None = None,
        app: AppRef | None = None,
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._compare = compare
        self._verdicts = verdicts
        self._app = app

    async def apply(self, item: ApplyItem) -> Change:
        """Apply one object; never raises for API errors (they become failed changes)."""
        try:
            return await self._apply(item)
        except KubeError as exc:
            return Change(item.key, Action.FAILED, str(exc), item.options.dry_run)

    async def apply_many(
        self,
        items: Sequence[ApplyItem],
        *,
        concurrency: int = 8,
        on_change: Callable[[Change], Awaitable[None] | None] | None = None,
    ) -> ChangeSet:
        """Apply ``items`` with at most ``concurrency`` in flight; results keep input order."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(item: ApplyItem) -> Change:
            async with gate:
                change = await self.apply(item)
            if on_change is not None:
                maybe = on_change(change)
                if maybe is not None:
                    await maybe
            return change

        return ChangeSet.of(await asyncio.gather(*(one(i) for i in items)))

    # -- the paths ----------------------------------------------------------------------

    async def _apply(self, item: ApplyItem) -> Change:
        res = await self._discovery.resource_for(item.desired)
        ns = item.key.namespace or None
        desired = _without_last_applied(item.desired)
        annotation = last_applied_text(desired)
        server_side = item.options.server_side or len(annotation) > ANNOTATION_LIMIT
        live = item.live
        if live is None:
            created = await self._create(res, ns, desired, annotation, item, server_side)
            if created is not None:
                return created
            live = await self._client.get(res, item.key.name, ns)
        for _attempt in range(CONFLICT_RETRIES):
            try:
                return await self._update(res, ns, desired, annotation, live, item, server_side)
            except Conflict:
                live = await self._client.get(res, item.key.name, ns)
        return await self._update(res, ns, desired, annotation, live, item, server_side)

    async def _create(
        self,
        res: ApiResource,
        ns: str | None,
        desired: dict[str, Any],
        annotation: str,
        item: ApplyItem,
        server_side: bool,
    ) -> Change | None:
        dry = item.options.dry_run
        try:
            if server_side:
                await self._server_side_apply(res, ns, desired, item.options)
            else:
                await self._client.create(
                    res,
                    with_last_applied(desired, annotation),
                    namespace=ns,
                    dry_run=dry,
                    field_manager=item.options.field_manager,
                )
        except AlreadyExists:
            return None
        note = "server-side apply" if server_side else ""
        return Change(item.key, Action.CREATED, note, dry)

    async def _update(
        self,
        res: ApiResource,
        ns: str | None,
        desired: dict[str, Any],
        annotation: str,
        live: dict[str, Any],
        item: ApplyItem,
        server_side: bool,
    ) -> Change:
        refusal = self._refuse_foreign(item.key, live)
        if refusal is not None:
            return refusal
        options = item.options
        if server_side:
            diff = self._compare(desired, live, None, res)
            if diff.in_sync:
                return Change(item.key, Action.UNCHANGED, "", options.dry_run)
            result = await self._server_side_apply(res, ns, desired, options)
            return self._configured(item, live, result, "server-side apply")
        modified = with_last_applied(desired, annotation)
        diff = self._compare(modified, live, read_last_applied(live), res)
        if diff.in_sync:
            return Change(item.key, Action.UNCHANGED, "", options.dry_run)
        rv = _rv(live)
        digest = desired_hash(modified)
        if self._verdicts and self._verdicts.known_in_sync(item.key, rv, digest):
            return Change(item.key, Action.UNCHANGED, "", options.dry_run)
        if options.replace:
            return await self._replace(res, ns, modified, live, item)
        if options.confirm_with_dry_run or options.dry_run:
            preview = await self._patch(res, ns, item.key.name, diff, dry_run=True, item=item)
            if normalized(preview) == normalized(live):
                if self._verdicts:
                    self._verdicts.record_in_sync(item.key, rv, digest)
                return Change(item.key, Action.UNCHANGED, "", options.dry_run)
            if options.dry_run:
                return Change(item.key, Action.CONFIGURED, "", True)
        result = await self._patch(res, ns, item.key.name, diff, dry_run=False, item=item)
        return self._configured(item, live, result, "")

    async def _patch(
        self,
        res: ApiResource,
        ns: str | None,
        name: str,
        diff: LocalDiff,
        *,
        dry_run: bool,
        item: ApplyItem,
    ) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self._client.patch(
                res,
                name,
                diff.patch,
                namespace=ns,
                content_type=diff.content_type,
                dry_run=dry_run,
                field_manager=item.options.field_manager,
            )
        except Invalid:
            if not item.options.force or dry_run:
                raise
            return await self._recreate(res, ns, item)
        return result

    async def _replace(
        self,
        res: ApiResource,
        ns: str | None,
        modified: dict[str, Any],
        live: dict[str, Any],
        item: ApplyItem,
    ) -> Change:
        body = {**modified, "metadata": {**modified["metadata"], "resourceVersion": _rv(live)}}
        try:
            result = await self._client.replace(
                res, body, namespace=ns, dry_run=item.options.dry_run
            )
        except Invalid:
            if not item.options.force or item.options.dry_run:
                raise
            result = await self._recreate(res, ns, item)
            return self._configured(item, live, result, "recreated (Force=true)")
        return self._configured(item, live, result, "replaced")

    async def _recreate(self, res: ApiResource, ns: str | None, item: ApplyItem) -> dict[str, Any]:
        """Force=true: delete, wait until gone, create again."""
        with contextlib.suppress(NotFound):
            await self._client.delete(res, item.key.name, namespace=ns, propagation="Foreground")
        for _ in range(600):
            try:
                await self._client.get(res, item.key.name, ns)
            except NotFound:
                break
            await asyncio.sleep(0.1)
        desired = _without_last_applied(item.desired)
        created: dict[str, Any] = await self._client.create(
            res, with_last_applied(desired, last_applied_text(desired)), namespace=ns
        )
        return created

    async def _server_side_apply(
        self, res: ApiResource, ns: str | None, desired: dict[str, Any], options: ApplyOptions
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._client.patch(
            res,
            str(desired["metadata"]["name"]),
            desired,
            namespace=ns,
            content_type=APPLY_PATCH,
            dry_run=options.dry_run,
            field_manager=options.field_manager,
            force=True,
        )
        return result

    def _configured(
        self, item: ApplyItem, live: dict[str, Any], result: dict[str, Any], note: str
    ) -> Change:
        if result and _rv(result) == _rv(live) and not item.options.dry_run:
            return Change(item.key, Action.UNCHANGED, "", False)
        return Change(item.key, Action.CONFIGURED, note, item.options.dry_run)

    def _refuse_foreign(self, key: ResourceKey, live: dict[str, Any]) -> Change | None:
        """Never take over an object another app tracks (SharedResource conflict)."""
        if self._app is None:
            return None
        verdict = ownership(live, self._app, key)
        if isinstance(verdict, SharedConflict):
            return Change(key, Action.FAILED, f"refused: the object belongs to app {verdict.other}")
        return None


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
