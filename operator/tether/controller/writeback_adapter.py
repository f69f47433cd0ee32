"""Bind the ``WriteBackPort`` to the real engine and Git: live objects, labelled objects, push.

``live_of`` keys each rendered object as the engine does (namespace defaulted
for namespaced kinds, by discovery) and reads its live copy from the shared
cache, with no API call in the operator (the CLI, which has no watches, GETs them). ``unowned`` lists, in the destination namespace, the
kinds the app renders plus the common ones, with the capture selector as a
label query: objects made by hand carry no tracking label, so the cache
(filtered by it) never holds them. ``push`` runs ``gitwrite.push_change`` in a
worker thread with the edit plan bound as its ``build`` step, over the
operator's own Git cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from tether.appspec import AppSpec
from tether.controller.ports import Pushed, PushRequest, Rendered
from tether.engine import Engine
from tether.engine.core import COMMON_KINDS
from tether.git.auth import GitAuth
from tether.git.cache import GitCache
from tether.identity import ResourceKey
from tether.kube.errors import KubeError
from tether.kube.resource import GVK
from tether.writeback.edits import apply_plan
from tether.writeback.gitwrite import Author, PushTarget, push_change

log = logging.getLogger(__name__)


class WriteBackAdapter:
    """The ``WriteBackPort`` over ``tether.engine.Engine`` and ``tether.git.cache.GitCache``."""

    def __init__(self, engine: Engine, git: GitCache, *, fetch_missing: bool = False) -> None:
        self.engine = engine
        self.git = git
        self.fetch_missing = fetch_missing  # the CLI: GET what no watch holds

    async def live_of(
        self, app: AppSpec, desired: Rendered
    ) -> tuple[tuple[ResourceKey, Mapping[str, Any] | None], ...]:
        discovery = self.engine.discovery
        if not discovery.resources():
            await discovery.refresh()
        rules = app.write_back.capture.fields if app.write_back is not None else ()
        out: list[tuple[ResourceKey, Mapping[str, Any] | None]] = []
        for obj in desired.objects:
            key = _key_of(obj, app.destination_namespace, discovery.is_namespaced)
            live = None
            if any(rule.matches(key) for rule in rules):  # only listed objects are read
                live = await self.engine.live.get(key, obj, fetch_missing=self.fetch_missing)
            out.append((key, live))
        return tuple(out)

    async def unowned(
        self, app: AppSpec, selector: Mapping[str, str], desired: Rendered
    ) -> list[dict[str, Any]]:
        if not self.engine.discovery.resources():
            await self.engine.discovery.refresh()
        query = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        kinds = {*COMMON_KINDS, *(GVK.of(obj) for obj in desired.objects)}
        found: list[dict[str, Any]] = []
        for gvk in sorted(kinds, key=str):
            res = self.engine.discovery.lookup(gvk)
            if res is None or not res.namespaced:
                continue
            try:
                items, _ = await self.engine.client.list_all(
                    res, namespace=app.destination_namespace, label_selector=query
                )
            except KubeError as exc:  # a kind we may not list is not a reason to stop
                log.debug("write-back: cannot list %s: %s", gvk, exc)
                continue
            api_version = f"{gvk.group}/{gvk.version}" if gvk.group else gvk.version
            found.extend({"apiVersion": api_version, "kind": gvk.kind, **o} for o in items)
        return found

    async def push(self, request: PushRequest) -> Pushed:
        access = request.access
        target = PushTarget(
            url=access.url,
            auth=access.auth or GitAuth(),
            branch=request.branch,
            push_branch=request.push_branch,
            lease=request.lease,
            insecure=access.insecure,
            timeout=access.timeout,
        )
        plan = request.plan
        result = await asyncio.to_thread(
            push_change,
            target,
            lambda read: apply_plan(plan, read),
            Author(request.author_name, request.author_email),
            request.message,
            signing_key=access.signing_key,
            cache=self.git,
        )
        return Pushed(result.commit, result.branch, result.pushed)


def _key_of(obj: Mapping[str, Any], namespace: str, is_namespaced: Any) -> ResourceKey:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    scoped = is_namespaced(group, kind)
    ns = "" if scoped is False else str(meta.get("namespace") or namespace)
    return ResourceKey(group, kind, ns, str(meta.get("name") or ""))
