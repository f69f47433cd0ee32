"""Hooks: Tether/Argo/Helm annotations, Skip, delete policies and deterministic names."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import APP, DEST, annotated, desired, layout, live_of, make

from tether.identity import TRACKING_ANNOTATION, ResourceKey, tracking_id
from tether.plan import (
    DeletePolicy,
    InvalidHookError,
    Phase,
    PlanError,
    SkipReason,
    TaskAction,
    build_plan,
    hook_name,
    hook_spec,
)

BHC, OK, FAIL = (
    DeletePolicy.BEFORE_HOOK_CREATION,
    DeletePolicy.HOOK_SUCCEEDED,
    DeletePolicy.HOOK_FAILED,
)


def job(annotations: dict[str, str], name: str = "j") -> dict[str, Any]:
    return annotated(make("Job", name, DEST), annotations)


def plan_of(objects, revision="r1", **kwargs):  # type: ignore[no-untyped-def]
    return build_plan(
        app=APP, revision=revision, desired=desired(objects), live={}, inventory=(), **kwargs
    )


@pytest.mark.parametrize(
    ("annotations", "phases", "skip"),
    [
        ({}, (), False),
        ({"tether.dev/hook": "PreSync"}, (Phase.PRE_SYNC,), False),
        ({"argocd.argoproj.io/hook": "PostSync"}, (Phase.POST_SYNC,), False),
        ({"argocd.argoproj.io/hook": "Sync"}, (Phase.SYNC,), False),
        ({"argocd.argoproj.io/hook": "SyncFail"}, (Phase.SYNC_FAIL,), False),
        (
            {"argocd.argoproj.io/hook": "PostSync, PreSync"},
            (Phase.PRE_SYNC, Phase.POST_SYNC),
            False,
        ),
        ({"argocd.argoproj.io/hook": "Skip"}, (), True),
        ({"argocd.argoproj.io/hook": "PostDelete"}, (), True),
        (
            {"tether.dev/hook": "PreSync", "argocd.argoproj.io/hook": "PostSync"},
            (Phase.PRE_SYNC,),
            False,
        ),
        (
            {"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"},
            (Phase.POST_SYNC,),
            False,
        ),
        ({"helm.sh/hook": "pre-install"}, (Phase.PRE_SYNC,), False),
        ({"helm.sh/hook": "pre-install,pre-upgrade"}, (Phase.PRE_SYNC,), False),
        ({"helm.sh/hook": "post-install, post-upgrade"}, (Phase.POST_SYNC,), False),
        ({"helm.sh/hook": "crd-install"}, (Phase.PRE_SYNC,), False),
        ({"helm.sh/hook": "pre-upgrade,post-upgrade"}, (Phase.PRE_SYNC, Phase.POST_SYNC), False),
        ({"helm.sh/hook": "test"}, (), True),
        ({"helm.sh/hook": "test-success"}, (), True),
        ({"helm.sh/hook": "pre-delete,post-rollback"}, (), True),
        ({"helm.sh/hook": "post-install,test"}, (Phase.POST_SYNC,), False),
    ],
)
def test_hook_spec(annotations: dict[str, str], phases: tuple[Phase, ...], skip: bool) -> None:
    spec = hook_spec(job(annotations), "Job prod/j")
    assert (spec.phases, spec.skip) == (phases, skip)


def test_unknown_hook_type_is_a_typed_error() -> None:
    with pytest.raises(
        InvalidHookError, match=r"Job prod/j.*argocd.argoproj.io/hook.*unknown hook type PreSnyc"
    ):
        plan_of([job({"argocd.argoproj.io/hook": "PreSnyc"})])


def test_hook_in_two_phases_gets_a_task_in_each() -> None:
    plan = plan_of([job({"helm.sh/hook": "pre-upgrade,post-upgrade"})])
    assert [(p, t) for p, _, _, t in layout(plan)] == [
        ("PreSync", ["hook Job/j"]),
        ("PostSync", ["hook Job/j"]),
    ]


def test_skipped_objects_are_reported_and_never_pruned() -> None:
    skip = annotated(make("ConfigMap", "manual", DEST), {"argocd.argoproj.io/hook": "Skip"})
    test_hook = annotated(make("Pod", "smoke", DEST), {"helm.sh/hook": "test"})
    live = live_of([skip, test_hook])
    plan = build_plan(
        app=APP, revision="r", desired=desired([skip, test_hook]), live=live, inventory=live.keys()
    )
    assert plan.is_empty
    assert {(s.key.name, s.reason) for s in plan.skipped} == {
        ("manual", SkipReason.SKIP_HOOK),
        ("smoke", SkipReason.SKIP_HOOK),
    }


@pytest.mark.parametrize(
    ("annotations", "policies"),
    [
        ({}, (BHC,)),
        ({"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, (OK,)),
        ({"tether.dev/hook-delete-policy": "HookFailed,BeforeHookCreation"}, (BHC, FAIL)),
        ({"helm.sh/hook-delete-policy": "hook-succeeded,hook-failed"}, (OK, FAIL)),
        ({"helm.sh/hook-delete-policy": "before-hook-creation"}, (BHC,)),
        (
            {
                "tether.dev/hook-delete-policy": "HookFailed",
                "helm.sh/hook-delete-policy": "hook-succeeded",
            },
            (FAIL,),
        ),
    ],
)
def test_delete_policies(annotations: dict[str, str], policies: tuple[DeletePolicy, ...]) -> None:
    plan = plan_of([job({"argocd.argoproj.io/hook": "PreSync", **annotations})])
    (task,) = plan.tasks()
    assert task.action is TaskAction.HOOK
    assert task.hook is not None and task.hook.delete_policies == policies


def test_unknown_delete_policy_is_an_error() -> None:
    with pytest.raises(InvalidHookError, match="unknown delete policy HookDone"):
        plan_of(
            [
                job(
                    {
                        "argocd.argoproj.io/hook": "PreSync",
                        "argocd.argoproj.io/hook-delete-policy": "HookDone",
                    }
                )
            ]
        )


def generated(prefix: str = "migrate-", image: str = "db:1") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": prefix,
            "namespace": DEST,
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": image}]}}},
    }


def only_task(plan):  # type: ignore[no-untyped-def]
    (task,) = plan.tasks()
    return task


def test_generate_name_hook_gets_a_deterministic_name_and_is_restamped() -> None:
    first = only_task(plan_of([generated()]))
    again = only_task(plan_of([generated()]))
    assert first.key == again.key and first.key.name.startswith("migrate-")
    assert len(first.key.name) == len("migrate-") + 8
    assert first.object["metadata"]["name"] == first.key.name
    assert "generateName" not in first.object["metadata"]
    assert first.object["metadata"]["annotations"][TRACKING_ANNOTATION] == tracking_id(
        APP, first.key
    )


def test_generated_name_changes_with_revision_and_content() -> None:
    base = only_task(plan_of([generated()])).key.name
    assert only_task(plan_of([generated()], revision="r2")).key.name != base
    assert only_task(plan_of([generated(image="db:2")])).key.name != base


def test_generated_name_does_not_depend_on_prior_stamping() -> None:
    obj = generated()
    assert hook_name(obj, "r") == hook_name(desired([obj])[0][1], "r")


def test_generated_name_stays_within_63_characters() -> None:
    task = only_task(plan_of([generated(prefix="x" * 80)]))
    assert len(task.key.name) == 63


def test_two_generate_name_hooks_with_different_content_do_not_collide() -> None:
    plan = plan_of([generated(image="a"), generated(image="b")])
    assert len({t.key for t in plan.tasks()}) == 2


def test_generate_name_on_a_non_hook_is_refused() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cfg-"}}
    with pytest.raises(PlanError, match="generateName is only supported on hooks"):
        plan_of([obj])


def test_hook_against_existing_live_object_stays_a_hook_task() -> None:
    hook = job({"argocd.argoproj.io/hook": "PostSync"})
    plan = build_plan(
        app=APP, revision="r", desired=desired([hook]), live=live_of([hook]), inventory=()
    )
    assert only_task(plan).action is TaskAction.HOOK
    assert only_task(plan).key == ResourceKey("batch", "Job", DEST, "j")
