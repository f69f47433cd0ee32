"""OpenAPI v3 documents from the cluster, fetched lazily and cached by hash.

``/openapi/v3`` lists one document per group-version with a
``serverRelativeURL`` that carries a content hash. A document is fetched the
first time a group-version is needed and kept until the index shows a new
hash for it (a CRD changed), so a warm process makes no schema requests.
The documents feed ``tether.diff.PatchMeta.from_openapi_v3`` (merge keys and
strategies for strategic merge).

Stops at fetching and caching; interpreting schemas belongs to ``tether.diff``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from tether.diff.patchmeta import PatchMeta
from tether.kube.client import KubeClient
from tether.kube.errors import NotFound

_META_LIMIT = 64


def gv_path(group: str, version: str) -> str:
    """The index key of a group-version: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


class OpenApiCache:
    """Per-group-version OpenAPI v3 documents for one API server."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._index: dict[str, str] | None = None
        self._docs: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self._metas: dict[tuple[tuple[str, str], ...], PatchMeta] = {}

    async def index(self, *, refresh: bool = False) -> dict[str, str]:
        """Group-version path -> server-relative URL (with hash)."""
        if self._index is None or refresh:
            doc = await self._client.request("GET", "/openapi/v3", verb="openapi")
            self._index = {
                str(k): str(v.get("serverRelativeURL") or "")
                for k, v in (doc.get("paths") or {}).items()
            }
        return self._index

    def invalidate(self) -> None:
        """Re-read the index on next use; unchanged hashes keep their documents."""
        self._index = None

    async def document(self, group: str, version: str) -> dict[str, Any] | None:
        """The document for a group-version, or None when the server has none."""
        key = gv_path(group, version)
        async with self._lock:
            index = await self.index()
            url = index.get(key)
            if url is None:
                index = await self.index(refresh=True)
                url = index.get(key)
            if not url:
                return None
            cached = self._docs.get(key)
            if cached and cached[0] == url:
                return cached[1]
            try:
                doc: dict[str, Any] = await self._client.request("GET", url, verb="openapi")
            except NotFound:
                return None
            self._docs[key] = (url, doc)
            return doc

    async def documents(self, group_versions: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        docs = []
        for group, version in sorted(set(group_versions)):
            doc = await self.document(group, version)
            if doc is not None:
                docs.append(doc)
        return docs

    async def patch_meta(self, group_versions: Iterable[tuple[str, str]]) -> PatchMeta:
        """A ``PatchMeta`` for these group-versions, rebuilt only when a hash changes.

        The same object is returned while nothing changed, so verdicts memoized
        against it (``tether.diff.VerdictCache``) stay valid across reconciles.
        """
        wanted = sorted(set(group_versions))
        docs = await self.documents(wanted)
        key = tuple((gv_path(g, v), self._docs.get(gv_path(g, v), ("", {}))[0]) for g, v in wanted)
        meta = self._metas.get(key)
        if meta is None:
            if len(self._metas) >= _META_LIMIT:
                self._metas.clear()
            meta = self._metas[key] = PatchMeta.from_openapi_v3(docs)
        return meta
