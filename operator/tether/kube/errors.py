"""Typed errors for talking to the Kubernetes API.

Every failed request becomes one ``KubeError`` subclass, chosen from the HTTP
status and the ``Status.reason`` the server returns. The message names the
object the request was about (kind, namespace, name) and repeats the server's
own reason and, for 422, its field causes, so a user can act on it without a
debugger. Request bodies are never included: they may hold Secret values.

Hierarchy::

    KubeError
    ├── NotFound            404
    ├── Conflict            409 (resourceVersion or field-manager conflict)
    │   └── AlreadyExists   409 reason AlreadyExists
    ├── Unauthorized        401
    ├── Forbidden           403 (RBAC; ``refusal`` says who may not do what, where)
    ├── BadRequest          400
    ├── Invalid             422 (causes: tuple of Cause)
    ├── Gone                410 (expired resourceVersion on list/watch)
    ├── Unavailable         connection refused/reset, timeouts, 5xx, 429
    └── UnknownKind         discovery has no resource for a group/version/kind

This module stops at classification; retry policy lives with the callers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tether.errors import TetherError


@dataclass(frozen=True)
class ObjectRef:
    """What a request was about, for messages: kind, namespace and name."""

    kind: str
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}".strip()

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or meta.get("generateName") or ""),
        )


@dataclass(frozen=True)
class Cause:
    """One field-level cause from a 422 Status (``details.causes``)."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class KubeError(TetherError):
    """Base of every API error. ``status`` is the HTTP code, 0 for transport errors."""

    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        target: ObjectRef | None = None,
        status: int | None = None,
        reason: str = "",
        causes: tuple[Cause, ...] = (),
    ) -> None:
        self.server_message = message
        self.target = target
        if status is not None:
            self.status = status
        self.reason = reason
        self.causes = causes
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.target}: " if self.target and str(self.target) else ""
        code = f" ({self.status} {self.reason})" if self.status else ""
        text = f"{head}{self.server_message}{code}"
        extra = [str(c) for c in self.causes if str(c) not in self.server_message]
        if extra:
            text += "; " + "; ".join(extra)
        return text


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class AlreadyExists(Conflict):
    pass


class Unauthorized(KubeError):
    status = 401


@dataclass(frozen=True)
class Refusal:
    """What a 403 refused: the user, the verb, the resource and group, and where.

    Read from the message every Kubernetes authorizer answers with (``User "u" cannot
    list resource "configmaps" in API group "" in the namespace "ns"``); ``namespace``
    is empty for a request at the cluster scope (a list or watch of all namespaces).
    """

    user: str
    verb: str
    resource: str
    group: str
    namespace: str = ""

    def __str__(self) -> str:
        group = f"API group {self.group}" if self.group else "the core API group"
        where = f"in namespace {self.namespace}" if self.namespace else "in all namespaces"
        return f"forbidden: {self.user} cannot {self.verb} {self.resource} ({group}) {where}"


_REFUSAL = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)?'
)


def refusal_in(message: str) -> tuple[Refusal, str] | None:
    """The ``Refusal`` an authorizer's message states, and what it adds after it."""
    found = _REFUSAL.search(message)
    if found is None:
        return None
    refusal = Refusal(
        user=found["user"],
        verb=found["verb"],
        resource=found["resource"],
        group=found["group"] or "",
        namespace=found["namespace"] or "",
    )
    return refusal, message[found.end() :].lstrip(": ").strip()


class Forbidden(KubeError):
    """A 403. Its message is the ``Refusal`` in one uniform shape when the server's
    words can be read (the server's own text otherwise), plus any detail it added."""

    status = 403

    @property
    def refusal(self) -> Refusal | None:
        found = refusal_in(self.server_message)
        return found[0] if found else None

    def _render(self) -> str:
        found = refusal_in(self.server_message)
        if found is None:
            return super()._render()
        refusal, detail = found
        head = f"{self.target}: " if self.target and str(self.target) else ""
        tail = f": {detail}" if detail else ""
        return f"{head}{refusal}{tail} (403 {self.reason or 'Forbidden'})"


class BadRequest(KubeError):
    status = 400


class Invalid(KubeError):
    status = 422


class Gone(KubeError):
    status = 410


class Unavailable(KubeError):
    """The server could not be reached or failed; worth retrying later."""


class UnknownKind(KubeError):
    """No API resource serves this group/version/kind (CRD missing or not ready)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}


def parse_status(body: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
    """Decode a ``Status`` body; a non-JSON body becomes ``{"message": text}``."""
    if isinstance(body, dict):
        return body
    if not body:
        return {}
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        decoded = json.loads(text)
    except ValueError:
        return {"message": text.strip()[:500]}
    return decoded if isinstance(decoded, dict) else {"message": text.strip()[:500]}


def from_response(
    status: int, body: bytes | str | dict[str, Any] | None, target: ObjectRef | None = None
) -> KubeError:
    """Build the typed error for an HTTP error response."""
    doc = parse_status(body)
    reason = str(doc.get("reason") or "")
    message = str(doc.get("message") or f"HTTP {status}")
    details = doc.get("details") or {}
    causes = tuple(
        Cause(str(c.get("field", "")), str(c.get("reason", "")), str(c.get("message", "")))
        for c in details.get("causes") or ()
        if isinstance(c, dict)
    )
    cls: type[KubeError]
    if status == 409 and reason == "AlreadyExists":
        cls = AlreadyExists
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status == 429 or status >= 500:
        cls = Unavailable
    else:
        cls = KubeError
    return cls(message, target=target, status=status, reason=reason, causes=causes)


def transport_error(exc: BaseException, target: ObjectRef | None = None) -> Unavailable:
    """Wrap a connection-level failure (refused, reset, timeout)."""
    detail = str(exc) or type(exc).__name__
    return Unavailable(f"API server unreachable: {detail}", target=target, status=0)
