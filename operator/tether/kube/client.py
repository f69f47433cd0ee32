"""A lean async REST client for the Kubernetes API, with impersonation and counting.

Credentials, TLS and token refresh come from ``kubernetes_asyncio``'s config
loaders (kubeconfig with context, or in-cluster); the requests themselves go
straight through its aiohttp session as raw JSON, because building the
generated model objects costs more CPU than the whole diff of an object.

* ``KubeClient.connect`` loads a kubeconfig/context or the in-cluster service
  account.
* ``client.impersonate_service_account(ns, sa)`` returns a view that sends
  ``Impersonate-User: system:serviceaccount:<ns>:<sa>`` and shares the session
  and the request counter.
* Every request is recorded in ``RequestCounter`` by (verb, HTTP code); dry
  runs are counted under ``<verb>-dryrun`` so writes and dry runs stay apart.
  Hooks on the counter get the resource too (``configmaps``,
  ``applications/status``), read from the path, and feed metrics and benches.
* Errors become the typed ``tether.kube.errors`` hierarchy.

Retries, caching and discovery live elsewhere.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from tether.kube.errors import KubeError, ObjectRef, from_response, transport_error
from tether.kube.proxy import env_proxy
from tether.kube.resource import ApiResource

WRITE_VERBS = frozenset({"create", "update", "patch", "apply", "delete"})
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"

RequestHook = Callable[[str, int, float, str], None]


def resource_of(path: str) -> str:
    """The resource (and subresource) a request path names, for counting.

    ``/api/v1/namespaces/n/configmaps/x/status`` -> ``configmaps/status``;
    ``/apis/g/v/namespaces/n/events`` -> ``events``; ``/api/v1/namespaces`` -> ``namespaces``.
    Discovery paths (``/apis``, ``/openapi/v3``) count under their first segment.
    """
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return ""
    if parts[0] == "api":
        rest = parts[2:]
    elif parts[0] == "apis":
        rest = parts[3:]
    else:
        return parts[0]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return parts[0]
    return rest[0] + ("/" + rest[2] if len(rest) >= 3 else "")


class RequestCounter:
    """Counts requests by (verb, code); hooks get (verb, code, seconds, resource)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()
        self.hooks: list[RequestHook] = []

    def record(self, verb: str, code: int, seconds: float, resource: str = "") -> None:
        self._counts[(verb, code)] += 1
        for hook in self.hooks:
            hook(verb, code, seconds, resource)

    def snapshot(self) -> dict[tuple[str, int], int]:
        return dict(self._counts)

    def total(self, predicate: Callable[[str], bool] = lambda _verb: True) -> int:
        return sum(n for (verb, _code), n in self._counts.items() if predicate(verb))

    @property
    def writes(self) -> int:
        """Requests that changed (or tried to change) the cluster; dry runs excluded."""
        return self.total(lambda verb: verb in WRITE_VERBS)

    @property
    def dry_runs(self) -> int:
        return self.total(lambda verb: verb.endswith("-dryrun"))

    def reset(self) -> None:
        self._counts.clear()


class KubeClient:
    """Raw-JSON access to one API server; cheap to copy for impersonation."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        counter: RequestCounter | None = None,
        headers: Mapping[str, str] | None = None,
        default_timeout: float = 60.0,
    ) -> None:
        self._api = api
        self.counter = counter or RequestCounter()
        self._headers = dict(headers or {})
        self.default_timeout = default_timeout
        # The environment's proxy once, not per request (see ``kube.proxy``).
        self._env_proxy = env_proxy(self.host)
        self._session()._trust_env = False

    # -- construction -------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        pool_size: int = 64,
    ) -> KubeClient:
        """Load a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``) or the in-cluster SA.

        In-cluster is used only when no kubeconfig is given or found and the
        service-account environment is present.
        """
        configuration = k8s_client.Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG") or None
        default_path = os.path.expanduser(k8s_config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
        if (
            path is None
            and not os.path.exists(default_path)
            and os.environ.get("KUBERNETES_SERVICE_HOST")
        ):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            try:
                await k8s_config.load_kube_config(
                    config_file=path, context=context, client_configuration=configuration
                )
            except (k8s_config.ConfigException, OSError) as exc:
                raise KubeError(f"cannot load kubeconfig {path or default_path}: {exc}") from exc
        configuration.connection_pool_maxsize = pool_size
        api = k8s_client.ApiClient(configuration)
        api.user_agent = "tether"
        return cls(api)

    def impersonate(self, user: str) -> KubeClient:
        """A view that acts as ``user``; shares the session and the counter.

        For ``system:serviceaccount:`` users the server adds the service-account
        groups itself, so no ``Impersonate-Group`` is sent.
        """
        headers = {**self._headers, "Impersonate-User": user}
        return KubeClient(
            self._api, counter=self.counter, headers=headers, default_timeout=self.default_timeout
        )

    def impersonate_service_account(self, namespace: str, name: str) -> KubeClient:
        return self.impersonate(f"system:serviceaccount:{namespace}:{name}")

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    @property
    def configuration(self) -> Any:
        """The kubernetes_asyncio Configuration this client was built from."""
        return self._api.configuration

    async def close(self) -> None:
        await self._api.close()

    # -- transport -----------------------------------------------------------------

    async def _headers_for(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "tether", **self._headers}
        if content_type:
            headers["Content-Type"] = content_type
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    def _session(self) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = self._api.rest_client.pool_manager
        return session

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.host.rstrip("/") + path
        if query:
            pairs = [(k, v) for k, v in query.items() if v is not None]
            if pairs:
                url += "?" + urlencode(pairs)
        return url

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        rest = self._api.rest_client
        if rest.server_hostname:
            extra["server_hostname"] = rest.server_hostname
        if rest.proxy:
            extra["proxy"] = rest.proxy
        else:
            extra.update(self._env_proxy)
        return extra

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        target: ObjectRef | None = None,
        timeout: float | None = None,
        accept: str = JSON,
    ) -> Any:
        """Send one request and return the decoded JSON body (raises KubeError)."""
        dry = bool(query and query.get("dryRun"))
        counted = f"{verb}-dryrun" if dry else verb
        headers = await self._headers_for(
            content_type or (JSON if body is not None else None), accept
        )
        data = body if isinstance(body, bytes | str) or body is None else _dumps(body)
        started = time.perf_counter()
        code = 0
        try:
            async with self._session().request(
                method,
                self._url(path, query),
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self.default_timeout),
                **self._extra(),
            ) as resp:
                code = resp.status
                payload = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.counter.record(counted, 0, time.perf_counter() - started, resource_of(path))
            raise transport_error(exc, target) from exc
        self.counter.record(counted, code, time.perf_counter() - started, resource_of(path))
        if code >= 400:
            raise from_response(code, payload, target)
        if not payload:
            return {}
        return json.loads(payload)

    async def stream(
        self,
        path: str,
        *,
        query: Mapping[str, Any],
        read_timeout: float,
        target: ObjectRef | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the JSON lines of a watch response until the server closes it."""
        headers = await self._headers_for(None, JSON)
        started = time.perf_counter()
        try:
            async with self._session().request(
                "GET",
                self._url(path, query),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout),
                **self._extra(),
            ) as resp:
                self.counter.record(
                    "watch", resp.status, time.perf_counter() - started, resource_of(path)
                )
                if resp.status >= 400:
                    raise from_response(resp.status, await resp.read(), target)
                async for line in resp.content:
                    if line.strip():
                        yield json.loads(line)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, target) from exc

    # -- verbs ---------------------------------------------------------------------

    async def get(self, res: ApiResource, name: str, namespace: str | None = None) -> Any:
        return await self.request(
            "GET",
            res.path(namespace, name),
            verb="get",
            target=ObjectRef(res.kind, namespace or "", name),
        )

    async def list_page(
        self,
        res: ApiResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int = 500,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> Any:
        query = {
            "labelSelector": label_selector,
            "limit": limit,
            "continue": continue_token,
            "resourceVersion": resource_version,
        }
        return await self.request(
            "GET",
            res.path(namespace),
            verb="list",
            query=query,
            target=ObjectRef(res.kind, namespace or ""),
        )

    async def list_all(
        self,
        res: ApiResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        page: int = 500,
    ) -> tuple[list[dict[str, Any]], str]:
        """All items across pages, and the list's resourceVersion (for a watch)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            doc = await self.list_page(
                res,
                namespace=namespace,
                label_selector=label_selector,
                limit=page,
                continue_token=token,
            )
            items.extend(doc.get("items") or ())
            meta = doc.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def create(
        self,
        res: ApiResource,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Any:
        return await self.request(
            "POST",
            res.path(namespace),
            verb="create",
            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager},
            body=obj,
            target=ObjectRef.of(obj),
        )

    async def replace(
        self,
        res: ApiResource,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Any:
        name = str(obj["metadata"]["name"])
        return await self.request(
            "PUT",
            res.path(namespace, name),
            verb="update",
            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager},
            body=obj,
            target=ObjectRef.of(obj),
        )

    async def patch(
        self,
        res: ApiResource,
        name: str,
        body: Any,
        *,
        namespace: str | None = None,
        content_type: str = MERGE_PATCH,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> Any:
        verb = "apply" if content_type == APPLY_PATCH else "patch"
        query: dict[str, Any] = {
            "dryRun": "All" if dry_run else None,
            "fieldManager": field_manager,
            "force": ("true" if force else "false") if force is not None else None,
        }
        return await self.request(
            "PATCH",
            res.path(namespace, name),
            verb=verb,
            query=query,
            body=body,
            content_type=content_type,
            target=ObjectRef(res.kind, namespace or "", name),
        )

    async def delete(
        self,
        res: ApiResource,
        name: str,
        *,
        namespace: str | None = None,
        propagation: str = "Foreground",
        dry_run: bool = False,
        uid: str | None = None,
    ) -> Any:
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if uid:
            options["preconditions"] = {"uid": uid}
        return await self.request(
            "DELETE",
            res.path(namespace, name),
            verb="delete",
            query={"dryRun": "All" if dry_run else None},
            body=options,
            target=ObjectRef(res.kind, namespace or "", name),
        )


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
