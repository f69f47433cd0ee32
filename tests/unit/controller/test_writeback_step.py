"""WriteBackStep: capture, hold, debounce, push once, back off on failure (fake port)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.appspec import AppSpec, SourceSpec, WriteBackSpec
from tether.controller.ports import Pushed, PushRequest, Rendered, RepoAccess, SourceCommit
from tether.controller.writeback import (
    WRITE_BACK_FAILED,
    WRITE_BACK_PUSHED,
    Retry,
    WriteBackStep,
    retry_of,
)
from tether.diff.lastapplied import LAST_APPLIED
from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.capture import CaptureSpec, FieldRule, held_to_status
from tether.writeback.errors import FieldMoved, NotRoundTrippable, PushDenied, WriteBackReason
from tether.writeback.pointer import FieldPointer

KEY = ResourceKey("apps", "Deployment", "ns", "web")
REPLICAS = FieldRule(
    kinds=("Deployment",), group="apps", pointer=FieldPointer.parse("/spec/replicas")
)
MAIN = SourceCommit("main", "a" * 40, "refs/heads/main", "git://x/r")
ACCESS = RepoAccess("git://x/r", None, insecure=True)


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas},
    }


@dataclass
class FakePort:
    live: dict[str, Any] = field(default_factory=lambda: deployment(3))
    pushes: list[PushRequest] = field(default_factory=list)
    error: Exception | None = None
    labelled: list[dict[str, Any]] = field(default_factory=list)

    async def live_of(
        self, app: AppSpec, desired: Rendered
    ) -> tuple[tuple[ResourceKey, Mapping[str, Any] | None], ...]:
        return tuple((KEY, self.live) for _ in desired.objects)

    async def unowned(
        self, app: AppSpec, selector: Mapping[str, str], desired: Rendered
    ) -> list[dict[str, Any]]:
        return self.labelled

    async def push(self, request: PushRequest) -> Pushed:
        self.pushes.append(request)
        if self.error is not None:
            raise self.error
        return Pushed("b" * 40, request.branch)


def app(debounce: float = 10.0, **capture: Any) -> AppSpec:
    spec = CaptureSpec(fields=(REPLICAS,), **capture)
    return AppSpec(
        name="web",
        namespace="ns",
        source=SourceSpec(repository="repo", revision="main", path="apps/web"),
        write_back=WriteBackSpec(capture=spec, debounce=debounce, message="{app}: {changes}"),
    )


def rendered(replicas: int = 3) -> Rendered:
    obj = deployment(replicas)
    return Rendered(
        (obj,), ("web.yaml[doc 0]",), (ObjectSource("apps/web/web.yaml", 0),), "directory"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(step: WriteBackStep, spec: AppSpec, desired: Rendered, commit: SourceCommit = MAIN) -> Any:
    return asyncio.run(step.run(spec, commit, desired, ACCESS))


def test_a_live_change_is_held_then_pushed_once_after_the_debounce() -> None:
    port, clock = FakePort(), Clock()
    step = WriteBackStep(port, clock=clock)
    spec, desired = app(), rendered()
    first = run(step, spec, desired)  # Git and live agree: nothing to do
    assert first.desired is desired and first.verdict is None and not first.pending

    port.live = deployment(5)
    held = run(step, spec, desired)
    assert held.desired.objects[0]["spec"]["replicas"] == 5  # masked: no revert
    assert desired.objects[0]["spec"]["replicas"] == 3  # the render is not touched
    assert held.desired.variant and held.verdict.reason is WriteBackReason.PENDING
    assert held.wake_after == 10.0 and port.pushes == []
    assert held.pending == ("apps/Deployment ns/web /spec/replicas",)

    clock.now += 10
    pushed = run(step, spec, desired)
    assert len(port.pushes) == 1
    request = port.pushes[0]
    assert request.branch == "main" and request.message.startswith("web: ")
    assert [c.value for c in request.plan.captures] == [5]
    assert pushed.verdict.reason is WriteBackReason.PUSHED and pushed.refresh
    assert pushed.notice.reason == WRITE_BACK_PUSHED
    assert pushed.pushed[:2] == ("b" * 40, "main")

    # The Repository has not moved yet: still held, not pushed again.
    again = run(step, spec, desired)
    assert len(port.pushes) == 1 and again.desired.objects[0]["spec"]["replicas"] == 5
    # Its commit arrives: nothing differs, nothing held, nothing pushed.
    landed = run(step, spec, rendered(5), SourceCommit("main", "b" * 40, "refs/heads/main"))
    assert landed.desired.variant == "" and not landed.pending and len(port.pushes) == 1


def test_changes_in_one_window_make_one_commit() -> None:
    port, clock = FakePort(), Clock()
    step = WriteBackStep(port, clock=clock)
    spec, desired = app(), rendered()
    run(step, spec, desired)
    port.live = deployment(4)
    run(step, spec, desired)
    clock.now += 5
    port.live = deployment(6)
    held = run(step, spec, desired)
    assert held.wake_after == 5.0  # the window started at the first change
    clock.now += 5
    run(step, spec, desired)
    assert [[c.value for c in p.plan.captures] for p in port.pushes] == [[6]]


def test_debounce_zero_pushes_in_the_same_reconcile() -> None:
    port = FakePort()
    step = WriteBackStep(port, clock=Clock())
    run(step, app(0), rendered())
    port.live = deployment(5)
    assert run(step, app(0), rendered()).pushed is not None


def test_a_failed_push_keeps_the_value_and_backs_off() -> None:
    port, clock = (
        FakePort(error=PushDenied("push to main refused by the server: read only")),
        Clock(),
    )
    step = WriteBackStep(port, clock=clock)
    spec = app(0)
    run(step, spec, rendered())
    port.live = deployment(5)
    failed = run(step, spec, rendered())
    assert failed.verdict.reason is WriteBackReason.PUSH_DENIED and failed.verdict.status == "False"
    assert "read only" in failed.verdict.message and failed.notice.reason == WRITE_BACK_FAILED
    assert failed.desired.objects[0]["spec"]["replicas"] == 5
    assert 4.0 <= failed.wake_after <= 6.0
    # Woken early (a cache event): no new attempt before the backoff ends.
    early = run(step, spec, rendered())
    assert len(port.pushes) == 1 and early.wake_after is not None
    assert early.verdict is None  # the PushDenied condition stays while backing off
    clock.now += 6
    run(step, spec, rendered())
    assert len(port.pushes) == 2


def test_git_moving_wins_over_a_capture() -> None:
    port = FakePort()
    step = WriteBackStep(port, clock=Clock())
    spec = app(0)
    run(step, spec, rendered(3))
    moved = run(step, spec, rendered(7))  # a new commit says 7; live still says 3
    assert moved.desired.variant == "" and port.pushes == []


def test_an_app_following_a_tag_is_refused() -> None:
    port = FakePort(live=deployment(5))
    step = WriteBackStep(port, clock=Clock())
    tag = SourceCommit("v1", "c" * 40, "refs/tags/v1")
    out = run(step, app(0), rendered(), tag)
    assert out.verdict.reason is WriteBackReason.REVISION_NOT_BRANCH
    assert "refs/tags/v1" in out.verdict.message and out.desired.variant == ""
    assert port.pushes == []


def test_secret_captures_are_refused_and_not_held() -> None:
    secret_rule = FieldRule(kinds=("Secret",), pointer=FieldPointer.parse("/data/k"))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "b2xk"},
    }
    live = {**secret, "data": {"k": "bmV3LXNlY3JldA=="}}

    class SecretPort(FakePort):
        async def live_of(self, app: AppSpec, desired: Rendered) -> Any:
            return ((ResourceKey("", "Secret", "ns", "s"), live),)

    port = SecretPort()
    spec = AppSpec(
        name="web",
        namespace="ns",
        source=SourceSpec(repository="repo", revision="main"),
        write_back=WriteBackSpec(capture=CaptureSpec(fields=(secret_rule,)), debounce=0),
    )
    out = asyncio.run(
        WriteBackStep(port, clock=Clock()).run(spec, MAIN, Rendered((secret,)), ACCESS)
    )
    assert out.verdict.reason is WriteBackReason.SECRET_REFUSED and port.pushes == []
    assert out.desired.objects[0]["data"]["k"] == "b2xk"  # Git stays the truth
    assert "bmV3LXNlY3JldA" not in out.verdict.message + out.notice.message


def test_new_labelled_objects_are_pushed_once() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extra", "namespace": "ns", "labels": {"capture": "yes"}, "uid": "u"},
        "data": {"a": "1"},
    }
    port = FakePort(labelled=[cm])
    step = WriteBackStep(port, clock=Clock())
    spec = app(0, new_objects=(("capture", "yes"),))
    out = run(step, spec, rendered())
    assert out.pushed is not None
    [new] = port.pushes[0].plan.new_objects
    assert new.folder == "apps/web" and new.obj["metadata"] == {"name": "extra", "namespace": "ns"}
    run(step, spec, rendered())
    assert len(port.pushes) == 1


def test_field_moved_drops_the_capture_and_the_condition_says_so() -> None:
    port, clock = FakePort(error=FieldMoved("apps/web/web.yaml: /spec/replicas is gone")), Clock()
    step = WriteBackStep(port, clock=clock)
    spec = app(0)
    run(step, spec, rendered())
    port.live = deployment(5)
    moved = run(step, spec, rendered())
    assert moved.verdict.reason is WriteBackReason.FIELD_MOVED and moved.refresh
    assert "dropped" in moved.verdict.message and moved.notice.reason == WRITE_BACK_FAILED
    # Dropped: not held (selfHeal applies Git's value), not retried on the same inputs.
    assert moved.desired.variant == "" and not moved.pending and not moved.held
    assert moved.wake_after is None
    clock.now += 600
    again = run(step, spec, rendered())
    assert len(port.pushes) == 1 and again.desired.variant == ""
    assert again.verdict.reason is WriteBackReason.FIELD_MOVED and again.notice is None
    # The new tip renders 7 (Git moved): Git wins, nothing is held, the condition stays.
    settled = asyncio.run(
        step.run(spec, MAIN, rendered(7), ACCESS, reported=str(WriteBackReason.FIELD_MOVED))
    )
    assert settled.desired.variant == "" and not settled.pending and settled.verdict is None
    assert len(port.pushes) == 1


def test_a_push_refused_for_good_waits_for_new_inputs_and_keeps_the_value() -> None:
    error = NotRoundTrippable("apps/web/web.yaml: the file would not read back the same")
    port, clock = FakePort(error=error), Clock()
    step = WriteBackStep(port, clock=clock)
    spec = app(0)
    run(step, spec, rendered())
    port.live = deployment(5)
    refused = run(step, spec, rendered())
    assert refused.verdict.reason is WriteBackReason.NOT_ROUND_TRIPPABLE
    assert "not retried" in refused.verdict.message and refused.wake_after is None
    assert refused.desired.objects[0]["spec"]["replicas"] == 5  # still held
    assert [h.pointer for h in refused.held] == ["/spec/replicas"]
    clock.now += 600
    same = run(step, spec, rendered())
    assert len(port.pushes) == 1 and same.wake_after is None
    assert same.verdict == refused.verdict and same.desired.objects[0]["spec"]["replicas"] == 5
    # A new live value is a new input: tried again.
    port.live = deployment(6)
    run(step, spec, rendered())
    assert len(port.pushes) == 2
    # So is a new revision.
    run(step, spec, rendered(), SourceCommit("main", "c" * 40, "refs/heads/main"))
    assert len(port.pushes) == 3


def test_push_failures_are_classified_by_whether_they_can_pass_later() -> None:
    assert retry_of(WriteBackReason.FIELD_MOVED) is Retry.DROP
    for reason in (
        WriteBackReason.NOT_ROUND_TRIPPABLE,
        WriteBackReason.UNSUPPORTED_SOURCE,
        WriteBackReason.INVALID_POINTER,
        WriteBackReason.SECRET_REFUSED,
        WriteBackReason.REVISION_NOT_BRANCH,
    ):
        assert retry_of(reason) is Retry.HOLD, reason
    for reason in (
        WriteBackReason.GIT_ERROR,
        WriteBackReason.CONFLICT,
        WriteBackReason.PUSH_DENIED,
    ):
        assert retry_of(reason) is Retry.BACKOFF, reason


def test_a_restart_holds_what_the_status_says_was_held_before_any_sync() -> None:
    port, clock = FakePort(), Clock()
    first = WriteBackStep(port, clock=clock)
    spec = app(30)
    run(first, spec, rendered())
    port.live = deployment(5)
    held = run(first, spec, rendered())
    assert held.wake_after == 30.0 and port.pushes == []
    status = {"writeBack": {}}
    status["writeBack"]["held"] = json.loads(json.dumps(held_to_status(held.held)))
    # A sync of the masked object wrote 5 into last-applied; then the operator died.
    applied = json.dumps(deployment(5))
    port.live["metadata"]["annotations"] = {LAST_APPLIED: applied}
    alone = asyncio.run(WriteBackStep(port, clock=clock).run(spec, MAIN, rendered(), ACCESS))
    assert alone.desired.variant == ""  # without the status: Git wins (the old gap)
    second = WriteBackStep(port, clock=clock)
    restored = asyncio.run(second.run(spec, MAIN, rendered(), ACCESS, last=status["writeBack"]))
    assert restored.desired.objects[0]["spec"]["replicas"] == 5 and restored.wake_after == 30.0
    clock.now += 30
    run(second, spec, rendered())
    assert [c.value for c in port.pushes[0].plan.captures] == [5]


def test_push_branch_leases_on_what_tether_last_pushed_there() -> None:
    port = FakePort()
    spec = app(0)
    spec = AppSpec(
        name=spec.name,
        namespace=spec.namespace,
        source=spec.source,
        write_back=WriteBackSpec(
            capture=spec.write_back.capture, debounce=0, push_branch="tether/review"
        ),
    )
    step = WriteBackStep(port, clock=Clock())
    last = {"branch": "tether/review", "lastCommit": "e" * 40}
    asyncio.run(step.run(spec, MAIN, rendered(), ACCESS, last=last))
    port.live = deployment(5)
    out = asyncio.run(step.run(spec, MAIN, rendered(), ACCESS, last=last))
    [request] = port.pushes
    assert (request.branch, request.push_branch, request.lease) == (
        "main",
        "tether/review",
        "e" * 40,
    )
    # The review branch is not followed: the value stays held and is not pushed again.
    assert out.desired.objects[0]["spec"]["replicas"] == 5
    again = asyncio.run(step.run(spec, MAIN, rendered(), ACCESS, last=last))
    assert len(port.pushes) == 1 and again.pending
    # A new change goes to the review branch with every held change, leased on our commit.
    port.live = deployment(6)
    asyncio.run(step.run(spec, MAIN, rendered(), ACCESS, last=last))
    assert port.pushes[1].lease == "b" * 40
    assert [c.value for c in port.pushes[1].plan.captures] == [6]


def test_a_field_the_source_cannot_take_is_refused_and_the_others_land() -> None:
    labels = FieldRule(
        kinds=("Deployment",), group="apps", pointer=FieldPointer.parse("/metadata/labels/tier")
    )
    port = FakePort()
    spec = AppSpec(
        name="web",
        namespace="ns",
        source=SourceSpec(repository="repo", revision="main", path="apps/web"),
        write_back=WriteBackSpec(capture=CaptureSpec(fields=(REPLICAS, labels)), debounce=0),
    )
    obj = {**deployment(3), "metadata": {"name": "web", "labels": {"tier": "a"}}}
    desired = Rendered((obj,), ("k[doc 0]",), (ObjectSource("apps/web/d.yaml", 0),), "kustomize")
    step = WriteBackStep(port, clock=Clock())
    asyncio.run(step.run(spec, MAIN, desired, ACCESS))
    port.live = {**deployment(5), "metadata": {"name": "web", "labels": {"tier": "b"}}}
    out = asyncio.run(step.run(spec, MAIN, desired, ACCESS))
    [request] = port.pushes
    assert [str(c.pointer) for c in request.plan.captures] == ["/spec/replicas"]
    assert out.desired.objects[0]["metadata"]["labels"] == {"tier": "a"}  # not held
    assert out.desired.objects[0]["spec"]["replicas"] == 5
    # The next look (nothing new to push) names the refusal.
    later = asyncio.run(step.run(spec, MAIN, desired, ACCESS))
    assert later.verdict.reason is WriteBackReason.UNSUPPORTED_SOURCE
    assert "Kustomize" in later.verdict.message and "/metadata/labels/tier" in later.verdict.message
