"""Sync options, pruning (order, PruneLast, Prune=false), prune safety and ownership."""

from __future__ import annotations

import json

import pytest
from plan_helpers import APP, DEST, annotated, desired, layout, live_of, make

from tether.identity import AppRef, ResourceKey
from tether.plan import (
    DuplicateObjectError,
    InvalidSyncOptionError,
    Plan,
    PlanFormatError,
    PruneSuppressed,
    SkipReason,
    SyncOptions,
    TaskAction,
    build_plan,
    parse_option_strings,
)

OPTS = "argocd.argoproj.io/sync-options"
WAVE = "argocd.argoproj.io/sync-wave"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["Prune=false"], {"prune": False}),
        (["Replace=true", "Force=TRUE"], {"replace": True, "force": True}),
        (["ServerSideApply=true"], {"server_side_apply": True}),
        (["CreateNamespace=true"], {"create_namespace": True}),
        (["ApplyOutOfSyncOnly=true"], {"apply_out_of_sync_only": True}),
        (["PruneLast=true"], {"prune_last": True}),
        (["SkipDryRunOnMissingResource=true"], {"skip_dry_run_on_missing_resource": True}),
        (["Validate=false"], {"validate": False}),
        (["PrunePropagationPolicy=Background"], {"prune_propagation_policy": "background"}),
        ([" Prune = false ", ""], {"prune": False}),
        (["Prune=false", "Prune=true"], {"prune": True}),
    ],
)
def test_parse_sync_options(items: list[str], expected: dict[str, object]) -> None:
    assert parse_option_strings(items, "where", "syncOptions") == expected


@pytest.mark.parametrize(
    ("item", "cause"),
    [
        ("Prune", "expected Name=value"),
        ("Prune=maybe", "expected true or false"),
        ("Teleport=true", "unknown sync option Teleport"),
        ("PrunePropagationPolicy=eventually", "expected one of"),
    ],
)
def test_bad_sync_options_are_typed_errors(item: str, cause: str) -> None:
    with pytest.raises(InvalidSyncOptionError, match=cause):
        parse_option_strings([item], "ConfigMap prod/c", OPTS)


def test_bad_object_option_names_the_object() -> None:
    obj = annotated(make("ConfigMap", "c", DEST), {OPTS: "Replace=true,Bogus=1"})
    with pytest.raises(InvalidSyncOptionError, match=r"ConfigMap prod/c.*Bogus"):
        build_plan(app=APP, revision="r", desired=desired([obj]), live={}, inventory=())


def test_bad_app_option_names_the_app() -> None:
    with pytest.raises(
        InvalidSyncOptionError, match=r"Application argo/shop: syncPolicy\.syncOptions"
    ):
        build_plan(
            app=APP, revision="r", desired=[], live={}, inventory=(), sync_options=["Nope=true"]
        )


def test_object_options_override_app_options() -> None:
    objects = [
        annotated(make("ConfigMap", "a", DEST), {OPTS: "Replace=false,Force=true"}),
        annotated(
            make("ConfigMap", "b", DEST),
            {"tether.dev/sync-options": "ServerSideApply=false", OPTS: "ServerSideApply=true"},
        ),
        make("ConfigMap", "c", DEST),
    ]
    plan = build_plan(
        app=APP, revision="r", desired=desired(objects), live={}, inventory=(),
        sync_options=["Replace=true", "ServerSideApply=true"],
    )  # fmt: skip
    by_name = {t.key.name: t.options for t in plan.tasks()}
    assert (by_name["a"].replace, by_name["a"].force, by_name["a"].server_side_apply) == (
        False,
        True,
        True,
    )
    assert by_name["b"].server_side_apply is False  # Tether's annotation wins over Argo CD's
    assert (by_name["c"].replace, by_name["c"].server_side_apply) == (True, True)


def test_apply_out_of_sync_only_skips_in_sync_objects() -> None:
    objects = [
        make("ConfigMap", "same", DEST),
        make("ConfigMap", "drift", DEST),
        make("ConfigMap", "new", DEST),
    ]
    live = live_of(objects[:2])
    in_sync = {
        ResourceKey("", "ConfigMap", DEST, "same"),
        ResourceKey("", "ConfigMap", DEST, "new"),
    }
    for predicate in (in_sync, in_sync.__contains__):
        plan = build_plan(
            app=APP, revision="r", desired=desired(objects), live=live, inventory=live.keys(),
            sync_options=["ApplyOutOfSyncOnly=true"], in_sync=predicate,
        )  # fmt: skip
        assert [t.key.name for t in plan.tasks()] == [
            "drift",
            "new",
        ]  # "new" is missing live: created
        assert [(s.key.name, s.reason) for s in plan.skipped] == [("same", SkipReason.IN_SYNC)]


def test_in_sync_is_ignored_without_apply_out_of_sync_only() -> None:
    objects = [make("ConfigMap", "same", DEST)]
    live = live_of(objects)
    plan = build_plan(
        app=APP,
        revision="r",
        desired=desired(objects),
        live=live,
        inventory=(),
        in_sync=live.keys(),
    )
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]


def test_per_object_apply_out_of_sync_only() -> None:
    objects = [
        annotated(make("ConfigMap", "a", DEST), {OPTS: "ApplyOutOfSyncOnly=true"}),
        make("ConfigMap", "b", DEST),
    ]
    live = live_of(objects)
    plan = build_plan(
        app=APP,
        revision="r",
        desired=desired(objects),
        live=live,
        inventory=(),
        in_sync=live.keys(),
    )
    assert [t.key.name for t in plan.tasks()] == ["b"]


def test_create_namespace_adds_a_first_step_only_when_needed() -> None:
    objects = [annotated(make("ConfigMap", "c", DEST), {WAVE: "-2"})]
    plan = build_plan(app=APP, revision="r", desired=desired(objects), live={}, inventory=(),
                      sync_options=["CreateNamespace=true"], destination_namespace=DEST)  # fmt: skip
    assert layout(plan) == [
        ("PreSync", -2, "prerequisites", ["create-namespace Namespace/prod"]),
        ("Sync", -2, "apply", ["create ConfigMap/c"]),
    ]
    assert plan.steps[0].tasks[0].object == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": DEST},
    }
    ns_live = {ResourceKey("", "Namespace", "", DEST): make("Namespace", DEST)}
    for live, extra in ((ns_live, []), ({}, [make("Namespace", DEST)])):
        plan = build_plan(app=APP, revision="r", desired=desired(objects + extra), live=live, inventory=(),
                          sync_options=["CreateNamespace=true"], destination_namespace=DEST)  # fmt: skip
        assert all(t.action is not TaskAction.CREATE_NAMESPACE for t in plan.tasks())
    plan = build_plan(
        app=APP,
        revision="r",
        desired=desired(objects),
        live={},
        inventory=(),
        destination_namespace=DEST,
    )
    assert all(t.action is not TaskAction.CREATE_NAMESPACE for t in plan.tasks())


def test_duplicate_desired_objects_are_an_error() -> None:
    objects = [make("ConfigMap", "c", DEST), make("ConfigMap", "c")]  # second defaults to DEST
    with pytest.raises(DuplicateObjectError, match="ConfigMap prod/c"):
        build_plan(app=APP, revision="r", desired=desired(objects), live={}, inventory=())


def test_object_tracked_by_another_app_is_refused_not_taken() -> None:
    objects = [make("ConfigMap", "shared", DEST), make("ConfigMap", "mine", DEST)]
    other = AppRef("team", "billing")
    live = {**live_of(objects[:1], app=other), **live_of(objects[1:])}
    plan = build_plan(app=APP, revision="r", desired=desired(objects), live=live, inventory=())
    assert [t.key.name for t in plan.tasks()] == ["mine"]
    assert [(s.key.name, s.reason, s.detail) for s in plan.skipped] == [
        ("shared", SkipReason.SHARED_CONFLICT, "tracked by app team/billing")
    ]


def test_unmanaged_and_copied_live_objects_are_adopted() -> None:
    obj = make("ConfigMap", "c", DEST)
    key = ResourceKey("", "ConfigMap", DEST, "c")
    copied = live_of([make("ConfigMap", "c", "staging")])[
        ResourceKey("", "ConfigMap", "staging", "c")
    ]
    for live_obj in (obj, copied):
        plan = build_plan(
            app=APP, revision="r", desired=desired([obj]), live={key: live_obj}, inventory=()
        )
        assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]


# --- pruning -------------------------------------------------------------------------


def prune_plan(keep, gone, *, inventory_extra=(), **kwargs):  # type: ignore[no-untyped-def]
    live = live_of(keep + gone)
    inventory = list(live.keys()) + list(inventory_extra)
    return build_plan(
        app=APP, revision="r", desired=desired(keep), live=live, inventory=inventory, **kwargs
    )


def test_prunes_come_after_sync_applies_in_reverse_wave_then_reverse_kind_order() -> None:
    keep = [
        make("ConfigMap", "keep", DEST),
        annotated(make("Job", "post", DEST), {"argocd.argoproj.io/hook": "PostSync"}),
    ]
    gone = [
        annotated(make("Namespace", "old-ns"), {WAVE: "-1"}),
        make("ConfigMap", "old-cfg", DEST),
        make("Deployment", "old-web", DEST),
        annotated(make("Service", "old-svc", DEST), {WAVE: "3"}),
        annotated(make("Secret", "old-secret", DEST), {WAVE: "-1"}),
    ]
    plan = prune_plan(keep, gone)
    assert layout(plan) == [
        ("Sync", 0, "apply", ["apply ConfigMap/keep"]),
        ("Sync", 3, "prune", ["prune Service/old-svc"]),
        ("Sync", 0, "prune", ["prune Deployment/old-web", "prune ConfigMap/old-cfg"]),
        ("Sync", -1, "prune", ["prune Secret/old-secret", "prune Namespace/old-ns"]),
        ("PostSync", 0, "apply", ["hook Job/post"]),
    ]
    assert [s.gate for s in plan.steps] == [True, False, False, False, True]
    assert plan.steps[1].tasks[0].object is not None  # the live object travels with the prune


def test_prune_last_goes_into_a_final_sync_step() -> None:
    keep = [annotated(make("ConfigMap", "keep", DEST), {WAVE: "2"})]
    gone = [
        annotated(make("ConfigMap", "last", DEST), {OPTS: "PruneLast=true", WAVE: "-4"}),
        make("Secret", "normal", DEST),
    ]
    assert layout(prune_plan(keep, gone)) == [
        ("Sync", 2, "apply", ["apply ConfigMap/keep"]),
        ("Sync", 0, "prune", ["prune Secret/normal"]),
        ("Sync", 2, "prune-last", ["prune ConfigMap/last"]),
    ]
    assert [s[2] for s in layout(prune_plan(keep, gone, sync_options=["PruneLast=true"]))] == [
        "apply",
        "prune-last",
    ]


def test_prune_false_is_reported_as_requiring_pruning() -> None:
    gone = [
        annotated(make("ConfigMap", "precious", DEST), {OPTS: "Prune=false"}),
        make("ConfigMap", "junk", DEST),
    ]
    plan = prune_plan([make("Secret", "s", DEST)], gone)
    assert [t.key.name for t in plan.tasks() if t.action is TaskAction.PRUNE] == ["junk"]
    assert [(s.key.name, s.reason, s.detail) for s in plan.skipped] == [
        ("precious", SkipReason.REQUIRES_PRUNING, "Prune=false")
    ]


def test_pruning_disabled_reports_every_candidate() -> None:
    gone = [make("ConfigMap", "a", DEST), make("ConfigMap", "b", DEST)]
    plan = prune_plan([make("Secret", "s", DEST)], gone, prune=False)
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]
    assert {s.key.name for s in plan.skipped if s.reason is SkipReason.REQUIRES_PRUNING} == {
        "a",
        "b",
    }


def test_app_level_prune_false_blocks_prunes() -> None:
    plan = prune_plan(
        [make("Secret", "s", DEST)], [make("ConfigMap", "a", DEST)], sync_options=["Prune=false"]
    )
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]


def test_only_owned_live_objects_are_pruned() -> None:
    keep = [make("Secret", "s", DEST)]
    live = live_of(keep)
    foreign = make("ConfigMap", "foreign", DEST)
    other = live_of([make("ConfigMap", "other-app", DEST)], app=AppRef("team", "billing"))
    live_foreign = {ResourceKey("", "ConfigMap", DEST, "foreign"): foreign}
    inventory = [*live, *live_foreign, *other, ResourceKey("", "ConfigMap", DEST, "already-gone")]
    plan = build_plan(
        app=APP,
        revision="r",
        desired=desired(keep),
        live={**live, **live_foreign, **other},
        inventory=inventory,
    )
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]
    assert {(s.key.name, s.reason) for s in plan.skipped} == {
        ("foreign", SkipReason.NOT_OWNED),
        ("other-app", SkipReason.NOT_OWNED),
    }


def test_live_hooks_are_left_to_their_delete_policies() -> None:
    old_hook = annotated(make("Job", "migrate-1234", DEST), {"argocd.argoproj.io/hook": "PreSync"})
    plan = prune_plan([make("Secret", "s", DEST)], [old_hook])
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]
    assert plan.skipped == ()


def test_live_object_with_bad_annotations_is_not_pruned() -> None:
    bad = annotated(make("ConfigMap", "weird", DEST), {WAVE: "soon"})
    plan = prune_plan([make("Secret", "s", DEST)], [bad])
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]
    (skip,) = plan.skipped
    assert skip.reason is SkipReason.REQUIRES_PRUNING and "soon" in skip.detail


# --- prune safety --------------------------------------------------------------------


def test_empty_desired_with_inventory_prunes_nothing() -> None:
    plan = prune_plan([], [make("ConfigMap", "a", DEST), make("Deployment", "web", DEST)])
    assert plan.is_empty
    assert plan.prune_suppressed is PruneSuppressed.EMPTY_DESIRED


def test_empty_desired_prunes_with_allow_empty() -> None:
    plan = prune_plan([], [make("ConfigMap", "a", DEST)], allow_empty=True)
    assert [t.action for t in plan.tasks()] == [TaskAction.PRUNE]
    assert plan.prune_suppressed is None


def test_empty_desired_and_empty_inventory_is_not_suppressed() -> None:
    plan = build_plan(app=APP, revision="r", desired=[], live={}, inventory=())
    assert plan.prune_suppressed is None


@pytest.mark.parametrize("allow_empty", [False, True])
def test_failed_input_produces_no_prunes_at_all(allow_empty: bool) -> None:
    plan = prune_plan(
        [make("Secret", "s", DEST)],
        [make("ConfigMap", "a", DEST)],
        input_failed=True,
        allow_empty=allow_empty,
    )
    assert [t.action for t in plan.tasks()] == [TaskAction.APPLY]
    assert plan.prune_suppressed is PruneSuppressed.INPUT_FAILED
    assert plan.skipped == ()
    empty = prune_plan(
        [], [make("ConfigMap", "a", DEST)], input_failed=True, allow_empty=allow_empty
    )
    assert empty.is_empty


# --- serialisation -------------------------------------------------------------------


def test_plan_round_trips_through_json() -> None:
    keep = [
        make("Namespace", DEST),
        annotated(make("ConfigMap", "c", DEST), {OPTS: "Replace=true", WAVE: "1"}),
        annotated(
            make("Job", "pre", DEST),
            {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeeded"},
        ),
        annotated(make("Job", "fail", DEST), {"argocd.argoproj.io/hook": "SyncFail"}),
    ]
    gone = [
        make("Secret", "old", DEST),
        annotated(make("Secret", "kept", DEST), {OPTS: "Prune=false"}),
    ]
    plan = prune_plan(
        keep,
        gone,
        sync_options=["CreateNamespace=true", "PrunePropagationPolicy=orphan"],
        destination_namespace="elsewhere",
    )
    text = json.dumps(plan.to_dict())
    again = Plan.from_dict(json.loads(text))
    assert again == plan
    assert again.sync_fail and again.skipped and len(again.steps) >= 4


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(steps="nope"),
        lambda d: d["steps"][0].update(phase="Whenever"),
        lambda d: d["steps"][0].update(wave="1"),
        lambda d: d["steps"][0]["tasks"][0].update(action="explode"),
        lambda d: d["steps"][0]["tasks"][0].update(key={"kind": 3}),
        lambda d: d["steps"][0]["tasks"][0]["options"].update(teleport=True),
        lambda d: d["steps"][0]["tasks"][0]["options"].update(prune="yes"),
        lambda d: d.update(pruneSuppressed="sometimes"),
    ],
)
def test_malformed_persisted_plans_raise_plan_format_error(mutate) -> None:  # type: ignore[no-untyped-def]
    plan = prune_plan([make("ConfigMap", "c", DEST)], [])
    data = json.loads(json.dumps(plan.to_dict()))
    mutate(data)
    with pytest.raises(PlanFormatError):
        Plan.from_dict(data)


def test_default_options() -> None:
    options = SyncOptions()
    assert (
        options.prune
        and not options.prune_last
        and options.prune_propagation_policy == "foreground"
    )
    assert SyncOptions.from_dict(options.to_dict()) == options
