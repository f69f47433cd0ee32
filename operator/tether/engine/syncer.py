"""The syncer: plan an app's sync from desired and live, and run it once.

``Syncer.plan`` builds a ``tether.plan.Plan`` from the keyed desired objects,
the live ones and the app's inventory (live objects it owns). ``Syncer.sync``
refuses a plan over invalid objects, objects another app owns, or anything
the app's Project does not allow (nothing is applied), otherwise runs it through ``tether.sync.Executor``, persisting the
state after each step and resuming a saved state of the same plan. Retrying a
failed sync is the caller's policy. Stops at the cluster writes the executor
makes; judging drift is the differ's job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tether.appspec import AppSpec
from tether.engine.desired import DesiredSet
from tether.engine.differ import Differ
from tether.engine.live import LiveReader
from tether.engine.verdicts import VerdictStore
from tether.identity import Owned, ResourceKey, ownership
from tether.kube.apply import Applier
from tether.kube.client import KubeClient
from tether.kube.discovery import Discovery
from tether.kube.resource import GVK
from tether.messages import join_limited
from tether.plan import Plan, SkipReason, build_plan
from tether.sync.executor import Executor, ExecutorConfig, Persist, Progress
from tether.sync.state import OperationPhase, SyncOperation
from tether.tenancy import Request, Verdict, check, operations_of_plan

NOT_PERMITTED = "NotPermitted"
"""The prefix of a sync's message when its Project refused the plan (nothing written)."""


class Syncer:
    """Plans and runs one sync of an app."""

    def __init__(
        self, discovery: Discovery, differ: Differ, live: LiveReader, store: VerdictStore
    ) -> None:
        self.discovery = discovery
        self.differ = differ
        self.live = live
        self.store = store

    def plan(
        self,
        app: AppSpec,
        desired: DesiredSet,
        live: Mapping[ResourceKey, dict[str, Any]],
        revision: str,
        *,
        prune: bool | None = None,
        input_failed: bool = False,
    ) -> Plan:
        inventory = [k for k, obj in live.items() if isinstance(ownership(obj, app.ref, k), Owned)]
        return build_plan(
            app=app.ref,
            revision=revision,
            desired=desired.objects,
            live=live,
            inventory=inventory,
            sync_options=app.sync_options,
            destination_namespace=app.destination_namespace,
            prune=app.sync.prune if prune is None else prune,
            allow_empty=app.sync.allow_empty,
            input_failed=input_failed or bool(desired.errors),
        )

    async def sync(
        self,
        app: AppSpec,
        client: KubeClient,
        plan: Plan,
        errors: Sequence[str],
        plan_id: str,
        revision: str,
        *,
        state: SyncOperation | None,
        persist: Persist,
        dry_run: bool,
        server_side: bool,
        progress: Progress | None,
        files: Mapping[ResourceKey, str] | None = None,
    ) -> SyncOperation:
        """Run ``plan`` once (resuming ``state`` when it belongs to ``plan_id``).

        With a Project on ``app``, a plan holding anything it refuses fails before the
        first write, with a message starting ``NotPermitted:``; ``files`` names the
        desired objects' files for that message.
        """
        if state is None or not state.resumable_for(plan_id):
            state = SyncOperation.begin(plan_id, revision, len(plan.steps), dry_run=dry_run)
        refusal = _refusal(plan, errors)
        verdict = verdict_of(app, plan, files or {})
        if verdict is not None and not verdict.allowed:
            refusal = f"{NOT_PERMITTED}: {verdict.summary()}"
        if refusal:
            state = state.finish(OperationPhase.FAILED, refusal)
            await _persist(persist, state)
            return state
        executor = await self._executor(app, client, plan, dry_run, server_side, progress)
        return await executor.run(plan, state, persist)

    async def _executor(
        self,
        app: AppSpec,
        client: KubeClient,
        plan: Plan,
        dry_run: bool,
        server_side: bool,
        progress: Progress | None,
    ) -> Executor:
        gvks = {GVK.of(dict(t.object)) for t in plan.tasks() if t.object is not None}
        compare = await self.differ.comparer(app, gvks)
        verdicts = self.store.confirmations(app.ref)
        applier = Applier(client, self.discovery, compare, verdicts=verdicts, app=app.ref)
        config = ExecutorConfig(
            concurrency=app.concurrency,
            health_timeout=app.health_timeout,
            dry_run=dry_run,
            server_side=server_side,
        )
        return Executor(
            client,
            self.discovery,
            applier,
            app.ref,
            self.live.lookup,
            config=config,
            progress=progress,
        )


def plan_id(app: AppSpec, rendered: Sequence[Mapping[str, Any]], revision: str) -> str:
    """Names a plan by app, revision and render, so a saved state resumes only its plan."""
    digest = hashlib.sha256(f"{app.ref}\0{revision}\0".encode())
    for obj in rendered:
        digest.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def verdict_of(app: AppSpec, plan: Plan, files: Mapping[ResourceKey, str]) -> Verdict | None:
    """What the app's Project says of every task of ``plan`` (None: no Project).

    Hooks of every phase, prunes and CreateNamespace are tasks of the plan, so each
    is checked; ``files`` maps desired keys to their files for the refusal messages.
    """
    if app.project is None:
        return None
    request = Request(
        app.ref,
        app.destination_namespace,
        service_account=app.service_account,
        objects=operations_of_plan(plan, files),
    )
    return check(app.project, request)


def _refusal(plan: Plan, errors: Sequence[str]) -> str:
    if errors:
        return "invalid objects, nothing applied: " + join_limited(errors)
    conflicts = [s for s in plan.skipped if s.reason is SkipReason.SHARED_CONFLICT]
    if conflicts:
        names = join_limited(f"{c.key}: {c.detail}" for c in conflicts)
        return f"refused, objects belong to another app (nothing changed): {names}"
    return ""


async def _persist(persist: Persist, state: SyncOperation) -> None:
    result = persist(state)
    if result is not None:
        await result
