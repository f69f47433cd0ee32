"""The push webhook receiver: a small aiohttp server on its own port.

``POST /hooks/<provider>`` (``github``, ``gitlab``, ``gitea``/``forgejo``,
``bitbucket``, ``bitbucket-server``, ``generic``, ``registry``). In order:

1. rate limit, per source address and overall (429); an unknown provider 404; an
   operator still starting (its Repositories not listed yet) 503;
2. size: a ``Content-Length`` over the limit is refused before reading, and the read
   itself stops at the limit (413);
3. verification: the signature or token header must be there, and made with the
   receiver's global secret or with the webhook secret of a Repository the body
   names (401 otherwise: nothing is parsed further and nothing changes);
4. the delivery: a push refreshes the Repositories that match it (``matching``) and
   that the verifying secret covers (all of them for the global secret, the
   Repository itself for its own), answered 202; a ping or another event 200; a
   body the provider would not send 400.

Secret values are never logged or echoed; the answer says only what happened.
What "refresh" means, and where secrets come from, is the ``Directory``'s business
(``tether.controller.webhooks`` in the operator, a fake in tests).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from aiohttp import web

from tether.aioserve import AppServer
from tether.webhook.matching import repository_matches, same_repository
from tether.webhook.providers import (
    Ignored,
    PayloadError,
    Ping,
    Provider,
    Push,
    Verdict,
    candidate_urls,
    lower_headers,
    parse,
    provider_of,
    signature_present,
    verify,
)
from tether.webhook.ratelimit import Rate, RateLimiter

log = logging.getLogger(__name__)

MiB = 1024 * 1024
PER_SOURCE = Rate(5.0, 20)
OVERALL = Rate(50.0, 100)
DEFAULT_PORT = 9292  # the chart's default too
Key = tuple[str, str]


class Outcome(Enum):
    """How a request ended; the ``outcome`` label of ``tether_webhook_requests_total``."""

    ACCEPTED = "accepted"  # a verified push; matching Repositories refreshed
    IGNORED = "ignored"  # verified, but an event that moves nothing
    PING = "ping"
    UNAUTHORIZED = "unauthorized"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"  # the operator is starting: it does not know its Repositories


_STATUS = {
    Outcome.ACCEPTED: 202,
    Outcome.IGNORED: 200,
    Outcome.PING: 200,
    Outcome.UNAUTHORIZED: 401,
    Outcome.TOO_LARGE: 413,
    Outcome.RATE_LIMITED: 429,
    Outcome.BAD_REQUEST: 400,
    Outcome.NOT_FOUND: 404,
    Outcome.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class ReceiverConfig:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    max_body: int = MiB
    per_source: Rate = PER_SOURCE
    overall: Rate = OVERALL
    global_secret: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Candidate:
    """A Repository a body may concern: its key, URL, followed revisions, webhook Secret."""

    key: Key
    url: str
    revisions: tuple[str, ...]
    secret_name: str | None


class Directory(Protocol):
    def candidates(self, urls: tuple[str, ...]) -> list[Candidate]:
        """Repositories whose URL is one of ``urls`` (by ``matching.url_key``)."""
        ...

    async def secret(self, namespace: str, name: str) -> bytes | None:
        """The webhook token of Secret ``namespace/name``, or None when absent."""
        ...

    async def refresh(self, keys: list[Key], provider: Provider, push: Push) -> None:
        """Refresh these Repositories now."""
        ...


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str
    refreshed: tuple[Key, ...] = ()

    def response(self) -> web.Response:
        body: dict[str, object] = {"outcome": self.outcome.value, "detail": self.detail}
        if self.outcome is Outcome.ACCEPTED:
            body["refreshed"] = [f"{ns}/{name}" for ns, name in self.refreshed]
        return web.Response(
            status=_STATUS[self.outcome], text=json.dumps(body), content_type="application/json"
        )


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` (what was read is dropped)."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)


class WebhookReceiver(AppServer):
    """Serves ``/hooks/<provider>`` on its own host and port."""

    def __init__(
        self,
        config: ReceiverConfig,
        directory: Directory,
        *,
        count: Callable[[str, str], None] = lambda _p, _o: None,
        clock: Callable[[], float] = time.monotonic,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(config.host, config.port)
        self.config = config
        self.directory = directory
        self.count = count
        self.clock = clock
        self.ready = ready
        self.limiter = RateLimiter(config.per_source, config.overall)

    def app(self) -> web.Application:
        # client_max_size is aiohttp's own cap; ours (below) answers first, with 413.
        app = web.Application(client_max_size=self.config.max_body + 1)
        app.router.add_post("/hooks/{provider}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        segment = request.match_info.get("provider", "")
        provider = provider_of(segment)
        answer = await self._answer(request, provider)
        label = provider.value if provider is not None else "unknown"
        self.count(label, answer.outcome.value)
        if answer.outcome in (Outcome.ACCEPTED, Outcome.UNAUTHORIZED, Outcome.BAD_REQUEST):
            # Never headers or body: only who, what and the outcome.
            outcome = answer.outcome.value
            log.info("webhook %s from %s: %s: %s", label, request.remote, outcome, answer.detail)
        return answer.response()

    async def _answer(self, request: web.Request, provider: Provider | None) -> Answer:
        if not self.limiter.admit(request.remote or "", self.clock()):
            return Answer(Outcome.RATE_LIMITED, "too many requests; try again later")
        if provider is None:
            return Answer(Outcome.NOT_FOUND, "no such webhook provider")
        if not self.ready():
            return Answer(Outcome.UNAVAILABLE, "starting: Repositories not listed yet; retry")
        length = request.content_length
        if length is not None and length > self.config.max_body:
            return Answer(Outcome.TOO_LARGE, f"the body is over {self.config.max_body} bytes")
        body = await _read_capped(request, self.config.max_body)
        if body is None:
            return Answer(Outcome.TOO_LARGE, f"the body is over {self.config.max_body} bytes")
        headers = lower_headers(request.headers.items())
        return await self.decide(provider, headers, body)

    async def decide(self, provider: Provider, headers: Mapping[str, str], body: bytes) -> Answer:
        """Verify, parse and act on one delivery whose size and rate already passed."""
        if not signature_present(provider, headers):
            return Answer(Outcome.UNAUTHORIZED, "no signature or token header")
        global_ok = bool(self.config.global_secret) and (
            verify(provider, headers, body, self.config.global_secret) is Verdict.OK
        )
        covered = await self._covered(provider, headers, body, global_ok)
        if not global_ok and not covered:
            return Answer(Outcome.UNAUTHORIZED, "the signature matches no configured secret")
        try:
            delivery = parse(provider, headers, body)
        except PayloadError as exc:
            return Answer(Outcome.BAD_REQUEST, exc.args[0] if exc.args else "bad payload")
        if isinstance(delivery, Ping):
            return Answer(Outcome.PING, "pong")
        if isinstance(delivery, Ignored):
            return Answer(Outcome.IGNORED, delivery.why)
        keys = [
            c.key
            for c in covered
            if same_repository(c.url, delivery) and repository_matches(c.url, c.revisions, delivery)
        ]
        if keys:
            await self.directory.refresh(keys, provider, delivery)
        return Answer(Outcome.ACCEPTED, f"push of {delivery.describe()}", tuple(keys))

    async def _covered(
        self, provider: Provider, headers: Mapping[str, str], body: bytes, global_ok: bool
    ) -> list[Candidate]:
        """The candidates this delivery may refresh: all with the global secret, else those
        whose own webhook secret signed it."""
        candidates = self.directory.candidates(candidate_urls(provider, body))
        if global_ok:
            return candidates
        covered = []
        for candidate in candidates:
            if candidate.secret_name is None:
                continue
            try:
                secret = await self.directory.secret(candidate.key[0], candidate.secret_name)
            except Exception as exc:  # the API server: this Repository cannot verify now
                log.warning(
                    "webhook secret %s/%s of Repository %s/%s could not be read: %s",
                    candidate.key[0], candidate.secret_name, *candidate.key, type(exc).__name__,
                )  # fmt: skip
                continue
            if secret and verify(provider, headers, body, secret) is Verdict.OK:
                covered.append(candidate)
        return covered
