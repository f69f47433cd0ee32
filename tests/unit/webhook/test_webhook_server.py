"""The webhook receiver over real HTTP on 127.0.0.1: 202, 401, 413, 429, 400, 404.

The server is the real aiohttp one; only its ``Directory`` (which Repositories
exist, their Secrets, what a refresh does) is a small in-memory stand-in, whose
``refreshed`` list is the positive signal that a push got through or not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from tether.controller.metrics import Metrics
from tether.webhook import Provider, Push
from tether.webhook.matching import url_key
from tether.webhook.providers import sign
from tether.webhook.ratelimit import Rate
from tether.webhook.server import Candidate, Key, ReceiverConfig, WebhookReceiver

URL = "https://github.com/org/repo.git"
TEAM_SECRET = b"team-secret-0123"
GLOBAL = b"global-secret-456"


@dataclass
class Directory:
    repos: list[Candidate]
    secrets: dict[tuple[str, str], bytes]
    refreshed: list[tuple[Key, Provider, Push]] = field(default_factory=list)
    secret_reads: int = 0

    def candidates(self, urls: tuple[str, ...]) -> list[Candidate]:
        keys = {url_key(u) for u in urls}
        return [c for c in self.repos if url_key(c.url) in keys]

    async def secret(self, namespace: str, name: str) -> bytes | None:
        self.secret_reads += 1
        return self.secrets.get((namespace, name))

    async def refresh(self, keys: list[Key], provider: Provider, push: Push) -> None:
        self.refreshed += [(k, provider, push) for k in keys]


def push_body(ref: str = "refs/heads/main", url: str = URL) -> bytes:
    return json.dumps(
        {"ref": ref, "repository": {"clone_url": url, "ssh_url": "git@github.com:org/repo.git"}}
    ).encode()


def github_headers(body: bytes, secret: bytes, event: str = "push") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
    }


@dataclass
class Running:
    receiver: WebhookReceiver
    directory: Directory
    metrics: Metrics
    session: aiohttp.ClientSession

    async def post(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{self.receiver.port}{path}"
        async with self.session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.startswith("{") else {})

    def count(self, provider: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "tether_webhook_requests_total", {"provider": provider, "outcome": outcome}
        )
        return value or 0.0


def directory() -> Directory:
    return Directory(
        repos=[
            Candidate(("team", "repo"), "git@github.com:org/repo.git", ("main",), "hook"),
            Candidate(("other", "repo"), "https://github.com/org/repo", ("main",), None),
            Candidate(("team", "tags"), URL, (">=1.0.0",), "hook"),
        ],
        secrets={("team", "hook"): TEAM_SECRET},
    )


async def start(config: ReceiverConfig) -> AsyncIterator[Running]:
    metrics = Metrics()
    found = directory()
    receiver = WebhookReceiver(config, found, count=metrics.count_webhook)
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Running(receiver, found, metrics, session)
    finally:
        await receiver.stop()


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    config = ReceiverConfig(host="127.0.0.1", port=0, max_body=4096, global_secret=b"")
    async for running in start(config):
        yield running


@pytest.fixture
async def with_global() -> AsyncIterator[Running]:
    config = ReceiverConfig(host="127.0.0.1", port=0, global_secret=GLOBAL)
    async for running in start(config):
        yield running


async def test_a_push_signed_with_the_repositorys_secret_refreshes_it(server: Running) -> None:
    body = push_body()
    status, answer = await server.post("/hooks/github", body, github_headers(body, TEAM_SECRET))
    assert status == 202, answer
    assert answer["refreshed"] == ["team/repo"]  # not other/repo: its secret is not this one
    ((key, provider, push),) = server.directory.refreshed
    assert push.refs[0].name == "main"
    assert key == ("team", "repo") and provider is Provider.GITHUB
    assert server.count("github", "accepted") == 1


async def test_bad_and_missing_signatures_get_401_and_change_nothing(server: Running) -> None:
    body = push_body()
    bad = github_headers(body, b"wrong-secret-000")
    missing = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    assert (await server.post("/hooks/github", body, bad))[0] == 401
    assert (await server.post("/hooks/github", body, missing))[0] == 401
    # Signed for one body, sent with another.
    other = push_body("refs/heads/evil")
    assert (await server.post("/hooks/github", other, github_headers(body, TEAM_SECRET)))[0] == 401
    assert server.directory.refreshed == []
    assert server.count("github", "unauthorized") == 3


async def test_a_provider_with_no_secret_anywhere_is_refused(server: Running) -> None:
    # other/repo has no webhook secret and there is no global one: never accepted unsigned,
    # nor signed with a key nobody configured.
    body = push_body(url="https://github.com/org/repo")
    headers = github_headers(body, b"")
    assert (await server.post("/hooks/github", body, headers))[0] == 401
    generic = json.dumps({"url": "https://nowhere.example/x", "ref": "main"}).encode()
    signed = {"X-Tether-Signature": sign(generic, b"anything-at-all")}
    assert (await server.post("/hooks/generic", generic, signed))[0] == 401
    assert server.directory.refreshed == []


async def test_the_global_secret_covers_every_matching_repository(with_global: Running) -> None:
    body = push_body("refs/tags/v1.2.0")
    status, answer = await with_global.post("/hooks/github", body, github_headers(body, GLOBAL))
    assert status == 202, answer
    assert answer["refreshed"] == ["team/tags"]  # the range follower; main did not move
    status, answer = await with_global.post(
        "/hooks/github", push_body(), github_headers(push_body(), GLOBAL)
    )
    assert sorted(answer["refreshed"]) == ["other/repo", "team/repo"]  # type: ignore[arg-type]
    assert with_global.directory.secret_reads == 0  # the global secret needed no Secret read


async def test_ping_and_other_events(with_global: Running) -> None:
    ping = b'{"zen": "Keep it logically awesome."}'
    status, answer = await with_global.post(
        "/hooks/github", ping, github_headers(ping, GLOBAL, "ping")
    )
    assert (status, answer["outcome"]) == (200, "ping")
    status, answer = await with_global.post(
        "/hooks/github", push_body(), github_headers(push_body(), GLOBAL, "issues")
    )
    assert (status, answer["outcome"]) == (200, "ignored")
    assert with_global.directory.refreshed == []


async def test_over_the_size_limit_is_413_before_anything_else(server: Running) -> None:
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    status, _ = await server.post("/hooks/github", big, github_headers(big, TEAM_SECRET))
    assert status == 413
    assert server.directory.secret_reads == 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the read is capped
        for _ in range(10):
            yield b"y" * 1000

    url = f"http://127.0.0.1:{server.receiver.port}/hooks/github"
    async with server.session.post(url, data=chunks(), headers={"X-GitHub-Event": "push"}) as r:
        assert r.status == 413
    assert server.count("github", "too_large") == 2


async def test_unknown_provider_and_bad_bodies(with_global: Running) -> None:
    assert (await with_global.post("/hooks/svn", b"{}", {}))[0] == 404
    body = b"[not json"
    status, answer = await with_global.post("/hooks/github", body, github_headers(body, GLOBAL))
    assert (status, answer["outcome"]) == (400, "bad_request")
    assert with_global.count("unknown", "not_found") == 1


async def test_a_flood_is_rate_limited() -> None:
    config = ReceiverConfig(
        host="127.0.0.1", port=0, per_source=Rate(0.001, 3), overall=Rate(1000.0, 1000)
    )
    async for running in start(config):
        body = push_body()
        statuses = [
            (await running.post("/hooks/github", body, github_headers(body, TEAM_SECRET)))[0]
            for _ in range(5)
        ]
        assert statuses == [202, 202, 202, 429, 429]
        assert len(running.directory.refreshed) == 3
        assert running.count("github", "rate_limited") == 2


class Unreadable(Directory):
    async def secret(self, namespace: str, name: str) -> bytes | None:
        raise ConnectionError("the API server is away")


async def test_a_secret_that_cannot_be_read_verifies_nothing() -> None:
    found = Unreadable(repos=directory().repos, secrets={})
    receiver = WebhookReceiver(ReceiverConfig(host="127.0.0.1", port=0), found)
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            running = Running(receiver, found, Metrics(), session)
            body = push_body()
            status, answer = await running.post(
                "/hooks/github", body, github_headers(body, TEAM_SECRET)
            )
    finally:
        await receiver.stop()
    assert (status, answer["outcome"]) == (401, "unauthorized")
    assert found.refreshed == []


async def test_a_starting_operator_answers_503_until_it_knows_its_repositories() -> None:
    found = directory()
    ready = [False]
    receiver = WebhookReceiver(
        ReceiverConfig(host="127.0.0.1", port=0), found, ready=lambda: ready[0]
    )
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            running = Running(receiver, found, Metrics(), session)
            body = push_body()
            headers = github_headers(body, TEAM_SECRET)
            assert (await running.post("/hooks/github", body, headers))[0] == 503
            assert found.refreshed == [] and found.secret_reads == 0
            ready[0] = True
            assert (await running.post("/hooks/github", body, headers))[0] == 202
    finally:
        await receiver.stop()
