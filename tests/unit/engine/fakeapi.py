"""An in-memory stand-in for the API server at the ``KubeClient`` seam (unit tests only).

Stores objects by (plural, namespace, name), assigns uid and resourceVersion, applies
PATCH bodies as JSON merge patches, honours dry-run, and records every call. Enough
for the engine's own logic (what it sends, in which order, how often); the real
server's behaviour is covered by the e2e suite.
"""

from __future__ import annotations

import copy
from typing import Any

from tether.diff.jsonmerge import apply_merge_patch
from tether.kube.errors import AlreadyExists, NotFound
from tether.kube.resource import GVK, ApiResource

CONFIGMAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True)


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, bool]] = []  # (verb, name, dry_run)
        self._rv = 100

    def _key(self, res: ApiResource, name: str, namespace: str | None) -> tuple[str, str, str]:
        return (res.plural, namespace or "", name)

    def put(self, res: ApiResource, obj: dict[str, Any]) -> dict[str, Any]:
        """Seed an object as if someone else had created it."""
        meta = obj["metadata"]
        return self._store(res, obj, meta.get("namespace"), uid=f"uid-{meta['name']}")

    def _store(
        self, res: ApiResource, obj: dict[str, Any], namespace: str | None, *, uid: str
    ) -> dict[str, Any]:
        self._rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"].update(uid=uid, resourceVersion=str(self._rv))
        self.objects[self._key(res, stored["metadata"]["name"], namespace)] = stored
        return copy.deepcopy(stored)

    def writes(self) -> list[tuple[str, str]]:
        return [(verb, name) for verb, name, dry in self.calls if not dry and verb != "get"]

    async def get(self, res: ApiResource, name: str, namespace: str | None = None) -> Any:
        self.calls.append(("get", name, False))
        found = self.objects.get(self._key(res, name, namespace))
        if found is None:
            raise NotFound(f"{res.plural} {name} not found")
        return copy.deepcopy(found)

    async def create(
        self, res: ApiResource, obj: dict[str, Any], *, namespace: str | None = None,
        dry_run: bool = False, field_manager: str | None = None,
    ) -> Any:  # fmt: skip
        name = obj["metadata"]["name"]
        self.calls.append(("create", name, dry_run))
        if self._key(res, name, namespace) in self.objects:
            raise AlreadyExists(f"{res.plural} {name} already exists")
        if dry_run:
            return copy.deepcopy(obj)
        return self._store(res, obj, namespace, uid=f"uid-{name}")

    async def patch(
        self, res: ApiResource, name: str, body: Any, *, namespace: str | None = None,
        dry_run: bool = False, **_options: Any,
    ) -> Any:  # fmt: skip
        self.calls.append(("patch", name, dry_run))
        current = self.objects.get(self._key(res, name, namespace))
        if current is None:
            raise NotFound(f"{res.plural} {name} not found")
        patched = apply_merge_patch(current, body)
        if dry_run:
            return patched
        return self._store(res, patched, namespace, uid=current["metadata"]["uid"])

    async def delete(
        self, res: ApiResource, name: str, *, namespace: str | None = None,
        dry_run: bool = False, **_options: Any,
    ) -> Any:  # fmt: skip
        self.calls.append(("delete", name, dry_run))
        if self.objects.pop(self._key(res, name, namespace), None) is None:
            raise NotFound(f"{res.plural} {name} not found")
        return {}


class FakeDiscovery:
    """Knows ConfigMaps only."""

    def resources(self) -> list[ApiResource]:
        return [CONFIGMAPS]

    async def refresh(self, *, force: bool = True) -> None:
        return None

    async def resource(self, gvk: GVK) -> ApiResource:
        return CONFIGMAPS

    async def resource_for(self, obj: Any) -> ApiResource:
        return CONFIGMAPS

    def preferred(self, group: str, kind: str) -> ApiResource | None:
        return CONFIGMAPS if (group, kind) == ("", "ConfigMap") else None

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        return True if (group, kind) == ("", "ConfigMap") else None
