"""Discovery: which REST resource serves a group/version/kind, and is it namespaced.

Uses aggregated discovery (``apidiscovery.k8s.io/v2``: two requests for the
whole server) and falls back to the legacy per-group-version documents on
servers without it. The table is refreshed on a miss, at most once per
``min_refresh_interval``, so a CRD created a moment ago is found without a
restart; ``invalidate()`` forces the next lookup to refresh (the cache calls it
when it sees a CRD change).

Stops at the mapping; it does not fetch OpenAPI schemas (see ``openapi``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tether.kube.client import KubeClient
from tether.kube.errors import KubeError, NotFound, ObjectRef, UnknownKind
from tether.kube.resource import GVK, ApiResource

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


class Discovery:
    """A refreshable GVK -> ApiResource table for one API server."""

    def __init__(self, client: KubeClient, *, min_refresh_interval: float = 1.0) -> None:
        self._client = client
        self._by_gvk: dict[GVK, ApiResource] = {}
        self._preferred: dict[tuple[str, str], ApiResource] = {}
        self._refreshed_at = float("-inf")
        self._min_interval = min_refresh_interval
        self._lock = asyncio.Lock()
        self._loaded = False

    async def refresh(self, *, force: bool = True) -> None:
        """Reload the table (skipped when not forced and it was loaded recently)."""
        async with self._lock:
            if not force and time.monotonic() - self._refreshed_at < self._min_interval:
                return
            by_gvk: dict[GVK, ApiResource] = {}
            preferred: dict[tuple[str, str], ApiResource] = {}
            for res in await self._fetch():
                by_gvk.setdefault(res.gvk, res)
                preferred.setdefault((res.group, res.kind), res)
            self._by_gvk, self._preferred = by_gvk, preferred
            self._refreshed_at = time.monotonic()
            self._loaded = True

    def invalidate(self) -> None:
        self._refreshed_at = float("-inf")

    async def resource(self, gvk: GVK) -> ApiResource:
        """The resource for ``gvk``; refreshes once on a miss, then raises UnknownKind.

        The refresh on a miss is forced: the miss is usually a custom resource whose
        CRD a sync step has just established, and a table loaded moments earlier (when
        the desired step looked the kind up) would hide it.
        """
        if not self._loaded:
            await self.refresh()
        found = self._by_gvk.get(gvk)
        if found is None:
            await self.refresh()
            found = self._by_gvk.get(gvk)
        if found is None:
            raise UnknownKind(
                f"the server has no resource for {gvk} (is its CRD installed and established?)",
                target=ObjectRef(gvk.kind),
            )
        return found

    async def resource_for(self, obj: dict[str, Any]) -> ApiResource:
        return await self.resource(GVK.of(obj))

    def lookup(self, gvk: GVK) -> ApiResource | None:
        """The cached entry, without any request."""
        return self._by_gvk.get(gvk)

    def preferred(self, group: str, kind: str) -> ApiResource | None:
        return self._preferred.get((group, kind))

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        """Scope of (group, kind) for identity; None when unknown."""
        res = self._preferred.get((group, kind))
        return None if res is None else res.namespaced

    def resources(self) -> list[ApiResource]:
        return list(self._by_gvk.values())

    # -- fetching ------------------------------------------------------------------

    async def _fetch(self) -> list[ApiResource]:
        core = await self._client.request("GET", "/api", verb="discovery", accept=AGGREGATED)
        if core.get("kind") != "APIGroupDiscoveryList":
            return await self._fetch_legacy()
        groups = await self._client.request("GET", "/apis", verb="discovery", accept=AGGREGATED)
        out: list[ApiResource] = []
        for doc in (core, groups):
            for group in doc.get("items") or ():
                name = str((group.get("metadata") or {}).get("name") or "")
                for version in group.get("versions") or ():
                    out.extend(_aggregated_resources(name, version))
        return out

    async def _fetch_legacy(self) -> list[ApiResource]:
        group_versions: list[tuple[str, str]] = [("", "v1")]
        groups = await self._client.request("GET", "/apis", verb="discovery")
        for group in groups.get("groups") or ():
            preferred = (group.get("preferredVersion") or {}).get("version")
            versions = [v["version"] for v in group.get("versions") or ()]
            versions.sort(key=lambda v: v != preferred)
            group_versions.extend((group["name"], v) for v in versions)

        async def one(group: str, version: str) -> list[ApiResource]:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                doc = await self._client.request("GET", path, verb="discovery")
            except (NotFound, KubeError):
                return []  # an unavailable aggregated API must not break the rest
            return [
                ApiResource(
                    group,
                    version,
                    str(r["kind"]),
                    str(r["name"]),
                    bool(r.get("namespaced")),
                    tuple(r.get("verbs") or ()),
                )
                for r in doc.get("resources") or ()
                if "/" not in str(r.get("name", ""))
            ]

        results = await asyncio.gather(*(one(g, v) for g, v in group_versions))
        return [res for chunk in results for res in chunk]


def _aggregated_resources(group: str, version: dict[str, Any]) -> list[ApiResource]:
    out = []
    for r in version.get("resources") or ():
        kind = (r.get("responseKind") or {}).get("kind")
        if not kind:
            continue
        out.append(
            ApiResource(
                group,
                str(version.get("version")),
                str(kind),
                str(r.get("resource")),
                r.get("scope") == "Namespaced",
                tuple(r.get("verbs") or ()),
            )
        )
    return out
