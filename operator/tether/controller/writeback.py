"""Write-back in the operator: capture live changes, hold them, commit and push them.

``WriteBackStep.run`` is called by the Application controller after the render
and before the compare, for apps with ``spec.writeBack``. It:

1. refuses an app that does not follow a branch (RevisionNotBranch): nothing is
   captured, and selfHeal behaves as without write-back;
2. asks ``capture.find_captures`` which listed fields differ live (Git moved
   since the last look: Git wins) and ``capture.find_new_objects`` which
   labelled objects no app tracks;
3. lays every captured live value over the render (``capture.mask``), so the
   compare sees no drift for those fields and no sync, selfHeal included, ever
   writes the old value back while the commit is pending or being retried;
4. after ``debounce`` from the first change of a window, pushes one commit holding
   every change of the window (``WriteBackPort.push``: the edit plan is
   re-applied on each new tip), then asks for the source to be read again so the
   app syncs to its own commit, finds nothing different, and writes nothing.

What was pushed is remembered per app, so a value already pushed is not pushed
again while the Repository catches up. What is held goes to the status
(``Outcome.held``), and a step that just started restores it before its first
look, so a restart does not hand a held capture back to selfHeal. A failed push
that may pass later is retried with backoff (``RETRY_BACKOFF``), never in a loop;
one that cannot (``retry_of``) waits for new inputs, and FieldMoved drops the
captures. Refused Secrets are not captured, so Git
stays the truth for them. The outcome says what the ``WriteBack`` condition,
``status.writeBack`` and the events should be; the controller writes them. No
values reach messages: pending entries and events name objects and fields.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from tether.api.conditions import ConditionStatus
from tether.api.writeback import render_message
from tether.appspec import AppSpec, Backoff, WriteBackSpec
from tether.controller.ports import (
    PushRequest,
    Rendered,
    RepoAccess,
    SourceCommit,
    WriteBackPort,
)
from tether.controller.redact import REDACTOR
from tether.manifests.objects import ObjectSource
from tether.writeback.capture import (
    DesiredObject,
    FieldKey,
    Found,
    Held,
    Refusal,
    edit_plan,
    field_key,
    find_captures,
    find_new_objects,
    held_from_status,
    held_of,
    mask,
    pending_labels,
    restored_previous,
    value_digest,
    without_refused,
)
from tether.writeback.edits import Capture, EditPlan, NewObject, SourceKind, describe
from tether.writeback.errors import WriteBackError, WriteBackReason

log = logging.getLogger(__name__)

WRITE_BACK = "WriteBack"  # the condition type
WRITE_BACK_PUSHED = "WriteBackPushed"  # event reasons
WRITE_BACK_FAILED = "WriteBackFailed"
BRANCH_PREFIX = "refs/heads/"

# Failed pushes are retried after 5 s, 10 s, ... up to 5 minutes, jittered.
RETRY_BACKOFF = Backoff(duration=5.0, factor=2.0, max_duration=300.0)

# Reasons that describe a change still to push: once nothing is left, the condition
# says so. Refusals (SecretRefused, UnsupportedSource found before any edit) and
# RevisionNotBranch stay until a push replaces them: the change they refused went
# back to Git's value, and the condition is where the user learns why.
_CLEARED_WHEN_SETTLED = frozenset(
    str(r)
    for r in WriteBackReason
    if r
    not in (
        WriteBackReason.SECRET_REFUSED,
        WriteBackReason.UNSUPPORTED_SOURCE,
        WriteBackReason.REVISION_NOT_BRANCH,
        WriteBackReason.FIELD_MOVED,  # the capture was dropped: say so until a push
        WriteBackReason.PUSHED,
    )
)


class Retry(Enum):
    """What a failed push does next."""

    BACKOFF = "retry with backoff"  # the server or the race may change by itself
    HOLD = "hold until the inputs change"  # the same inputs fail the same way again
    DROP = "drop the captures"  # Git has no place for them any more: Git wins


def retry_of(reason: WriteBackReason) -> Retry:
    """How a push failure with ``reason`` is retried.

    An edit the source can never take (NotRoundTrippable, UnsupportedSource,
    InvalidPointer, SecretRefused) fails again on the same commit and the same
    live values, so it waits for a new revision or a new live value, and the live
    value stays held. FieldMoved drops the captures, so selfHeal applies Git's
    value (the issue's rule: the field moved upstream, Git wins). A denied push,
    a race lost too often or any other Git failure may pass later: backoff.
    """
    if reason is WriteBackReason.FIELD_MOVED:
        return Retry.DROP
    if reason in _PERMANENT:
        return Retry.HOLD
    return Retry.BACKOFF


_PERMANENT = frozenset(
    (
        WriteBackReason.NOT_ROUND_TRIPPABLE,
        WriteBackReason.UNSUPPORTED_SOURCE,
        WriteBackReason.INVALID_POINTER,
        WriteBackReason.SECRET_REFUSED,
        WriteBackReason.REVISION_NOT_BRANCH,
    )
)

_SOURCE_KINDS: Mapping[str, SourceKind] = {
    "directory": SourceKind.PLAIN,
    "kustomize": SourceKind.KUSTOMIZE,
    "helm": SourceKind.HELM,
}


@dataclass(frozen=True)
class Verdict:
    """The ``WriteBack`` condition: status, reason and message."""

    status: ConditionStatus
    reason: WriteBackReason
    message: str


@dataclass(frozen=True)
class Notice:
    """An event to post: Normal or Warning, reason, message."""

    warning: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What one run decided; the controller applies it.

    ``desired`` is the render with captured live values laid over it. ``verdict``
    None leaves the condition as it is. ``wake_after`` asks for a reconcile (end of
    the debounce window, or a retry). ``refresh`` asks for the source to be read
    again at once (after a push).
    """

    desired: Rendered
    verdict: Verdict | None = None
    pending: tuple[str, ...] = ()
    held: tuple[Held, ...] = ()  # the captures masked in ``desired``, for the status
    pushed: tuple[str, str, float] | None = None  # commit, branch, epoch seconds
    notice: Notice | None = None
    wake_after: float | None = None
    refresh: bool = False


@dataclass(frozen=True)
class _Stuck:
    """A push refused for good on ``inputs`` (the commit and the changes): not tried
    again until they change. ``drop``: the captures are not held meanwhile."""

    inputs: str
    verdict: Verdict
    drop: bool


@dataclass
class _Memory:
    """What one app's write-back remembers between reconciles."""

    previous: dict[FieldKey, Any] | None = None  # desired values seen last time
    pushed: dict[str, str] = field(default_factory=dict)  # change id -> value digest
    since: float | None = None  # when the first change not pushed yet was seen
    failures: int = 0
    retry_at: float = 0.0
    lease: str | None = None  # the commit last pushed to pushBranch
    stuck: _Stuck | None = None  # a push that cannot succeed on these inputs


@dataclass(frozen=True)
class _Changes:
    """Everything that differs now, and which of it was not pushed yet."""

    found: Found
    fresh: dict[str, str]  # change id -> value digest, not pushed yet


class WriteBackStep:
    """Runs write-back for the apps that ask for it; see the module docstring."""

    def __init__(self, port: WriteBackPort, *, clock: Callable[[], float]) -> None:
        self.port = port
        self.clock = clock
        self._memory: dict[tuple[str, str], _Memory] = {}

    def forget(self, key: tuple[str, str]) -> None:
        self._memory.pop(key, None)

    async def run(
        self,
        app: AppSpec,
        resolved: SourceCommit,
        desired: Rendered,
        access: RepoAccess | None,
        *,
        reported: str | None = None,
        last: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """One reconcile's write-back.

        ``reported`` is the condition's current reason, ``last`` the status's
        ``writeBack`` block (after a restart, the lease on ``pushBranch`` is the
        commit it says Tether pushed there).
        """
        spec = app.write_back
        assert spec is not None
        if not resolved.ref.startswith(BRANCH_PREFIX):
            return Outcome(desired, _not_a_branch(app, resolved))
        memory = self._memory.setdefault((app.namespace, app.name), _Memory())
        if memory.lease is None and spec.push_branch:
            memory.lease = _lease_from(last, spec.push_branch)
        if memory.previous is None:
            # Just started: captures held before the restart are held again, judged
            # against Git's value then, before any sync can revert them.
            memory.previous = restored_previous(held_from_status((last or {}).get("held") or ()))
        changes = await self._changes(app, spec, desired, memory)
        outcome = await self._decide(app, spec, resolved, desired, access, changes, reported)
        if outcome.desired is desired:
            return outcome  # nothing masked: nothing held
        return replace(outcome, held=held_of(changes.found.captures))

    async def _decide(
        self,
        app: AppSpec,
        spec: WriteBackSpec,
        resolved: SourceCommit,
        desired: Rendered,
        access: RepoAccess | None,
        changes: _Changes,
        reported: str | None,
    ) -> Outcome:
        memory = self._memory[(app.namespace, app.name)]
        found = changes.found
        masked = _masked(desired, found.captures)
        pending = tuple(pending_labels(found.captures, found.new_objects))
        refused = _refused(found.refused)
        inputs = _inputs(resolved, found)
        if memory.stuck is not None and memory.stuck.inputs != inputs:
            memory.stuck = None  # a new revision or a new live value: try again
        if memory.stuck is not None:
            stuck = memory.stuck
            if stuck.drop:
                return Outcome(desired, stuck.verdict)
            return Outcome(masked, stuck.verdict, pending)
        # Forget pushes that landed (or went away): only what still differs stays.
        current = _change_ids(found)
        memory.pushed = {k: v for k, v in memory.pushed.items() if k in current}
        if not changes.fresh:
            memory.since = None
            verdict = refused
            if verdict is None and not pending and reported in _CLEARED_WHEN_SETTLED:
                verdict = Verdict("True", WriteBackReason.PUSHED, "nothing left to write back")
            notice = Notice(True, WRITE_BACK_FAILED, refused.message) if refused else None
            return Outcome(masked, verdict, pending, notice=notice)
        now = self.clock()
        if memory.since is None:
            memory.since = now
            log.info(
                "application %s/%s: write-back captured %d change(s), commit in %gs: %s",
                app.namespace,
                app.name,
                len(changes.fresh),
                spec.debounce,
                _first(pending),
            )
        due = max(memory.since + spec.debounce, memory.retry_at)
        if access is None:
            return Outcome(masked, _no_access(app), pending)
        if now < due:
            waiting = refused or Verdict(
                "Unknown",
                WriteBackReason.PENDING,
                f"{len(pending)} change(s) wait for the commit: " + _first(pending),
            )
            # Backing off: the condition keeps saying why the last push failed.
            held = None if memory.failures else waiting
            return Outcome(masked, held, pending, wake_after=due - now)
        branch = spec.branch or resolved.ref.removeprefix(BRANCH_PREFIX)
        try:
            return await self._push(app, spec, resolved, access, branch, changes, masked, pending)
        except Exception as exc:  # the push's boundary: every failure gets a reason
            return self._failed(app, exc, desired, masked, pending, inputs)

    async def _changes(
        self, app: AppSpec, spec: WriteBackSpec, desired: Rendered, memory: _Memory
    ) -> _Changes:
        found = await collect(self.port, app, desired, previous=memory.previous, guess=True)
        memory.previous = {**(memory.previous or {}), **found.seen}
        ids = _change_ids(found)
        fresh = {k: v for k, v in ids.items() if memory.pushed.get(k) != v}
        return _Changes(found, fresh)

    async def _push(
        self,
        app: AppSpec,
        spec: WriteBackSpec,
        resolved: SourceCommit,
        access: RepoAccess,
        branch: str,
        changes: _Changes,
        masked: Rendered,
        pending: tuple[str, ...],
    ) -> Outcome:
        memory = self._memory[(app.namespace, app.name)]
        plan = plan_for(app, changes.found, masked.renderer)
        request = push_request(app, plan, access, branch, resolved.commit, lease=memory.lease)
        result = await self.port.push(request)
        memory.pushed.update(changes.fresh)
        memory.since, memory.failures, memory.retry_at = None, 0, 0.0
        if spec.push_branch:
            memory.lease = result.commit
        what = f"{len(changes.fresh)} change(s)"
        if not result.changed:
            text = f"nothing to commit: {result.branch} already holds the {what}"
            return Outcome(masked, Verdict("True", WriteBackReason.PUSHED, text), pending)
        text = f"pushed {result.commit[:12]} to {result.branch}: {what}: " + _first(pending)
        log.info("application %s/%s: write-back %s", app.namespace, app.name, text)
        return Outcome(
            masked,
            Verdict("True", WriteBackReason.PUSHED, text),
            pending,
            pushed=(result.commit, result.branch, self.clock()),
            notice=Notice(False, WRITE_BACK_PUSHED, text),
            refresh=True,
        )

    def _failed(
        self,
        app: AppSpec,
        exc: Exception,
        desired: Rendered,
        masked: Rendered,
        pending: tuple[str, ...],
        inputs: str,
    ) -> Outcome:
        memory = self._memory[(app.namespace, app.name)]
        if isinstance(exc, WriteBackError):
            reason, text = exc.reason, str(exc)
        else:
            reason, text = WriteBackReason.GIT_ERROR, f"{type(exc).__name__}: {exc}"
        text = REDACTOR.redact(text)[:1024]
        retry = retry_of(reason)
        # Git moved under us: read it again, so a field changed upstream wins.
        refresh = reason in (WriteBackReason.FIELD_MOVED, WriteBackReason.CONFLICT)
        notice = Notice(True, WRITE_BACK_FAILED, f"{reason}: {text}")
        if retry is not Retry.BACKOFF:
            memory.since, memory.failures, memory.retry_at = None, 0, 0.0
            log.warning(
                "application %s/%s: write-back %s (%s): %s",
                app.namespace,
                app.name,
                reason,
                retry.value,
                text,
            )
            if retry is Retry.DROP:
                verdict = Verdict("False", reason, f"{text}: the capture is dropped, Git wins")
                memory.stuck = _Stuck(inputs, verdict, drop=True)
                return Outcome(desired, verdict, notice=notice, refresh=refresh)
            verdict = Verdict(
                "False", reason, f"{text} (not retried until Git or the live value changes)"
            )
            memory.stuck = _Stuck(inputs, verdict, drop=False)
            return Outcome(masked, verdict, pending, notice=notice, refresh=refresh)
        memory.failures += 1
        delay = RETRY_BACKOFF.jittered(memory.failures)
        memory.retry_at = self.clock() + delay
        if memory.failures == 1:
            log.warning(
                "application %s/%s: write-back %s: %s", app.namespace, app.name, reason, text
            )
        return Outcome(
            masked,
            Verdict("False", reason, f"{text} (retry {memory.failures} in {delay:.0f}s)"),
            pending,
            notice=notice,
            wake_after=delay,
            refresh=refresh,
        )


async def collect(
    port: WriteBackPort,
    app: AppSpec,
    desired: Rendered,
    *,
    previous: Mapping[FieldKey, Any] | None = None,
    guess: bool = False,
) -> Found:
    """Everything ``app``'s write-back would take from the cluster now: listed fields
    that differ, labelled objects no app tracks, and what is refused.

    The operator and ``tether capture`` both call this. ``previous`` and ``guess``
    (use last-applied when there is no earlier look) are the operator's: the CLI
    captures every difference, since its user asked for exactly that.
    """
    spec = app.write_back
    assert spec is not None
    found = Found()
    if spec.capture.fields:
        pairs = await port.live_of(app, desired)
        origins: tuple[ObjectSource | None, ...] = desired.origins or (None,) * len(pairs)
        items = [
            DesiredObject(key, obj, origin, live)
            for (key, live), obj, origin in zip(pairs, desired.objects, origins, strict=False)
        ]
        found = find_captures(spec.capture, items, previous=previous, guess=guess)
    if spec.capture.new_objects:
        live = await port.unowned(app, spec.capture.selector, desired)
        new, refused = find_new_objects(spec.capture, live, app.source.path, desired.objects)
        found = replace(found, new_objects=new, refused=(*found.refused, *refused))
    return without_refused(found, plan_for(app, found, desired.renderer))


def plan_for(app: AppSpec, found: Found, renderer: str) -> EditPlan:
    """The ``EditPlan`` of one commit of ``found`` for ``app``'s source."""
    spec = app.write_back
    assert spec is not None
    return edit_plan(
        app.source.path,
        _SOURCE_KINDS.get(renderer, SourceKind.PLAIN),
        found,
        allow_secrets=spec.capture.allow_secrets,
        value_files=_value_files(app),
    )


def push_request(
    app: AppSpec,
    plan: EditPlan,
    access: RepoAccess,
    branch: str,
    revision: str,
    *,
    lease: str | None = None,
) -> PushRequest:
    """The push of ``plan``: the app's author, its message template filled in."""
    spec = app.write_back
    assert spec is not None
    message = render_message(
        spec.message,
        app=app.name,
        namespace=app.namespace,
        changes=describe(plan),
        revision=revision,
    )
    return PushRequest(
        access=access,
        branch=branch,
        plan=plan,
        author_name=spec.author_name,
        author_email=spec.author_email,
        message=message,
        push_branch=spec.push_branch,
        lease=lease if spec.push_branch else None,
    )


def _lease_from(last: Mapping[str, Any] | None, push_branch: str) -> str | None:
    """The commit the status says Tether last pushed to ``push_branch``, if any."""
    if last is None or last.get("branch") != push_branch or not last.get("lastCommit"):
        return None
    return str(last["lastCommit"])


def _masked(desired: Rendered, captures: tuple[Capture, ...]) -> Rendered:
    """The render with each captured live value laid over its object."""
    if not captures:
        return desired
    by_index: dict[int, list[Capture]] = {}
    objects = list(desired.objects)
    for capture in captures:
        for index, obj in enumerate(objects):
            if _same_object(obj, capture):
                by_index.setdefault(index, []).append(capture)
                break
    for index, group in by_index.items():
        objects[index] = mask(objects[index], group)
    digest = hashlib.sha256(
        json.dumps(
            sorted([str(c.key), str(c.pointer), value_digest(c.value)] for c in captures)
        ).encode()
    ).hexdigest()[:16]
    return replace(desired, objects=tuple(objects), variant=f":wb-{digest}")


def _same_object(obj: Mapping[str, Any], capture: Capture) -> bool:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (
        meta.get("name") == capture.key.name
        and obj.get("kind") == capture.key.kind
        and group == capture.key.group
        and (meta.get("namespace") or capture.key.namespace) == capture.key.namespace
    )


def _change_ids(found: Found) -> dict[str, str]:
    """Change id (object and field, or new object) -> digest of the value."""
    ids = {f"{k[0]}|{k[1]}": value_digest(c.value) for c in found.captures for k in [field_key(c)]}
    for new in found.new_objects:
        ids[_new_id(new)] = value_digest(new.obj)
    return ids


def _new_id(new: NewObject) -> str:
    meta = new.obj.get("metadata") or {}
    return f"new|{new.obj.get('apiVersion')}|{new.obj.get('kind')}|{meta.get('name')}"


def _inputs(resolved: SourceCommit, found: Found) -> str:
    """What a push is made of: the commit it builds on and every change with its value."""
    return value_digest([resolved.commit, sorted(_change_ids(found).items())])


def _value_files(app: AppSpec) -> tuple[str, ...]:
    base = app.source.path
    files = app.source.render.helm.value_files
    return tuple(f"{base}/{name}" if base else name for name in files)


def _first(pending: tuple[str, ...]) -> str:
    more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
    return "; ".join(pending[:3]) + more


def _refused(refusals: tuple[Refusal, ...]) -> Verdict | None:
    if not refusals:
        return None
    more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
    return Verdict("False", refusals[0].reason, refusals[0].message + more)


def _not_a_branch(app: AppSpec, resolved: SourceCommit) -> Verdict:
    followed = resolved.ref or f"commit {resolved.commit[:12]}"
    return Verdict(
        "False",
        WriteBackReason.REVISION_NOT_BRANCH,
        f"writeBack needs the app to follow a branch; revision {app.source.revision!r} "
        f"is {followed}: set source.revision to a branch",
    )


def _no_access(app: AppSpec) -> Verdict:
    return Verdict(
        "False",
        WriteBackReason.GIT_ERROR,
        f"the Repository of {app.namespace}/{app.name} has not been read yet; waiting for it",
    )


__all__ = [
    "RETRY_BACKOFF",
    "WRITE_BACK",
    "WRITE_BACK_FAILED",
    "WRITE_BACK_PUSHED",
    "Notice",
    "Outcome",
    "Retry",
    "Verdict",
    "WriteBackStep",
    "collect",
    "plan_for",
    "push_request",
    "retry_of",
]
