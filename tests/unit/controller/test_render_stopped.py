"""A render stopped by the operator's shutdown is not a render failure."""

from __future__ import annotations

from fakes import Harness

from tether.controller import triggers
from tether.manifests.toolrun import RenderStoppedError


async def test_a_render_stopped_at_shutdown_writes_no_failure() -> None:
    h = Harness()
    repo = h.add_repo()
    key = h.add_app(automated={"prune": True})
    await h.repos.reconcile(repo, frozenset({triggers.CREATED}))
    await h.apps.reconcile(key, frozenset())
    before = h.app(key)["status"]
    syncs = len(h.engine.syncs)
    h.engine.render_error = RenderStoppedError(
        "render stopped: Tether is shutting down", file="app"
    )
    h.git.commits["main"] = "d" * 40
    await h.repos.reconcile(repo, frozenset())
    await h.apps.reconcile(key, frozenset({triggers.REVISION_MOVED}))
    assert h.app(key)["status"] == before
    assert "RenderFailed" not in repr(h.app(key)["status"])
    assert len(h.engine.syncs) == syncs
