"""HTTP(S) for Helm repositories and OCI registries: TLS, credentials, conditional GETs.

``HttpClient`` wraps one urllib3 pool per trust setting (system CAs plus an
optional CA bundle). It sends credentials only to the host they belong to,
follows an OCI registry's ``WWW-Authenticate`` challenge (Bearer: basic
credentials, if any, exchanged at the realm for a token, cached per scope until
it expires; Basic: the credentials themselves), remembers ``ETag`` and
``Last-Modified`` per URL so that ``get_conditional`` turns an unchanged
resource into one small 304, and caps every body it reads.

Every failure leaves here as a ``tether.sources.errors.SourceError``: this is
where urllib3 exceptions and HTTP statuses are translated, once. Credentials
never reach a message: URLs are shown without userinfo and no header is quoted.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, TimeoutError

from tether.sources.errors import (
    InsecureSourceError,
    SourceAuthError,
    SourceError,
    SourceFetchError,
    SourceNotFoundError,
)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
USER_AGENT = "tether"


@dataclass(frozen=True, repr=False)
class Credentials:
    """Basic (username + password) or bearer credentials for one server; never printed."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.bearer_token is None and self.username is None

    def header(self) -> str | None:
        """The ``Authorization`` value these credentials send up front, if any."""
        if self.bearer_token:
            return f"Bearer {self.bearer_token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    def __repr__(self) -> str:
        kind = "bearer" if self.bearer_token else "basic" if self.username else "anonymous"
        return f"Credentials(<{kind}>)"


ANONYMOUS = Credentials()


@dataclass(frozen=True)
class Response:
    """A finished response: status, lower-cased headers and the body (empty on 304)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Conditional:
    """A body fetched with ``get_conditional``, and whether it changed since the last fetch."""

    body: bytes
    changed: bool
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Counters:
    """What this client sent and received: for the bench and the tests' cost checks."""

    requests: int = 0
    bytes_in: int = 0
    not_modified: int = 0


def shown_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: safe for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (
        443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None
    )
    return parts.scheme, (parts.hostname or "").lower(), port


def check_scheme(url: str, insecure: bool) -> None:
    """Refuse anything but https:// (and http:// with ``insecure``)."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and insecure):
        return
    if scheme == "http":
        raise InsecureSourceError("http:// needs insecure: true", url=shown_url(url))
    raise InsecureSourceError(f"unsupported URL scheme {scheme!r}", url=shown_url(url))


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme, params) of a ``WWW-Authenticate`` value, e.g. ``Bearer realm="..."``."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE_PARAM.findall(rest)}


class HttpClient:
    """GETs and PUTs with TLS, credentials, token exchange and conditional requests."""

    def __init__(
        self,
        *,
        ca_pem: str | None = None,
        insecure: bool = False,
        timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        context = ssl.create_default_context()
        if ca_pem:
            try:
                context.load_verify_locations(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise SourceFetchError(f"the CA bundle cannot be read: {exc}") from None
        self.insecure = insecure
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.counters = Counters()
        self._pool = urllib3.PoolManager(ssl_context=context, num_pools=16, maxsize=4)
        self._validators: dict[str, tuple[str, str, bytes]] = {}
        self._tokens: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    # -- plain requests ---------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """One request, no auth handling; raises ``SourceFetchError`` on transport failures."""
        check_scheme(url, self.insecure)
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        try:
            raw = self._pool.request(
                method,
                url,
                headers=sent,
                body=body,
                preload_content=False,
                redirect=True,
                retries=urllib3.Retry(total=3, connect=2, read=0, redirect=3, status=0),
                timeout=urllib3.Timeout(total=self.timeout),
            )
        except (MaxRetryError, TimeoutError, HTTPError, OSError) as exc:
            raise SourceFetchError(_transport_text(exc), url=shown_url(url)) from None
        try:
            data = self._read(raw, url, max_bytes or self.max_bytes)
        finally:
            raw.release_conn()
        headers_out = {k.lower(): v for k, v in raw.headers.items()}
        with self._lock:
            self.counters.requests += 1
            self.counters.bytes_in += len(data)
        return Response(raw.status, headers_out, data, raw.geturl() or url)

    def _read(self, raw: urllib3.BaseHTTPResponse, url: str, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise SourceFetchError(
                        f"the response is larger than the limit of {limit} bytes",
                        url=shown_url(url),
                    )
                chunks.append(chunk)
        except (HTTPError, OSError) as exc:
            raise SourceFetchError(_transport_text(exc), url=shown_url(url)) from None
        return b"".join(chunks)

    # -- authenticated requests ------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        credentials: Credentials,
        *,
        home: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        scope: str = "",
        max_bytes: int | None = None,
    ) -> Response:
        """A request that authenticates like Helm and registries expect.

        ``home`` is the URL the credentials belong to: they are sent only to its
        origin. Basic or bearer credentials are sent up front; a 401 with a Bearer
        challenge is answered by fetching a token for ``scope`` at the realm.
        """
        own = origin(url) == origin(home)
        sent = dict(headers or {})
        token = self._cached_token(url, scope) if own else None
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        elif own and credentials.header() is not None:
            sent["Authorization"] = credentials.header() or ""
        response = self.request(method, url, headers=sent, body=body, max_bytes=max_bytes)
        if response.status != 401 or not own:
            return response
        scheme, params = parse_challenge(response.header("www-authenticate"))
        if scheme == "bearer" and params.get("realm"):
            token = self._fetch_token(params, credentials, url, scope)
            sent["Authorization"] = f"Bearer {token}"
            return self.request(method, url, headers=sent, body=body, max_bytes=max_bytes)
        return response

    def _cached_token(self, url: str, scope: str) -> str | None:
        key = (":".join(map(str, origin(url))), scope)
        with self._lock:
            found = self._tokens.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def _fetch_token(
        self, params: Mapping[str, str], credentials: Credentials, url: str, scope: str
    ) -> str:
        realm = params["realm"]
        query = {"service": params.get("service", "")}
        wanted = scope or params.get("scope", "")
        if wanted:
            query["scope"] = wanted
        token_url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        headers: dict[str, str] = {}
        basic = Credentials(credentials.username, credentials.password)
        if credentials.username is not None and basic.header():
            headers["Authorization"] = basic.header() or ""
        elif credentials.bearer_token:
            headers["Authorization"] = f"Bearer {credentials.bearer_token}"
        answer = self.request("GET", token_url, headers=headers)
        if answer.status in (401, 403):
            raise SourceAuthError(
                "the registry's token service refused the credentials"
                if not credentials.anonymous
                else "the registry needs credentials: set secretRef",
                url=shown_url(url),
            )
        if answer.status != 200:
            raise SourceFetchError(
                f"the registry's token service answered {answer.status}", url=shown_url(realm)
            )
        try:
            doc = json.loads(answer.body)
            token = str(doc.get("token") or doc.get("access_token") or "")
            lifetime = float(doc.get("expires_in") or 60)
        except (ValueError, AttributeError):
            token, lifetime = "", 0.0
        if not token:
            raise SourceFetchError("the token service sent no token", url=shown_url(realm))
        key = (":".join(map(str, origin(url))), scope)
        with self._lock:
            self._tokens[key] = (time.monotonic() + max(0.0, lifetime - 10), token)
        return token

    # -- conditional GET -------------------------------------------------------------

    def get_conditional(
        self,
        url: str,
        credentials: Credentials,
        *,
        home: str,
        headers: Mapping[str, str] | None = None,
        scope: str = "",
        what: str = "resource",
    ) -> Conditional:
        """GET ``url``; with ETag/Last-Modified from before, an unchanged body costs a 304."""
        sent = dict(headers or {})
        with self._lock:
            known = self._validators.get(url)
        if known is not None:
            etag, modified, _ = known
            if etag:
                sent["If-None-Match"] = etag
            if modified:
                sent["If-Modified-Since"] = modified
        response = self.send("GET", url, credentials, home=home, headers=sent, scope=scope)
        if response.status == 304 and known is not None:
            with self._lock:
                self.counters.not_modified += 1
            return Conditional(known[2], False, response.headers)
        expect_ok(response, url, what)
        etag, modified = response.header("etag"), response.header("last-modified")
        if etag or modified:
            with self._lock:
                self._validators[url] = (etag, modified, response.body)
        changed = known is None or known[2] != response.body
        return Conditional(response.body, changed, response.headers)


def expect_ok(response: Response, url: str, what: str, ref: str = "") -> None:
    """Raise the typed error for a non-2xx answer about ``what`` (e.g. 'the index')."""
    status = response.status
    if 200 <= status < 300:
        return
    shown = shown_url(url)
    error: type[SourceError]
    if status in (401, 403):
        error, text = SourceAuthError, f"the server refused access to {what} ({status})"
    elif status == 404:
        error, text = SourceNotFoundError, f"{what} does not exist (404)"
    else:
        error, text = SourceFetchError, f"the server answered {status} for {what}"
    raise error(text, url=shown, ref=ref)


def resolve_link(base: str, link: str) -> str:
    """A URL from an index or a Location header, taken relative to ``base``."""
    return urljoin(base, link)


def _transport_text(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = type(reason).__name__
    if isinstance(reason, ssl.SSLError) or "SSL" in text or "certificate" in str(reason).lower():
        return f"TLS failed: {_first_line(str(reason))}"
    if isinstance(reason, TimeoutError) or "Timeout" in text:
        return "the request timed out"
    return f"cannot reach the server ({text})"


def _first_line(text: str) -> str:
    # urllib3 folds the URL into its messages; keep the cause only.
    text = text.splitlines()[0] if text else ""
    match = re.search(r"\[SSL[^\]]*\][^(]*", text)
    return (match.group(0) if match else text)[:200].strip()
