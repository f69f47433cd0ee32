"""The controllers' small Kubernetes writes and reads, over ``tether.kube.KubeClient``.

Status merge patches on the ``/status`` subresource, metadata patches
(finalizers), Events, and Secret reads. Every request goes through the shared
client, so it is counted in ``tether_api_requests_total``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from tether.constants import GROUP, VERSION
from tether.controller.triggers import Key
from tether.kube.client import MERGE_PATCH, KubeClient
from tether.kube.errors import NotFound
from tether.kube.resource import ApiResource

APPLICATIONS = ApiResource(GROUP, VERSION, "Application", "applications", True)
REPOSITORIES = ApiResource(GROUP, VERSION, "Repository", "repositories", True)
EVENTS = ApiResource("", "v1", "Event", "events", True)
SECRETS = ApiResource("", "v1", "Secret", "secrets", True)


class KubeStatusPatcher:
    """Merge patches for one resource type: ``status`` via the subresource, or metadata."""

    def __init__(self, client: KubeClient, resource: ApiResource) -> None:
        self.client = client
        self.resource = resource

    async def patch_status(self, key: Key, patch: dict[str, Any]) -> dict[str, Any] | None:
        namespace, name = key
        try:
            result = await self.client.request(
                "PATCH",
                self.resource.path(namespace, name) + "/status",
                verb="patch",
                body={"status": patch},
                content_type=MERGE_PATCH,
            )
        except NotFound:
            return None  # deleted meanwhile; nothing to report on
        return result if isinstance(result, dict) else None

    async def patch_metadata(self, key: Key, patch: dict[str, Any]) -> None:
        namespace, name = key
        try:
            await self.client.patch(self.resource, name, patch, namespace=namespace)
        except NotFound:
            return


class KubeEventSink:
    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self.client.create(EVENTS, event, namespace=namespace)


class KubeSecretReader:
    """Reads a Secret's data, base64-decoded; None when it does not exist."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def read(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        try:
            body = await self.client.get(SECRETS, name, namespace)
        except NotFound:
            return None
        data = body.get("data") or {}
        return {k: base64.b64decode(v) for k, v in data.items() if isinstance(v, str)}
