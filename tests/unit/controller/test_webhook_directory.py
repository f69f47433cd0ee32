"""The receiver's view of the operator: candidates, secrets, and a refresh that is the
Repository controller's own refresh path (in-process, or the annotation on a standby)."""

from __future__ import annotations

import asyncio

from fakes import Harness

from tether.constants import REFRESH_ANNOTATION
from tether.controller import triggers
from tether.controller.webhooks import WEBHOOK_RECEIVED, RepositoryDirectory
from tether.webhook import Provider, Push, PushedRef, RefKind

PUSH = Push(("git@git.example:r.git",), (PushedRef(RefKind.BRANCH, "main"),))


async def drain(h: Harness) -> dict[tuple[str, str], frozenset[str]]:
    """Every queued Repository wake-up, by key."""
    out = {}
    while len(h.runtime.repo_queue):
        key, reasons = await h.runtime.repo_queue.get()
        h.runtime.repo_queue.done(key)
        out[key] = reasons
    return out


async def hooked_harness() -> tuple[Harness, RepositoryDirectory]:
    h = Harness()
    repo = h.add_repo(url="https://git.example/r.git")
    body = h.runtime.repos.get(repo)
    assert body is not None
    body["spec"]["webhook"] = {"secretRef": {"name": "hook"}}
    h.runtime.repos.put(body)
    h.add_repo("elsewhere", url="https://git.example/other.git")
    h.add_app()
    h.secrets.data[("ns", "hook")] = {"token": b"tok-123456"}
    await drain(h)  # the wake-ups of loading the objects
    return h, RepositoryDirectory(h.runtime, h.secrets, h.events, h.repo_api)


async def test_candidates_are_the_repositories_of_that_url_with_their_revisions() -> None:
    _h, directory = await hooked_harness()
    (candidate,) = directory.candidates(("ssh://git@git.example/r", "https://nowhere/x"))
    assert candidate.key == ("ns", "repo")
    assert candidate.revisions == ("main",)
    assert candidate.secret_name == "hook"
    assert directory.candidates(("not a url",)) == []
    assert await directory.secret("ns", "hook") == b"tok-123456"
    assert await directory.secret("ns", "missing") is None


async def test_a_webhook_refresh_is_the_repository_refresh_and_moves_the_apps() -> None:
    h, directory = await hooked_harness()
    repo = ("ns", "repo")
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    assert h.git.max_ages == [60.0]
    h.git.commits["main"] = "b" * 40  # the push
    h.runtime.active = True
    await directory.refresh([repo], Provider.GITHUB, PUSH)
    queued, reasons = await asyncio.wait_for(h.runtime.repo_queue.get(), 1)
    assert queued == repo and reasons == frozenset({triggers.WEBHOOK})
    h.runtime.repo_queue.done(repo)
    await h.repos.reconcile(repo, reasons)
    assert h.git.max_ages[-1] == 0.0, "a webhook proves and fetches now, like a refresh"
    assert (("ns", "web"), triggers.REVISION_MOVED) in h.woken_apps
    (event,) = [e for e in h.sink.events if e["reason"] == WEBHOOK_RECEIVED]
    assert event["involvedObject"]["name"] == "repo"
    assert event["message"] == "github webhook: push of refs/heads/main; refreshing"


async def test_a_standby_sets_the_refresh_annotation_for_the_leader() -> None:
    h, directory = await hooked_harness()
    assert not h.runtime.active
    await directory.refresh([("ns", "repo")], Provider.GITLAB, PUSH)
    ((key, patch),) = h.repo_api.meta_patches
    assert key == ("ns", "repo")
    assert patch["metadata"]["annotations"][REFRESH_ANNOTATION].startswith("webhook-")
    assert await drain(h) == {}  # nothing queued here: the leader acts on the annotation


async def test_a_shard_sets_the_refresh_annotation_so_every_shard_hears_of_the_push() -> None:
    h, directory = await hooked_harness()
    h.runtime.active = True
    h.runtime.alone = False  # one shard of several: each reconciles the Repository
    await directory.refresh([("ns", "repo")], Provider.GITHUB, PUSH)
    ((key, patch),) = h.repo_api.meta_patches
    assert key == ("ns", "repo")
    assert patch["metadata"]["annotations"][REFRESH_ANNOTATION].startswith("webhook-")
    assert await drain(h) == {}  # every shard's watch turns the annotation into a refresh
