"""A lean async REST client for the Kubernetes API, with impersonation and counting.

Credentials come from ``tether.kube.kubeconfig`` (kubeconfig with context, or
in-cluster) and ``tether.kube.auth`` (TLS context, token refresh, exec plugins);
the requests go through one aiohttp session as raw JSON, because building
generated model objects costs more CPU than the whole diff of an object.

* ``KubeClient.connect`` loads a kubeconfig/context or the in-cluster service
  account and opens the session; a 401 makes the authenticator fetch a new
  token (file or exec plugin) for the next request.
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
import ssl as ssl_module
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tether.kube.auth import Authenticator, ssl_context
from tether.kube.errors import ObjectRef, from_response, transport_error
from tether.kube.kubeconfig import Credentials, load_credentials
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


@dataclass(frozen=True)
class Connection:
    """The session, credentials and authenticator every view of one client shares."""

    credentials: Credentials
    authenticator: Authenticator
    tls: ssl_module.SSLContext | bool  # False for an http:// server
    session: aiohttp.ClientSession

    @classmethod
    def open(cls, creds: Credentials, *, pool_size: int) -> Connection:
        tls: ssl_module.SSLContext | bool = (
            ssl_context(creds) if creds.server.startswith("https://") else False
        )
        session = new_session(tls, limit=pool_size, trust_env=False)
        return cls(creds, Authenticator(creds), tls, session)


def new_session(
    tls: ssl_module.SSLContext | bool,
    *,
    limit: int,
    headers: Mapping[str, str] | None = None,
    trust_env: bool = True,
) -> aiohttp.ClientSession:
    """An aiohttp session for the API server (Tether's own, or one handed to kopf).

    ``trust_env`` honours HTTPS_PROXY/NO_PROXY as kubectl does, looked up per request;
    Tether's own session passes the proxy it read once instead."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=tls),
        headers=headers,
        trust_env=trust_env,
        read_bufsize=2**21,  # a watch event may carry a large object
    )


class KubeClient:
    """Raw-JSON access to one API server; cheap to copy for impersonation."""

    def __init__(
        self,
        connection: Connection,
        *,
        counter: RequestCounter | None = None,
        headers: Mapping[str, str] | None = None,
        default_timeout: float = 60.0,
    ) -> None:
        self._conn = connection
        self.counter = counter or RequestCounter()
        self._headers = dict(headers or {})
        self.default_timeout = default_timeout
        # The kubeconfig's proxy-url, else the environment's proxy read once, not per
        # request (see ``kube.proxy``): Tether's session does not trust_env.
        proxy_url = connection.credentials.proxy_url
        self._extra: dict[str, Any] = {"proxy": proxy_url} if proxy_url else env_proxy(self.host)

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
        service-account environment is present. Raises ``KubeconfigError``.
        """
        creds = load_credentials(kubeconfig, context)
        return cls(Connection.open(creds, pool_size=pool_size))

    def impersonate(self, user: str) -> KubeClient:
        """A view that acts as ``user``; shares the session and the counter.

        For ``system:serviceaccount:`` users the server adds the service-account
        groups itself, so no ``Impersonate-Group`` is sent.
        """
        headers = {**self._headers, "Impersonate-User": user}
        return KubeClient(
            self._conn, counter=self.counter, headers=headers, default_timeout=self.default_timeout
        )

    def impersonate_service_account(self, namespace: str, name: str) -> KubeClient:
        return self.impersonate(f"system:serviceaccount:{namespace}:{name}")

    @property
    def host(self) -> str:
        return self._conn.credentials.server

    @property
    def credentials(self) -> Credentials:
        return self._conn.credentials

    @property
    def authenticator(self) -> Authenticator:
        return self._conn.authenticator

    async def session_for(self, *, limit: int = 0) -> aiohttp.ClientSession:
        """A new session with this client's TLS and current Authorization (for kopf's login;
        whoever takes it closes it)."""
        authorization = await self._conn.authenticator.header()
        return new_session(
            self._conn.tls,
            limit=limit,
            headers={"Authorization": authorization} if authorization else None,
        )

    async def close(self) -> None:
        await self._conn.session.close()

    # -- transport -----------------------------------------------------------------

    async def _headers_for(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "tether", **self._headers}
        if content_type:
            headers["Content-Type"] = content_type
        authorization = await self._conn.authenticator.header()
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def _session(self) -> aiohttp.ClientSession:
        return self._conn.session

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.host + path
        if query:
            pairs = [(k, v) for k, v in query.items() if v is not None]
            if pairs:
                url += "?" + urlencode(pairs)
        return url

    def _refused(self, code: int) -> None:
        if code == 401:  # a rotated or expired token: the next request fetches a new one
            self._conn.authenticator.invalidate()

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
                **self._extra,
            ) as resp:
                code = resp.status
                payload = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.counter.record(counted, 0, time.perf_counter() - started, resource_of(path))
            raise transport_error(exc, target) from exc
        self.counter.record(counted, code, time.perf_counter() - started, resource_of(path))
        if code >= 400:
            self._refused(code)
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
                **self._extra,
            ) as resp:
                self.counter.record(
                    "watch", resp.status, time.perf_counter() - started, resource_of(path)
                )
                if resp.status >= 400:
                    self._refused(resp.status)
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
