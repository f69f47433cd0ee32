"""Each provider's webhook: how a delivery is signed, and what it says was pushed.

Two pure functions per provider, reached through ``verify`` and ``parse``:

- ``verify(provider, headers, body, secret)``: is the delivery signed with ``secret``?
  GitHub (``X-Hub-Signature-256: sha256=<hex>``), Gitea/Forgejo (``X-Gitea-Signature``
  / ``X-Forgejo-Signature: <hex>``), Bitbucket Cloud and Server (``X-Hub-Signature:
  sha256=<hex>``) and the generic receiver (``X-Tether-Signature: sha256=<hex>``) sign
  the raw body with HMAC-SHA256; GitLab sends the secret itself (``X-Gitlab-Token``);
  a distribution registry sends the ``Authorization`` header of its endpoint config
  (``Bearer <token>``, or Basic with the token as password). Every comparison is
  ``hmac.compare_digest``; a missing header is ``Verdict.MISSING``, never accepted.
- ``parse(provider, headers, body)``: a ``Push`` (the repository's URLs as the
  provider names them, and the refs that moved), a ``Ping``, or ``Ignored`` (a
  verified delivery of an event that moves nothing). A body that is not what the
  provider sends is a ``PayloadError``.

``headers`` are lower-cased names. Nothing here touches the network or the cluster;
which Repositories a push concerns is ``matching``'s job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tether.errors import TetherError


class WebhookError(TetherError):
    """Root of the webhook receiver's errors."""


class PayloadError(WebhookError):
    """A verified or unverified body that is not what the provider sends."""


class Provider(Enum):
    """The senders Tether understands; the value is the path segment (``/hooks/<value>``)."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"  # also Forgejo, whose headers are renamed copies of Gitea's
    BITBUCKET = "bitbucket"  # Bitbucket Cloud
    BITBUCKET_SERVER = "bitbucket-server"  # Bitbucket Server / Data Center
    GENERIC = "generic"
    REGISTRY = "registry"  # a CNCF distribution (OCI) registry's notifications


PATH_ALIASES = {"forgejo": Provider.GITEA}


def provider_of(segment: str) -> Provider | None:
    """The provider served at ``/hooks/<segment>``, or None."""
    if segment in PATH_ALIASES:
        return PATH_ALIASES[segment]
    try:
        return Provider(segment)
    except ValueError:
        return None


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no signature or token header at all
    BAD = "bad"  # present, but not made with this secret


class RefKind(Enum):
    BRANCH = "branch"
    TAG = "tag"
    NAME = "name"  # the generic receiver's bare name: a branch or a tag
    DIGEST = "digest"  # an OCI manifest digest


@dataclass(frozen=True)
class PushedRef:
    kind: RefKind
    name: str  # branch or tag name without refs/heads/ or refs/tags/; or sha256:...

    @classmethod
    def of_ref(cls, ref: str) -> PushedRef:
        """From a full ref (``refs/heads/main``, ``refs/tags/v1``) or a bare name."""
        if ref.startswith("refs/heads/"):
            return cls(RefKind.BRANCH, ref.removeprefix("refs/heads/"))
        if ref.startswith("refs/tags/"):
            return cls(RefKind.TAG, ref.removeprefix("refs/tags/"))
        return cls(RefKind.NAME, ref)

    @property
    def full(self) -> str:
        """The full Git ref, or the name itself for names and digests."""
        if self.kind is RefKind.BRANCH:
            return f"refs/heads/{self.name}"
        if self.kind is RefKind.TAG:
            return f"refs/tags/{self.name}"
        return self.name


@dataclass(frozen=True)
class Push:
    """Refs moved in one repository, which the provider names by ``urls``."""

    urls: tuple[str, ...]
    refs: tuple[PushedRef, ...]

    def describe(self) -> str:
        refs = ", ".join(r.full for r in self.refs[:5])
        more = f" and {len(self.refs) - 5} more" if len(self.refs) > 5 else ""
        return f"{refs}{more}"


@dataclass(frozen=True)
class Ping:
    """The provider checking that the endpoint answers (GitHub ``ping``, Bitbucket test)."""


@dataclass(frozen=True)
class Ignored:
    """A delivery that moves no ref: another event, a pull from the registry."""

    why: str


Delivery = Push | Ping | Ignored


# -- verification ---------------------------------------------------------------------


def _hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _check_hmac(value: str | None, secret: bytes, body: bytes, *, prefixed: bool) -> Verdict:
    """``value`` is ``sha256=<hex>`` (``prefixed``) or bare hex (a prefix is tolerated)."""
    if not value:
        return Verdict.MISSING
    algorithm, sep, digest = value.strip().partition("=")
    if not sep:
        if prefixed:
            return Verdict.BAD
        digest = algorithm
    elif algorithm.lower() != "sha256":
        return Verdict.BAD
    expected = _hmac_hex(secret, body)
    ok = hmac.compare_digest(digest.strip().lower().encode(), expected.encode())
    return Verdict.OK if ok else Verdict.BAD


def _check_token(value: str | None, secret: bytes) -> Verdict:
    if not value:
        return Verdict.MISSING
    ok = hmac.compare_digest(value.encode("utf-8", "surrogateescape"), secret)
    return Verdict.OK if ok else Verdict.BAD


def _check_authorization(value: str | None, secret: bytes) -> Verdict:
    """``Bearer <secret>``, or ``Basic base64(user:<secret>)`` (any user name)."""
    if not value:
        return Verdict.MISSING
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer":
        return _check_token(credential, secret)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True)
        except (binascii.Error, ValueError):
            return Verdict.BAD
        _user, sep, password = decoded.partition(b":")
        if not sep:
            return Verdict.BAD
        return Verdict.OK if hmac.compare_digest(password, secret) else Verdict.BAD
    return Verdict.BAD


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> Verdict:
    """Whether ``body`` with ``headers`` (lower-case names) was sent with ``secret``."""
    if not secret:
        return Verdict.BAD  # an empty secret would make every signature forgeable
    get = headers.get
    if provider is Provider.GITHUB:
        return _check_hmac(get("x-hub-signature-256"), secret, body, prefixed=True)
    if provider is Provider.GITLAB:
        return _check_token(get("x-gitlab-token"), secret)
    if provider is Provider.GITEA:
        value = get("x-forgejo-signature") or get("x-gitea-signature")
        return _check_hmac(value, secret, body, prefixed=False)
    if provider in (Provider.BITBUCKET, Provider.BITBUCKET_SERVER):
        return _check_hmac(get("x-hub-signature"), secret, body, prefixed=True)
    if provider is Provider.GENERIC:
        return _check_hmac(get("x-tether-signature"), secret, body, prefixed=True)
    return _check_authorization(get("authorization"), secret)


def signature_present(provider: Provider, headers: Mapping[str, str]) -> bool:
    """Whether the delivery carries the header its provider signs with at all."""
    names = {
        Provider.GITHUB: ("x-hub-signature-256",),
        Provider.GITLAB: ("x-gitlab-token",),
        Provider.GITEA: ("x-gitea-signature", "x-forgejo-signature"),
        Provider.BITBUCKET: ("x-hub-signature",),
        Provider.BITBUCKET_SERVER: ("x-hub-signature",),
        Provider.GENERIC: ("x-tether-signature",),
        Provider.REGISTRY: ("authorization",),
    }[provider]
    return any(headers.get(name) for name in names)


def sign(body: bytes, secret: bytes) -> str:
    """The ``sha256=<hex>`` value GitHub, Bitbucket and the generic receiver send."""
    return "sha256=" + _hmac_hex(secret, body)


# -- parsing --------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    """The JSON body; GitHub's form encoding (``payload=<url-encoded JSON>``) as well,
    GitHub's default content type, so a hook left at it works."""
    if body.startswith(b"payload="):
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        body = (fields.get("payload") or [""])[0].encode()
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"the body is not JSON: {exc}") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not a JSON object")
    return value


def _strings(*values: Any) -> tuple[str, ...]:
    """The non-empty strings among ``values``, first spelling kept, in order."""
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and value.strip():
            seen.setdefault(value.strip(), None)
    return tuple(seen)


def _need_urls(urls: tuple[str, ...], provider: Provider) -> tuple[str, ...]:
    if not urls:
        raise PayloadError(f"a {provider.value} push names no repository URL")
    return urls


def _ref_of(payload: dict[str, Any], provider: Provider) -> PushedRef:
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise PayloadError(f"a {provider.value} push names no ref")
    return PushedRef.of_ref(ref.strip())


def _github_like(payload: dict[str, Any], provider: Provider) -> Push:
    _object(payload.get("repository"), "repository")
    return Push(_need_urls(_github_urls(payload), provider), (_ref_of(payload, provider),))


def _not_a_push(event: str, push: str, who: str, ping: str | None = None) -> Ping | Ignored | None:
    """A Ping or Ignored for every event but ``push``; None for the push itself."""
    if ping is not None and event == ping:
        return Ping()
    if event != push:
        return Ignored(f"{who} event {event or '(none)'!r} moves no ref")
    return None


def _parse_github(headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    event = headers.get("x-github-event", "")
    other = _not_a_push(event, "push", "GitHub", ping="ping")
    return other or _github_like(payload, Provider.GITHUB)


def _parse_gitea(headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    event = headers.get("x-forgejo-event") or headers.get("x-gitea-event") or ""
    return _not_a_push(event, "push", "Gitea/Forgejo") or _github_like(payload, Provider.GITEA)


_GITLAB_PUSH_EVENTS = frozenset({"Push Hook", "Tag Push Hook", "System Hook"})


def _parse_gitlab(headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    event = headers.get("x-gitlab-event", "")
    kind = payload.get("object_kind") or payload.get("event_name")
    if event not in _GITLAB_PUSH_EVENTS or kind not in ("push", "tag_push"):
        return Ignored(f"GitLab event {event or '(none)'!r} moves no ref")
    urls = _need_urls(_gitlab_urls(payload), Provider.GITLAB)
    return Push(urls, (_ref_of(payload, Provider.GITLAB),))


def _bitbucket_cloud_urls(repo: dict[str, Any]) -> tuple[str, ...]:
    """Bitbucket Cloud names no clone URL; they follow from the page and the full name."""
    page = _dict(_dict(repo.get("links")).get("html")).get("href")
    full_name = repo.get("full_name")
    urls: list[Any] = [page]
    if isinstance(page, str) and isinstance(full_name, str) and full_name:
        host = urlsplit(page).hostname
        if host:
            urls += [f"https://{host}/{full_name}.git", f"git@{host}:{full_name}.git"]
    return _strings(*urls)


def _parse_bitbucket(headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    other = _not_a_push(headers.get("x-event-key", ""), "repo:push", "Bitbucket")
    if other is not None:
        return other
    repo = _object(payload.get("repository"), "repository")
    push = _object(payload.get("push"), "push")
    refs: list[PushedRef] = []
    for change in push.get("changes") or ():
        if not isinstance(change, dict):
            continue
        side = change.get("new") or change.get("old")  # "new" is null for a deletion
        if isinstance(side, dict) and isinstance(side.get("name"), str):
            kind = RefKind.TAG if side.get("type") == "tag" else RefKind.BRANCH
            refs.append(PushedRef(kind, side["name"]))
    if not refs:
        raise PayloadError("a bitbucket push names no changed branch or tag")
    return Push(_need_urls(_bitbucket_cloud_urls(repo), Provider.BITBUCKET), tuple(refs))


def _parse_bitbucket_server(headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    event = headers.get("x-event-key", "")
    other = _not_a_push(event, "repo:refs_changed", "Bitbucket Server", ping="diagnostics:ping")
    if other is not None:
        return other
    _object(payload.get("repository"), "repository")
    urls = _bitbucket_server_urls(payload)
    refs: list[PushedRef] = []
    for change in payload.get("changes") or ():
        if not isinstance(change, dict):
            continue
        full = _dict(change.get("ref")).get("id") or change.get("refId")
        if isinstance(full, str) and full:
            refs.append(PushedRef.of_ref(full))
    if not refs:
        raise PayloadError("a bitbucket-server push names no changed ref")
    return Push(_need_urls(urls, Provider.BITBUCKET_SERVER), tuple(refs))


def _parse_generic(_headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    url = payload.get("url")
    if not isinstance(url, str) or not url.strip():
        raise PayloadError('a generic push needs "url": the repository URL')
    return Push((url.strip(),), (_ref_of(payload, Provider.GENERIC),))


def _registry_urls(event: dict[str, Any], target: dict[str, Any]) -> tuple[str, ...]:
    repository = target.get("repository")
    if not isinstance(repository, str) or not repository:
        return ()
    hosts: list[Any] = []
    request = event.get("request")
    if isinstance(request, dict):
        hosts.append(request.get("host"))
    if isinstance(target.get("url"), str):
        hosts.append(urlsplit(target["url"]).netloc)
    return _strings(*(f"oci://{h}/{repository}" for h in hosts if isinstance(h, str) and h))


def _parse_registry(_headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
    events = payload.get("events")
    if not isinstance(events, list):
        raise PayloadError('a registry notification is an envelope {"events": [...]}')
    pushes: dict[str, list[PushedRef]] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("action") != "push":
            continue
        target = _dict(event.get("target"))
        refs = [PushedRef(RefKind.TAG, t) for t in _strings(target.get("tag"))]
        refs += [PushedRef(RefKind.DIGEST, d) for d in _strings(target.get("digest"))]
        if not any(r.kind is RefKind.TAG for r in refs):
            continue  # a blob or an untagged manifest: no Repository follows it yet
        for url in _registry_urls(event, target):
            pushes.setdefault(url, []).extend(refs)
    if not pushes:
        return Ignored("no tagged manifest push in the notification")
    # One envelope usually names one repository; several are merged, the matcher
    # compares every URL against every ref, which can only refresh more, not less.
    moved = tuple(dict.fromkeys(r for rs in pushes.values() for r in rs))
    return Push(tuple(pushes), moved)


_PARSERS: dict[Provider, Callable[[Mapping[str, str], dict[str, Any]], Delivery]] = {
    Provider.GITHUB: _parse_github,
    Provider.GITLAB: _parse_gitlab,
    Provider.GITEA: _parse_gitea,
    Provider.BITBUCKET: _parse_bitbucket,
    Provider.BITBUCKET_SERVER: _parse_bitbucket_server,
    Provider.GENERIC: _parse_generic,
    Provider.REGISTRY: _parse_registry,
}


def parse(provider: Provider, headers: Mapping[str, str], body: bytes) -> Delivery:
    """What a delivery says was pushed; PayloadError when the body is not the provider's."""
    if provider is Provider.GITHUB and headers.get("x-github-event") == "ping":
        return Ping()  # GitHub's ping body is JSON too, but needs nothing from it
    payload = _object(_json(body), "the body")
    return _PARSERS[provider](headers, payload)


def candidate_urls(provider: Provider, body: bytes) -> tuple[str, ...]:
    """Every repository URL the body names, whatever its event, read without trusting it.

    Used only to find which Repositories' secrets to try; nothing is refreshed
    from it before ``verify`` says OK. Empty when the body names none.
    """
    try:
        payload = _object(_json(body), "the body")
    except PayloadError:
        return ()
    return _URLS[provider](payload)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _github_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    repo = _dict(payload.get("repository"))
    return _strings(
        repo.get("clone_url"), repo.get("ssh_url"), repo.get("html_url"), repo.get("git_url")
    )


def _gitlab_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    project, repo = _dict(payload.get("project")), _dict(payload.get("repository"))
    return _strings(
        project.get("git_http_url"),
        project.get("git_ssh_url"),
        project.get("web_url"),
        repo.get("git_http_url"),
        repo.get("git_ssh_url"),
        repo.get("homepage"),
    )


def _bitbucket_server_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    clones = _dict(_dict(payload.get("repository")).get("links")).get("clone")
    return _strings(*(c.get("href") for c in clones or () if isinstance(c, dict)))


def _generic_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    return _strings(payload.get("url"))


def _registry_all_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    events = payload.get("events")
    urls: list[str] = []
    for event in events if isinstance(events, list) else ():
        if isinstance(event, dict):
            urls += _registry_urls(event, _dict(event.get("target")))
    return _strings(*urls)


_URLS: dict[Provider, Callable[[dict[str, Any]], tuple[str, ...]]] = {
    Provider.GITHUB: _github_urls,
    Provider.GITLAB: _gitlab_urls,
    Provider.GITEA: _github_urls,
    Provider.BITBUCKET: lambda p: _bitbucket_cloud_urls(_dict(p.get("repository"))),
    Provider.BITBUCKET_SERVER: _bitbucket_server_urls,
    Provider.GENERIC: _generic_urls,
    Provider.REGISTRY: _registry_all_urls,
}


def lower_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased (the first value of a repeated header wins)."""
    out: dict[str, str] = {}
    for name, value in items:
        out.setdefault(name.lower(), value)
    return out
