"""Plan ordering: kind order, names, waves (negative too), CRD and Namespace pulls, phases."""

from __future__ import annotations

import random

import pytest
from plan_helpers import APP, DEST, annotated, crd, desired, layout, live_of, make, names

from tether.plan import KIND_ORDER, InvalidWaveError, build_plan

ISSUE_KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService",
]  # fmt: skip
CLUSTER_SCOPED = {
    "Namespace",
    "StorageClass",
    "PersistentVolume",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "IngressClass",
    "APIService",
}
WAVE = "argocd.argoproj.io/sync-wave"
TWAVE = "tether.dev/sync-wave"


def plan_of(objects, **kwargs):  # type: ignore[no-untyped-def]
    return build_plan(
        app=APP, revision="r1", desired=desired(objects), live={}, inventory=(), **kwargs
    )


def test_kind_order_table_matches_the_issue() -> None:
    assert [gk.kind for gk in KIND_ORDER] == ISSUE_KIND_ORDER


def test_kinds_follow_the_order_then_others_then_names() -> None:
    objects = []
    for kind in ISSUE_KIND_ORDER:
        if kind == "CustomResourceDefinition":
            objects.append(crd("example.com", "Widget"))
            continue
        ns = (
            None if kind in CLUSTER_SCOPED else "other"
        )  # not DEST, so Namespace "prod" is not pulled
        objects += [make(kind, "b", ns), make(kind, "a", ns)]
    objects += [
        make("Widget", "w2", "other"),
        make("Widget", "w1", "other"),
        make("Gadget", "g", "other"),
    ]
    random.Random(7).shuffle(objects)
    plan = plan_of(objects)
    prereq, main = layout(plan)
    assert prereq == (
        "Sync",
        0,
        "prerequisites",
        [
            "create Namespace/a",
            "create Namespace/b",
            "create CustomResourceDefinition/widgets.example.com",
        ],
    )
    expected = []
    for kind in ISSUE_KIND_ORDER:
        if kind not in ("Namespace", "CustomResourceDefinition"):
            expected += [f"create {kind}/a", f"create {kind}/b"]
    expected += ["create Gadget/g", "create Widget/w1", "create Widget/w2"]
    assert main == ("Sync", 0, "apply", expected)


def test_same_name_in_two_namespaces_is_ordered_deterministically() -> None:
    plan = plan_of([make("ConfigMap", "c", "zz"), make("ConfigMap", "c", "aa")])
    assert [t.key.namespace for t in plan.tasks()] == ["aa", "zz"]


def test_waves_split_steps_in_ascending_order_including_negative() -> None:
    objects = [
        annotated(make("Deployment", "web", DEST), {WAVE: "2"}),
        annotated(make("ConfigMap", "early", DEST), {WAVE: "-5"}),
        make("Service", "svc", DEST),
        annotated(make("Secret", "s", DEST), {TWAVE: "+1"}),
        annotated(make("Job", "j", DEST), {WAVE: " 2 "}),
    ]
    assert [(p, w, t) for p, w, _, t in layout(plan_of(objects))] == [
        ("Sync", -5, ["create ConfigMap/early"]),
        ("Sync", 0, ["create Service/svc"]),
        ("Sync", 1, ["create Secret/s"]),
        ("Sync", 2, ["create Deployment/web", "create Job/j"]),
    ]


def test_tether_wave_wins_over_argo_wave() -> None:
    obj = annotated(make("ConfigMap", "c", DEST), {WAVE: "9", TWAVE: "3"})
    assert plan_of([obj]).steps[0].wave == 3


@pytest.mark.parametrize("value", ["one", "1.5", "", "1e3", "--1", "0x10", "1_000"])
def test_bad_wave_is_a_typed_error_naming_the_object(value: str) -> None:
    obj = annotated(make("ConfigMap", "cfg", DEST), {WAVE: value})
    with pytest.raises(InvalidWaveError) as info:
        plan_of([obj])
    assert "ConfigMap prod/cfg" in str(info.value)
    assert info.value.annotation == WAVE


def test_helm_hook_weight_is_only_read_on_hooks() -> None:
    plain = annotated(make("ConfigMap", "c", DEST), {"helm.sh/hook-weight": "5"})
    hook = annotated(
        make("Job", "j", DEST), {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-3"}
    )
    both = annotated(
        make("Job", "k", DEST),
        {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-3", WAVE: "4"},
    )
    assert [(p, w, t) for p, w, _, t in layout(plan_of([plain, hook, both]))] == [
        ("PreSync", -3, ["hook Job/j"]),
        ("PreSync", 4, ["hook Job/k"]),
        ("Sync", 0, ["create ConfigMap/c"]),
    ]


def test_bad_helm_weight_on_a_hook_is_an_error() -> None:
    hook = annotated(
        make("Job", "j", DEST), {"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "heavy"}
    )
    with pytest.raises(InvalidWaveError, match=r"helm\.sh/hook-weight"):
        plan_of([hook])


def test_crd_is_pulled_into_the_wave_of_its_first_custom_resource() -> None:
    objects = [
        crd("example.com", "Widget", {WAVE: "3"}),
        annotated(make("Widget", "late", DEST), {WAVE: "5"}),
        annotated(make("Widget", "early", DEST), {WAVE: "-1"}),
        crd("example.com", "Gadget"),  # no CR needs it earlier: stays in wave 0
        annotated(make("Gadget", "g", DEST), {WAVE: "1"}),
        annotated(make("Namespace", DEST), {WAVE: "9"}),
    ]
    assert layout(plan_of(objects)) == [
        (
            "Sync",
            -1,
            "prerequisites",
            ["create Namespace/prod", "create CustomResourceDefinition/widgets.example.com"],
        ),
        ("Sync", -1, "apply", ["create Widget/early"]),
        ("Sync", 0, "prerequisites", ["create CustomResourceDefinition/gadgets.example.com"]),
        ("Sync", 1, "apply", ["create Gadget/g"]),
        ("Sync", 5, "apply", ["create Widget/late"]),
    ]


def test_namespace_and_crd_are_pulled_across_phases_into_presync() -> None:
    objects = [
        make("Namespace", "jobs"),
        crd("example.com", "Widget"),
        annotated(make("Widget", "migration-lock", "jobs"), {"argocd.argoproj.io/hook": "PreSync"}),
        make("ConfigMap", "c", "jobs"),
    ]
    assert layout(plan_of(objects)) == [
        (
            "PreSync",
            0,
            "prerequisites",
            ["create Namespace/jobs", "create CustomResourceDefinition/widgets.example.com"],
        ),
        ("PreSync", 0, "apply", ["hook Widget/migration-lock"]),
        ("Sync", 0, "apply", ["create ConfigMap/c"]),
    ]


def test_namespace_is_never_pushed_later() -> None:
    objects = [
        annotated(make("Namespace", "n"), {WAVE: "-2"}),
        annotated(make("ConfigMap", "c", "n"), {WAVE: "4"}),
    ]
    assert [(w, p) for _, w, p, _ in layout(plan_of(objects))] == [
        (-2, "prerequisites"),
        (4, "apply"),
    ]


def test_hooks_are_not_pulled() -> None:
    ns_hook = annotated(make("Namespace", "n"), {"tether.dev/hook": "PostSync"})
    objects = [ns_hook, annotated(make("ConfigMap", "c", "n"), {WAVE: "-1"})]
    assert [(p, w) for p, w, _, _ in layout(plan_of(objects))] == [("Sync", -1), ("PostSync", 0)]


def test_phases_run_presync_sync_postsync_and_syncfail_apart() -> None:
    objects = [
        annotated(make("Job", "post", DEST), {"argocd.argoproj.io/hook": "PostSync"}),
        annotated(make("Job", "pre", DEST), {"tether.dev/hook": "PreSync"}),
        annotated(make("Job", "in-sync", DEST), {"argocd.argoproj.io/hook": "Sync"}),
        annotated(make("Job", "fail", DEST), {"argocd.argoproj.io/hook": "SyncFail"}),
        annotated(make("Job", "fail2", DEST), {"argocd.argoproj.io/hook": "SyncFail", WAVE: "-1"}),
        make("ConfigMap", "c", DEST),
    ]
    plan = plan_of(objects)
    assert layout(plan) == [
        ("PreSync", 0, "apply", ["hook Job/pre"]),
        ("Sync", 0, "apply", ["create ConfigMap/c", "hook Job/in-sync"]),
        ("PostSync", 0, "apply", ["hook Job/post"]),
    ]
    assert layout(plan.sync_fail) == [
        ("SyncFail", -1, "apply", ["hook Job/fail2"]),
        ("SyncFail", 0, "apply", ["hook Job/fail"]),
    ]
    assert all(step.gate for step in plan.steps)


def test_existing_objects_are_applied_missing_ones_created() -> None:
    objects = [make("ConfigMap", "old", DEST), make("ConfigMap", "new", DEST)]
    plan = build_plan(
        app=APP, revision="r", desired=desired(objects), live=live_of(objects[:1]), inventory=()
    )
    assert layout(plan)[0][3] == ["create ConfigMap/new", "apply ConfigMap/old"]


def test_empty_plan() -> None:
    plan = plan_of([])
    assert plan.is_empty and names(plan) == [] and plan.prune_suppressed is None
