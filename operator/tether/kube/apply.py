"""Apply one desired object to the cluster, the way ``kubectl apply`` would, but cheaper.

Per object:

* missing live object -> create it carrying the last-applied annotation
  (``kubectl.kubernetes.io/last-applied-configuration``, byte-identical to
  kubectl's), so ``kubectl apply`` interoperates; AlreadyExists (stale cache)
  falls through to the patch path;
* existing object -> the local verdict from ``tether.kube.compare`` (three-way
  merge through ``tether.diff``); an in-sync verdict costs no request;
* a non-empty patch is first sent as a server-side dry-run; when the dry-run
  result equals live (normalization noise) the verdict is recorded in the
  ``VerdictStore`` for (resourceVersion, desired hash) and no write is made;
  otherwise the same patch is sent for real;
* server-side apply (field manager ``tether``, force) when the options ask for
  it, or automatically when the annotation would pass 256 KiB;
* ``Replace=true`` sends a PUT; ``Force=true`` deletes and recreates after the
  server rejects a patch as invalid (immutable fields);
* a 409 Conflict is retried with a fresh live object.

Every outcome is a ``Change`` (results as data); a real write also carries
``Written`` (the server's resourceVersion and generation, and the version it
replaced) so a health gate can refuse cached copies older than the write.
API failures become ``failed``
entries whose message names the object and the server's reason. Bounded
concurrency across many objects is ``apply_many``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tether.constants import TRACKING_ANNOTATION
from tether.diff import (
    LAST_APPLIED,
    DiffError,
    DiffResult,
    LastAppliedError,
    desired_hash,
    last_applied_annotation,
    last_applied_from,
)
from tether.diff import with_last_applied as _modified
from tether.identity import AppRef, ResourceKey, SharedConflict, ownership
from tether.kube.changeset import Action, Change, ChangeSet, Written
from tether.kube.client import APPLY_PATCH, KubeClient
from tether.kube.compare import Comparer
from tether.kube.discovery import Discovery
from tether.kube.errors import AlreadyExists, Conflict, Invalid, KubeError, NotFound
from tether.kube.resource import ApiResource
from tether.objects import annotations_of, resource_version

ANNOTATION_LIMIT = 262144
FIELD_MANAGER = "tether"
CONFLICT_RETRIES = 3
_VOLATILE_META = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


class NoiseVerdicts(Protocol):
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


def with_last_applied(desired: Mapping[str, Any], text: str | None = None) -> dict[str, Any]:
    """``desired`` carrying the last-applied annotation (``text``, or computed)."""
    if text is None:
        return dict(_modified(desired))
    meta = dict(desired.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: text}
    return {**desired, "metadata": meta}


def read_last_applied(live: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The last-applied configuration on ``live``; a malformed one counts as absent."""
    try:
        return last_applied_from(live)
    except LastAppliedError:
        return None


def needs_server_side(desired: Mapping[str, Any]) -> bool:
    """True when the last-applied annotation would pass the 256 KiB annotation limit."""
    return len(last_applied_annotation(desired).encode("utf-8")) > ANNOTATION_LIMIT


def without_last_applied(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if LAST_APPLIED not in annotations:
        return dict(obj)
    rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    new_meta = {k: v for k, v in meta.items() if k != "annotations"}
    if rest:
        new_meta["annotations"] = rest
    return {**obj, "metadata": new_meta}


def normalized(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without the server bookkeeping and the last-applied annotation.

    Two objects equal under this are the same to a user: a dry-run whose result
    equals live this way means the local patch was normalization noise.
    """
    obj = without_last_applied(obj)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_META}
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    return {**obj, "metadata": meta}


def same_as_live(preview: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether a dry-run result changes nothing a user would see."""
    return normalized(preview) == normalized(live)


class Applier:
    """Applies desired objects through one (possibly impersonating) client."""

    def __init__(
        self,
        client: KubeClient,
        discovery: Discovery,
        compare: Comparer,
        *,
        verdicts: NoiseVerdicts | None = None,
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
            return Change.refused(item.key, exc, item.options.dry_run)
        except DiffError as exc:
            message = f"{item.key}: cannot compute the patch: {exc}"
            return Change(item.key, Action.FAILED, message, item.options.dry_run)

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
        desired = without_last_applied(item.desired)
        annotation = last_applied_annotation(desired)
        server_side = item.options.server_side or len(annotation.encode()) > ANNOTATION_LIMIT
        live = item.live
        if live is None:
            modified = with_last_applied(desired, annotation)
            created = await self._create(res, ns, modified, item, server_side)
            if created is not None:
                return created
            live = await self._client.get(res, item.key.name, ns)
        for _attempt in range(CONFLICT_RETRIES):
            try:
                return await self._update(res, ns, desired, live, item, server_side)
            except Conflict:
                live = await self._client.get(res, item.key.name, ns)
        return await self._update(res, ns, desired, live, item, server_side)

    async def _create(
        self,
        res: ApiResource,
        ns: str | None,
        modified: dict[str, Any],
        item: ApplyItem,
        server_side: bool,
    ) -> Change | None:
        dry = item.options.dry_run
        try:
            if server_side:
                body = without_last_applied(modified)
                result = await self._server_side_apply(res, ns, body, item.options, dry_run=dry)
            else:
                result = await self._client.create(
                    res,
                    modified,
                    namespace=ns,
                    dry_run=dry,
                    field_manager=item.options.field_manager,
                )
        except AlreadyExists:
            return None
        note = "server-side apply" if server_side else ""
        return Change(item.key, Action.CREATED, note, dry, _written(result, None, dry))

    async def confirm(self, item: ApplyItem, *, digest: str | None = None) -> bool:
        """True when the server says the local patch for ``item`` changes nothing.

        Sends the patch once as a server-side dry-run and records the noise verdict
        for (resourceVersion, desired hash), so the same question costs nothing
        next time. ``item.live`` must be set. Raises ``KubeError``.
        """
        assert item.live is not None
        res = await self._discovery.resource_for(item.desired)
        desired = without_last_applied(item.desired)
        server_side = item.options.server_side or needs_server_side(desired)
        digest = digest or desired_hash(desired)
        result = self._compare.verdict(desired, item.live, server_side=server_side, digest=digest)
        if result.in_sync:
            return True
        ns = item.key.namespace or None
        preview = await self._send(res, ns, item, desired, result, server_side, dry_run=True)
        return self._judge(item.key, preview, item.live, digest)

    def _judge(
        self, key: ResourceKey, preview: dict[str, Any], live: dict[str, Any], digest: str
    ) -> bool:
        """Compare a dry-run result with live; remember noise."""
        if not same_as_live(preview, live):
            return False
        if self._verdicts:
            self._verdicts.record_in_sync(key, resource_version(live), digest)
        return True

    async def _update(
        self,
        res: ApiResource,
        ns: str | None,
        desired: dict[str, Any],
        live: dict[str, Any],
        item: ApplyItem,
        server_side: bool,
    ) -> Change:
        refusal = self._refuse_foreign(item.key, live)
        if refusal is not None:
            return refusal
        options = item.options
        digest = desired_hash(desired)
        result = self._compare.verdict(desired, live, server_side=server_side, digest=digest)
        if result.in_sync:
            return Change(item.key, Action.UNCHANGED, "", options.dry_run)
        if self._verdicts and self._verdicts.known_in_sync(
            item.key, resource_version(live), digest
        ):
            return Change(item.key, Action.UNCHANGED, "", options.dry_run)
        if options.replace and not server_side:
            return await self._replace(res, ns, with_last_applied(desired), live, item)
        note = "server-side apply" if server_side else ""
        if options.confirm_with_dry_run or options.dry_run:
            preview = await self._send(res, ns, item, desired, result, server_side, dry_run=True)
            if self._judge(item.key, preview, live, digest):
                return Change(item.key, Action.UNCHANGED, "", options.dry_run)
            if options.dry_run:
                return Change(item.key, Action.CONFIGURED, note, True)
        sent = await self._send(res, ns, item, desired, result, server_side, dry_run=False)
        return self._configured(item, live, sent, note)

    async def _send(
        self,
        res: ApiResource,
        ns: str | None,
        item: ApplyItem,
        desired: dict[str, Any],
        result: DiffResult,
        server_side: bool,
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        """Send the verdict's patch (or the server-side apply body); Force=true recreates."""
        try:
            if server_side:
                return await self._server_side_apply(
                    res, ns, desired, item.options, dry_run=dry_run
                )
            sent: dict[str, Any] = await self._client.patch(
                res,
                item.key.name,
                result.patch,
                namespace=ns,
                content_type=result.content_type,
                dry_run=dry_run,
                field_manager=item.options.field_manager,
            )
        except Invalid:
            if not item.options.force or dry_run:
                raise
            return await self._recreate(res, ns, item, server_side)
        return sent

    async def _replace(
        self,
        res: ApiResource,
        ns: str | None,
        modified: dict[str, Any],
        live: dict[str, Any],
        item: ApplyItem,
    ) -> Change:
        body = {
            **modified,
            "metadata": {**modified["metadata"], "resourceVersion": resource_version(live)},
        }
        try:
            result = await self._client.replace(
                res, body, namespace=ns, dry_run=item.options.dry_run
            )
        except Invalid:
            if not item.options.force or item.options.dry_run:
                raise
            result = await self._recreate(res, ns, item, False)
            return self._configured(item, live, result, "recreated (Force=true)")
        return self._configured(item, live, result, "replaced")

    async def _recreate(
        self, res: ApiResource, ns: str | None, item: ApplyItem, server_side: bool
    ) -> dict[str, Any]:
        """Force=true: delete, wait until gone, create again."""
        with contextlib.suppress(NotFound):
            await self._client.delete(res, item.key.name, namespace=ns, propagation="Foreground")
        for _ in range(600):
            try:
                await self._client.get(res, item.key.name, ns)
            except NotFound:
                break
            await asyncio.sleep(0.1)
        desired = without_last_applied(item.desired)
        if server_side:
            return await self._server_side_apply(res, ns, desired, item.options, dry_run=False)
        created: dict[str, Any] = await self._client.create(
            res, with_last_applied(desired), namespace=ns
        )
        return created

    async def _server_side_apply(
        self,
        res: ApiResource,
        ns: str | None,
        desired: dict[str, Any],
        options: ApplyOptions,
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._client.patch(
            res,
            str(desired["metadata"]["name"]),
            desired,
            namespace=ns,
            content_type=APPLY_PATCH,
            dry_run=dry_run,
            field_manager=options.field_manager,
            force=True,
        )
        return result

    def _configured(
        self, item: ApplyItem, live: dict[str, Any], result: dict[str, Any], note: str
    ) -> Change:
        dry = item.options.dry_run
        if result and resource_version(result) == resource_version(live) and not dry:
            return Change(item.key, Action.UNCHANGED, "", False)
        action = Action.CONFIGURED if _tracked(live) else Action.ADOPTED
        return Change(item.key, action, note, dry, _written(result, live, dry))

    def _refuse_foreign(self, key: ResourceKey, live: dict[str, Any]) -> Change | None:
        """Never take over an object another app tracks (SharedResource conflict)."""
        if self._app is None:
            return None
        verdict = ownership(live, self._app, key)
        if isinstance(verdict, SharedConflict):
            return Change(key, Action.FAILED, f"refused: the object belongs to app {verdict.other}")
        return None


def _tracked(live: Mapping[str, Any]) -> bool:
    """Whether some app tracks ``live`` (otherwise writing it adopts it)."""
    return bool(annotations_of(live).get(TRACKING_ANNOTATION))


def _written(result: Any, previous: dict[str, Any] | None, dry_run: bool) -> Written | None:
    """What a real write left on the server, for the health gate's freshness check."""
    if dry_run or not isinstance(result, Mapping):
        return None
    return Written.of(result, previous)
