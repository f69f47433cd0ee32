"""Table-driven checks of the Project rules: globs, $self, allow/deny, scopes, Tether's
kinds, sources, ServiceAccounts, and prunes of look-alike objects."""

from __future__ import annotations

import pytest

from tether.api import parse_project
from tether.identity import AppRef, ResourceKey
from tether.plan.build import build_plan
from tether.tenancy import (
    DEFAULT_POLICY,
    PERMISSIVE_POLICY,
    KindPattern,
    Operation,
    PlannedObject,
    ProjectPolicy,
    Request,
    Rule,
    ServiceAccountRef,
    SourceRequest,
    check,
    glob_match,
    missing_project,
    operations_of_plan,
    policy_of,
    service_account_of,
)

APP = AppRef("team-a", "web")
RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize(
    ("pattern", "text", "separator", "ok"),
    [
        ("*", "anything/at/all", "/", True),
        ("team-*", "team-a", "", True),
        ("team-*", "team-", "", True),
        ("team-*", "teams", "", False),
        ("team-?", "team-ab", "", False),
        ("team-?", "team-b", "", True),
        ("*-prod", "web-prod", "", True),
        ("web", "web-prod", "", False),
        ("https://git.example.com/team-a/*", "https://git.example.com/team-a/app.git", "/", True),
        ("https://git.example.com/team-a/*", "https://git.example.com/team-a/x/y.git", "/", False),
        ("https://git.example.com/team-a/**", "https://git.example.com/team-a/x/y.git", "/", True),
        ("https://git.example.com/*", "https://git.example.com.evil/x", "/", False),
        ("https://git.example.com/a.git", "https://git.example.com/aXgit", "/", False),
        ("*.example.com", "apps.example.com", "", True),
        ("*", "", "", True),
        ("", "", "", True),
        ("", "apps", "", False),
    ],
)
def test_glob_match(pattern: str, text: str, separator: str, ok: bool) -> None:
    assert glob_match(pattern, text, separator=separator) is ok


def key(group: str, kind: str, namespace: str, name: str = "x") -> ResourceKey:
    return ResourceKey(group, kind, namespace, name)


def apply(k: ResourceKey, op: Operation = Operation.APPLY) -> PlannedObject:
    return PlannedObject(k, op, "Sync", "app/objects.yaml[doc 0]")


def rules(policy: ProjectPolicy, *objects: PlannedObject, **kw: object) -> list[Rule]:
    request = Request(
        APP,
        str(kw.get("destination", "team-a")),
        source=kw.get("source"),  # type: ignore[arg-type]
        service_account=kw.get("sa"),  # type: ignore[arg-type]
        objects=objects,
    )
    return [r.rule for r in check(policy, request).refusals]


TEAM = ProjectPolicy(
    name="team",
    source_repositories=("https://git.example.com/team-a/*",),
    destinations=("$self", "team-a-*"),
    cluster_resources=(KindPattern("", "Namespace"),),
    namespace_allow=(KindPattern("*", "*"),),
    namespace_deny=(KindPattern("", "Secret"), KindPattern(RBAC, "*")),
    application_namespaces=("team-a",),
)

CASES = [
    # (policy, object, expected rules)
    (DEFAULT_POLICY, apply(key("apps", "Deployment", "team-a")), []),
    (DEFAULT_POLICY, apply(key("apps", "Deployment", "team-b")), [Rule.DESTINATIONS]),
    (DEFAULT_POLICY, apply(key("apps", "Deployment", "kube-system")), [Rule.DESTINATIONS]),
    (DEFAULT_POLICY, apply(key(RBAC, "ClusterRoleBinding", "")), [Rule.CLUSTER_RESOURCES]),
    (
        DEFAULT_POLICY,
        apply(key("apiextensions.k8s.io", "CustomResourceDefinition", "")),
        [Rule.CLUSTER_RESOURCES],
    ),
    (DEFAULT_POLICY, apply(key("", "Namespace", "", "team-a")), [Rule.CLUSTER_RESOURCES]),
    (
        DEFAULT_POLICY,
        apply(key("", "Namespace", "", "evil"), Operation.CREATE_NAMESPACE),
        [Rule.CLUSTER_RESOURCES],
    ),
    (DEFAULT_POLICY, apply(key("tether.dev", "Application", "team-a")), [Rule.NAMESPACE_ALLOW]),
    (DEFAULT_POLICY, apply(key("tether.dev", "Repository", "team-a")), [Rule.NAMESPACE_ALLOW]),
    (DEFAULT_POLICY, apply(key("tether.dev", "Project", "")), [Rule.CLUSTER_RESOURCES]),
    (DEFAULT_POLICY, apply(key("", "ServiceAccount", "kube-system")), [Rule.DESTINATIONS]),
    (DEFAULT_POLICY, apply(key("batch", "Job", "team-b"), Operation.HOOK), [Rule.DESTINATIONS]),
    (DEFAULT_POLICY, apply(key("", "ConfigMap", "team-b"), Operation.PRUNE), [Rule.DESTINATIONS]),
    (DEFAULT_POLICY, apply(key("", "ConfigMap", "team-a"), Operation.PRUNE), []),
    (
        DEFAULT_POLICY,
        apply(key(RBAC, "ClusterRole", ""), Operation.PRUNE),
        [Rule.CLUSTER_RESOURCES],
    ),
    # globs and $self
    (TEAM, apply(key("apps", "Deployment", "team-a-dev")), []),
    (TEAM, apply(key("apps", "Deployment", "team-ab")), [Rule.DESTINATIONS]),
    (TEAM, apply(key("", "Namespace", "", "team-a-new"), Operation.CREATE_NAMESPACE), []),
    (TEAM, apply(key("", "Namespace", "", "team-a-new")), []),
    (TEAM, apply(key("", "Namespace", "", "kube-system")), [Rule.DESTINATIONS]),
    (
        TEAM,
        apply(key("", "Namespace", "", "team-b"), Operation.CREATE_NAMESPACE),
        [Rule.DESTINATIONS],
    ),
    # deny wins over allow
    (TEAM, apply(key("", "Secret", "team-a")), [Rule.NAMESPACE_DENY]),
    (TEAM, apply(key(RBAC, "RoleBinding", "team-a")), [Rule.NAMESPACE_DENY]),
    (TEAM, apply(key("", "ConfigMap", "team-a")), []),
    # destination is checked before kind: one refusal names the first broken rule
    (TEAM, apply(key("", "Secret", "team-b")), [Rule.DESTINATIONS]),
    # permissive: everything, Tether's kinds included
    (PERMISSIVE_POLICY, apply(key(RBAC, "ClusterRoleBinding", "")), []),
    (PERMISSIVE_POLICY, apply(key("apps", "Deployment", "kube-system")), []),
    (PERMISSIVE_POLICY, apply(key("tether.dev", "Application", "argo")), []),
    (PERMISSIVE_POLICY, apply(key("tether.dev", "Project", "")), []),
]


@pytest.mark.parametrize(("policy", "planned", "expected"), CASES)
def test_object_rules(policy: ProjectPolicy, planned: PlannedObject, expected: list[Rule]) -> None:
    assert rules(policy, planned) == expected


@pytest.mark.parametrize(
    ("allow", "deny", "ok"),
    [
        ((KindPattern("*", "*"),), (), False),
        ((KindPattern("tether*", "*"),), (), False),
        ((KindPattern("tether.dev", "*"),), (), True),
        ((KindPattern("tether.dev", "Application"),), (), True),
        ((KindPattern("tether.dev", "Repository"),), (), False),
        ((KindPattern("tether.dev", "*"),), (KindPattern("*", "*"),), False),
        ((KindPattern("tether.dev", "*"),), (KindPattern("*", "Application"),), False),
    ],
)
def test_tether_kinds_need_an_explicit_group(
    allow: tuple[KindPattern, ...], deny: tuple[KindPattern, ...], ok: bool
) -> None:
    policy = ProjectPolicy(
        "p",
        destinations=("$self",),
        namespace_allow=allow,
        namespace_deny=deny,
        application_namespaces=("*",),
    )
    found = rules(policy, apply(key("tether.dev", "Application", "team-a", "self")))
    assert (found == []) is ok


def test_self_means_the_apps_own_namespace_not_a_namespace_called_self() -> None:
    other = AppRef("team-b", "web")
    k = key("", "ConfigMap", "team-a")
    assert check(DEFAULT_POLICY, Request(APP, "team-a", objects=(apply(k),))).allowed
    refused = check(DEFAULT_POLICY, Request(other, "team-b", objects=(apply(k),)))
    assert [r.rule for r in refused.refusals] == [Rule.DESTINATIONS]


def test_application_namespaces_and_destination_namespace() -> None:
    assert rules(TEAM, destination="team-a-dev") == []
    assert rules(TEAM, destination="kube-system") == [Rule.DESTINATIONS]
    other = Request(AppRef("team-b", "web"), "team-b")
    # $self is team-b for team-b's app, so only applicationNamespaces refuses it.
    assert [r.rule for r in check(TEAM, other).refusals] == [Rule.APPLICATION_NAMESPACES]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SourceRequest("https://git.example.com/team-a/app.git", "app"), []),
        (SourceRequest("https://git.example.com/team-a/app.git"), []),
        (SourceRequest("https://user:pw@git.example.com/team-a/app.git"), []),
        (SourceRequest("https://git.example.com/team-b/app.git"), [Rule.SOURCE_REPOSITORIES]),
        (
            SourceRequest("https://git.example.com/team-a/../team-b/app.git"),
            [Rule.SOURCE_REPOSITORIES],
        ),
        (SourceRequest("https://git.example.com/team-a/x/y.git"), [Rule.SOURCE_REPOSITORIES]),
        (SourceRequest("git@git.example.com:team-a/app.git"), [Rule.SOURCE_REPOSITORIES]),
        (
            SourceRequest("https://git.example.com/team-a/app.git", "private", "team-b"),
            [Rule.REPOSITORY_REF],
        ),
        (SourceRequest("https://git.example.com/team-a/app.git", "app", "team-a"), []),
    ],
)
def test_source_rules(source: SourceRequest, expected: list[Rule]) -> None:
    assert rules(TEAM, source=source) == expected


def test_refusal_names_object_file_and_rule_and_never_credentials() -> None:
    verdict = check(
        TEAM,
        Request(
            APP,
            "team-a",
            source=SourceRequest("https://user:s3cret@git.example.com/team-b/x.git"),
            objects=(apply(key(RBAC, "ClusterRoleBinding", "", "pwn")),),
        ),
    )
    messages = verdict.messages()
    assert "s3cret" not in " ".join(messages)
    assert messages[1] == (
        "rbac.authorization.k8s.io/ClusterRoleBinding pwn (from app/objects.yaml[doc 0]): "
        "the cluster-scoped kind is not allowed by the Project "
        "[Project team, rule clusterResources]"
    )
    assert verdict.summary().startswith("not permitted: repoURL https://git.example.com/team-b")
    assert verdict.summary().endswith("; and 1 more")


@pytest.mark.parametrize(
    ("fixed", "requested", "expected_rules", "user"),
    [
        (None, None, [], None),
        (None, "deployer", [], "system:serviceaccount:team-a:deployer"),
        (None, "system:serviceaccount:kube-system:admin", [Rule.SERVICE_ACCOUNT], None),
        (None, "kube-system/admin", [Rule.SERVICE_ACCOUNT], None),
        (
            ServiceAccountRef("tether-deployer"),
            None,
            [],
            "system:serviceaccount:team-a:tether-deployer",
        ),
        (
            ServiceAccountRef("tether-deployer"),
            "tether-deployer",
            [],
            "system:serviceaccount:team-a:tether-deployer",
        ),
        (
            ServiceAccountRef("tether-deployer"),
            "other",
            [Rule.SERVICE_ACCOUNT],
            "system:serviceaccount:team-a:tether-deployer",
        ),
        (
            ServiceAccountRef("deployer", "tether-system"),
            None,
            [],
            "system:serviceaccount:tether-system:deployer",
        ),
    ],
)
def test_service_account_rules(
    fixed: ServiceAccountRef | None,
    requested: str | None,
    expected_rules: list[Rule],
    user: str | None,
) -> None:
    policy = ProjectPolicy(
        "p", destinations=("$self",), application_namespaces=("*",), service_account=fixed
    )
    assert rules(policy, sa=requested) == expected_rules
    verdict = check(policy, Request(APP, "team-a", service_account=requested))
    found = verdict.service_account.user if verdict.service_account else None
    # A refused request still never replaces a fixed account.
    assert found == user
    assert service_account_of(policy, APP, requested) == user


def test_missing_project_refuses_everything() -> None:
    verdict = missing_project("team-z", APP)
    assert not verdict.allowed
    assert verdict.refusals[0].rule is Rule.PROJECT
    assert "team-z does not exist" in verdict.summary()


def test_policy_of_project_model() -> None:
    project = parse_project(
        {
            "metadata": {"name": "team"},
            "spec": {
                "sourceRepositories": ["https://git.example.com/team-a/*"],
                "destinations": ["$self", "team-a-*"],
                "clusterResources": [{"kind": "Namespace"}],
                "namespaceResources": {"deny": [{"kind": "Secret"}, {"group": RBAC, "kind": "*"}]},
                "applicationNamespaces": ["team-a"],
            },
        }
    )
    assert policy_of(project) == TEAM


def test_plan_prune_of_look_alike_object_outside_destinations_is_refused() -> None:
    """A live object in team-b carrying this app's copied tracking marks is in the plan's
    prunes (the marks say it is ours); the Project refuses the prune by its namespace."""
    from tether.identity import stamp

    look_alike_key = key("", "ConfigMap", "team-b", "victim")
    own_key = key("", "ConfigMap", "team-a", "mine")
    live_obj = stamp(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "victim", "namespace": "team-b"},
        },
        APP,
        look_alike_key,
    )
    desired_obj = stamp(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mine", "namespace": "team-a"},
        },
        APP,
        own_key,
    )
    plan = build_plan(
        app=APP,
        revision="main@sha1:" + "a" * 40,
        desired=[(own_key, desired_obj)],
        live={look_alike_key: live_obj},
        inventory=[look_alike_key],
        sync_options=["CreateNamespace=true"],
        destination_namespace="team-a-new",
    )
    planned = operations_of_plan(plan, {own_key: "cm.yaml[doc 0]"})
    assert {(p.key, p.operation) for p in planned} == {
        (own_key, Operation.APPLY),
        (look_alike_key, Operation.PRUNE),
        (key("", "Namespace", "", "team-a-new"), Operation.CREATE_NAMESPACE),
    }
    verdict = check(DEFAULT_POLICY, Request(APP, "team-a", objects=planned))
    assert [(r.rule, r.subject) for r in verdict.refusals] == [
        (Rule.CLUSTER_RESOURCES, "Namespace team-a-new (CreateNamespace)"),
        (Rule.DESTINATIONS, "prune of ConfigMap team-b/victim"),
    ]
    assert "tracking label is not proof of ownership" in verdict.refusals[1].detail
    applied = next(p for p in planned if p.operation is Operation.APPLY)
    assert applied.source == "cm.yaml[doc 0]"


def test_generated_hook_names_find_their_file() -> None:
    hook_key = key("batch", "Job", "team-b", "")
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "migrate-",
            "namespace": "team-b",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
        "spec": {},
    }
    plan = build_plan(
        app=APP,
        revision="main@sha1:" + "b" * 40,
        desired=[(hook_key, hook)],
        live={},
        inventory=[],
    )
    (planned,) = operations_of_plan(plan, {hook_key: "hooks/migrate.yaml[doc 0]"})
    assert planned.operation is Operation.HOOK and planned.key.name.startswith("migrate-")
    verdict = check(DEFAULT_POLICY, Request(APP, "team-a", objects=(planned,)))
    (refusal,) = verdict.refusals
    assert refusal.rule is Rule.DESTINATIONS
    assert refusal.source == "hooks/migrate.yaml[doc 0]"
    assert refusal.subject.startswith("PreSync hook batch/Job team-b/migrate-")
