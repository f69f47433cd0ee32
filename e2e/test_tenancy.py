"""Tenancy end to end: a tenant tries to escape its namespace through the operator.

The tenant is a ServiceAccount whose only RBAC is Applications and Repositories in its
own namespace ("team-a"); the chart's broad deploy role lets the operator write
anything, so every limit here comes from Projects. Each escape in the table is an
Application the tenant creates; each must end ``Ready=False`` with reason
``NotPermitted`` naming the object, its file and the rule, and leave the cluster as it
was: the objects it asked for absent, the victim's objects at the same resourceVersion,
and the same cluster-scoped objects (a harmless ConfigMap in the tenant's own namespace,
in the same plan, is absent too: one refusal fails the whole plan).

Then what must work: the tight default for an app in its own namespace, an admin
Project, the chart's permissive switch, and a Project change re-evaluating its apps.

Uses the chart install, operator process and Git server of ``test_operator_basic``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from git_servers import git

from engine_helpers import wait_for
from operator_helpers import (
    CHART,
    GitServer,
    NotYet,
    Operator,
    app_status,
    condition,
    configmap,
    git_server,
    installed,
    operator,
    ready_is,
)
from tether.identity import APP_LABEL, TRACKING_ANNOTATION, AppRef, ResourceKey, app_instance
from tether.tools import find_tool

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed", "operator"]  # fixtures used here

RBAC = "rbac.authorization.k8s.io"
CLUSTER_KINDS = (
    "namespaces",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "projects.tether.dev",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
)


@dataclass
class World:
    """Team-a (the tenant), team-b (the victim), the Projects, the tenant's kubeconfig."""

    team_a: str
    team_b: str
    admin_ns: str
    tenant: Path
    repo_url: str
    other_url: str
    tag: str
    created: list[tuple[str, str]] = field(default_factory=list)  # cluster-scoped leftovers

    @property
    def tenant_project(self) -> str:
        return f"tenant-{self.tag}"

    @property
    def admin_project(self) -> str:
        return f"admin-{self.tag}"


def project(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": spec,
    }


def tenant_role(ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "tenant", "namespace": ns},
            "rules": [
                {
                    "apiGroups": ["tether.dev"],
                    "resources": ["applications", "repositories"],
                    "verbs": ["*"],
                }
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant", "namespace": ns},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ns}],
        },
    ]


@pytest.fixture(scope="module")
def world(cluster: Any, kubectl: Any, git_server: GitServer, operator: Operator) -> Iterator[World]:
    tag = uuid.uuid4().hex[:6]
    w = World(
        team_a=f"team-a-{tag}",
        team_b=f"team-b-{tag}",
        admin_ns=f"platform-{tag}",
        tenant=Path(),
        repo_url=git_server.url(),
        other_url=git_server.url().replace("/apps.git", "/other.git"),
        tag=tag,
    )
    git("init", "-q", "--bare", str(git_server.base / "other.git"))
    for ns in (w.team_a, w.team_b, w.admin_ns):
        kubectl.run("create", "namespace", ns)
    kubectl.apply(tenant_role(w.team_a))
    w.tenant = Path(cluster.mint_sa_kubeconfig(w.team_a, "tenant"))
    kubectl.apply(
        [
            project(
                w.tenant_project,
                sourceRepositories=[w.repo_url],
                destinations=["$self"],
                applicationNamespaces=[w.team_a],
            ),
            project(
                w.admin_project,
                sourceRepositories=["*"],
                destinations=["*"],
                clusterResources=[{"group": "*", "kind": "*"}],
                namespaceResources={
                    "allow": [{"group": "*", "kind": "*"}, {"group": "tether.dev", "kind": "*"}]
                },
                applicationNamespaces=[w.admin_ns],
            ),
            # The victim's things: a ConfigMap, a private Repository.
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "sentinel", "namespace": w.team_b},
                "data": {"key": "victim"},
            },
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": "private", "namespace": w.team_b},
                "spec": {"url": w.other_url, "insecure": True},
            },
        ]
    )
    w.created += [
        ("projects.tether.dev", w.tenant_project),
        ("projects.tether.dev", w.admin_project),
    ]
    # The tenant's own Repository, created with the tenant's own credentials.
    tenant_apply(kubectl, w, repository("repo", w.team_a, w.repo_url))
    try:
        yield w
    finally:
        for kind, name in w.created:
            kubectl.run("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)
        for ns in (w.team_a, w.team_b, w.admin_ns, f"{w.team_a}-new", f"{w.admin_ns}-new"):
            kubectl.run(
                "delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False
            )


def repository(name: str, ns: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "insecure": True, "interval": "10s"},
    }


def tenant_apply(kubectl: Any, w: World, obj: dict[str, Any]) -> None:
    """Apply as the tenant: proves the tenant's RBAC is enough, and all it has."""
    kubectl.run("apply", "-f", "-", input=json.dumps(obj), kubeconfig=w.tenant)


def application(name: str, ns: str, path: str, **spec: Any) -> dict[str, Any]:
    source = spec.pop("source", {"repositoryRef": {"name": "repo"}})
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "source": {**source, "revision": "main", "path": path},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            "interval": "30s",
            **spec,
        },
    }


def exists(kubectl: Any, kind: str, name: str, ns: str | None = None) -> bool:
    where = ["-n", ns] if ns else []
    done = kubectl.run("get", kind, name, *where, "--ignore-not-found", "-o", "name", check=False)
    return bool(done.stdout.strip())


def snapshot(kubectl: Any, w: World) -> dict[str, Any]:
    """What must not change: the victim's objects by resourceVersion, and which
    cluster-scoped objects exist."""
    rv: dict[str, str] = {}
    for kind, ns, name in [
        ("namespace", None, w.team_b),
        ("namespace", None, "kube-system"),
        ("configmap", w.team_b, "sentinel"),
    ]:
        args = ["get", kind, name, *(["-n", ns] if ns else [])]
        rv[f"{kind}/{ns}/{name}"] = kubectl.json(*args)["metadata"]["resourceVersion"]
    names = {
        kind: sorted(i["metadata"]["name"] for i in kubectl.json("get", kind)["items"])
        for kind in CLUSTER_KINDS
        if kind != "namespaces"
    }
    for ns in (w.team_a, w.team_b, "kube-system"):
        for kind in ("configmaps", "serviceaccounts", "jobs.batch", "repositories.tether.dev"):
            items = kubectl.json("get", kind, "-n", ns)["items"]
            names[f"{kind}/{ns}"] = sorted(i["metadata"]["name"] for i in items)
    # The tenant creates its own Applications; others' must not appear.
    for ns in (w.team_b, "kube-system"):
        items = kubectl.json("get", "applications.tether.dev", "-n", ns)["items"]
        names[f"applications/{ns}"] = sorted(i["metadata"]["name"] for i in items)
    return {"rv": rv, "names": names}


# -- the escapes -----------------------------------------------------------------------


def cm(name: str, ns: str | None = None) -> str:
    text = configmap(name, "x")
    return text.replace("metadata:\n", f"metadata:\n  namespace: {ns}\n") if ns else text


def job(name: str, ns: str, hook: str) -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {ns}
  annotations:
    argocd.argoproj.io/hook: {hook}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: registry.invalid/x:1}}]
"""


@dataclass(frozen=True)
class Escape:
    """One attempt: files in Git, the app's spec, what must refuse it, what must not exist."""

    id: str
    files: dict[str, str]  # {a} = team-a, {b} = team-b, {tag}, {repo} substituted
    rule: str
    names: tuple[str, ...]  # must appear in the message (object, file)
    absent: tuple[tuple[str, str, str | None], ...] = ()  # (kind, name, ns)
    spec: dict[str, Any] = field(default_factory=dict)
    lookalike: bool = False


CRB = f"""apiVersion: {RBAC}/v1
kind: ClusterRoleBinding
metadata: {{name: pwn-{{tag}}}}
roleRef: {{apiGroup: {RBAC}, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: ServiceAccount, name: tenant, namespace: "{{a}}"}}]
"""
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pwns.evil-{tag}.example.com}
spec:
  group: evil-{tag}.example.com
  names: {kind: Pwn, plural: pwns}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object}}
"""
WEBHOOK = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: spy-{tag}}
webhooks: []
"""

ESCAPES = [
    Escape(
        "dest-ns",
        {"cm.yaml": cm("dest")},
        "destinations",
        ("destination.namespace {b}",),
        (("configmap", "dest", "{b}"),),
        spec={"destination": {"namespace": "{b}"}},
    ),
    Escape(
        "meta-ns",
        {"cm.yaml": cm("meta", "{b}")},
        "destinations",
        ("ConfigMap {b}/meta", "cm.yaml"),
        (("configmap", "meta", "{b}"),),
    ),
    Escape(
        "kube-system",
        {"cm.yaml": cm("ks-{tag}", "kube-system")},
        "destinations",
        ("ConfigMap kube-system/ks-{tag}", "cm.yaml"),
        (("configmap", "ks-{tag}", "kube-system"),),
    ),
    Escape(
        "crb",
        {"crb.yaml": CRB},
        "clusterResources",
        (f"{RBAC}/ClusterRoleBinding pwn-{{tag}}", "crb.yaml"),
        (("clusterrolebinding", "pwn-{tag}", None),),
    ),
    Escape(
        "crd",
        {"crd.yaml": CRD},
        "clusterResources",
        ("CustomResourceDefinition pwns.evil-{tag}.example.com", "crd.yaml"),
        (("crd", "pwns.evil-{tag}.example.com", None),),
    ),
    Escape(
        "webhook",
        {"hook.yaml": WEBHOOK},
        "clusterResources",
        ("ValidatingWebhookConfiguration spy-{tag}", "hook.yaml"),
        (("validatingwebhookconfiguration", "spy-{tag}", None),),
    ),
    Escape(
        "create-namespace",
        {"cm.yaml": cm("in-new")},
        "destinations",
        ("{a}-new",),
        (("namespace", "{a}-new", None),),
        spec={
            "destination": {"namespace": "{a}-new"},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    ),
    Escape(
        "namespace-object",
        {"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: '{a}-new'}\n"},
        "clusterResources",
        ("Namespace {a}-new", "ns.yaml"),
        (("namespace", "{a}-new", None),),
    ),
    Escape(
        "own-application",
        {
            "app.yaml": "apiVersion: tether.dev/v1alpha1\nkind: Application\n"
            "metadata: {name: own-application, namespace: '{a}'}\n"
            "spec: {project: admin-{tag}, source: {repoURL: '{repo}', insecure: true}}\n"
        },
        "namespaceResources.allow",
        ("tether.dev/Application {a}/own-application", "app.yaml"),
    ),
    Escape(
        "application",
        {
            "app.yaml": "apiVersion: tether.dev/v1alpha1\nkind: Application\n"
            "metadata: {name: child}\n"
            "spec: {project: admin-{tag}, source: {repoURL: '{repo}', insecure: true}}\n"
        },
        "namespaceResources.allow",
        ("tether.dev/Application {a}/child", "app.yaml"),
        (("applications.tether.dev", "child", "{a}"),),
    ),
    Escape(
        "project",
        {
            "p.yaml": "apiVersion: tether.dev/v1alpha1\nkind: Project\nmetadata: {name: mine-{tag}}\n"
            "spec: {destinations: ['*'], applicationNamespaces: ['*']}\n"
        },
        "clusterResources",
        ("tether.dev/Project mine-{tag}", "p.yaml"),
        (("projects.tether.dev", "mine-{tag}", None),),
    ),
    Escape(
        "repository",
        {
            "r.yaml": "apiVersion: tether.dev/v1alpha1\nkind: Repository\n"
            "metadata: {name: borrowed}\nspec: {url: 'https://example.invalid/x.git'}\n"
        },
        "namespaceResources.allow",
        ("tether.dev/Repository {a}/borrowed", "r.yaml"),
        (("repositories.tether.dev", "borrowed", "{a}"),),
    ),
    Escape(
        "sa-object",
        {
            "sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: spy, namespace: '{b}'}\n"
        },
        "destinations",
        ("ServiceAccount {b}/spy", "sa.yaml"),
        (("serviceaccount", "spy", "{b}"),),
    ),
    Escape(
        "sa-impersonation",
        {"cm.yaml": cm("as-sa")},
        "serviceAccount",
        ("system:serviceaccount:kube-system:clusterrole-aggregation-controller",),
        spec={
            "destination": {
                "serviceAccountName": "system:serviceaccount:kube-system:clusterrole-aggregation-controller"
            }
        },
    ),
    Escape(
        "presync-hook",
        {"job.yaml": job("pre-{tag}", "{b}", "PreSync")},
        "destinations",
        ("PreSync hook batch/Job {b}/pre-{tag}", "job.yaml"),
        (("job", "pre-{tag}", "{b}"),),
    ),
    Escape(
        "syncfail-hook",
        {"job.yaml": job("fail-{tag}", "kube-system", "SyncFail")},
        "destinations",
        ("SyncFail hook batch/Job kube-system/fail-{tag}", "job.yaml"),
        (("job", "fail-{tag}", "kube-system"),),
    ),
    Escape(
        "lookalike-prune",
        {"cm.yaml": cm("mine")},
        "destinations",
        ("prune of ConfigMap {b}/lookalike",),
        lookalike=True,
    ),
    Escape(
        "repository-url",
        {"cm.yaml": cm("from-other")},
        "sourceRepositories",
        ("Repository other",),
        spec={"project": "tenant-{tag}", "source": {"repositoryRef": {"name": "other"}}},
    ),
    Escape(
        "repo-url",
        {"cm.yaml": cm("from-other")},
        "sourceRepositories",
        ("repoURL {other}",),
        spec={"project": "tenant-{tag}", "source": {"repoURL": "{other}", "insecure": True}},
    ),
    Escape(
        "cross-namespace-ref",
        {"cm.yaml": cm("borrowed")},
        "repositoryRef",
        ("repositoryRef {b}/private",),
        spec={"source": {"repositoryRef": {"name": "private", "namespace": "{b}"}}},
    ),
    Escape(
        "foreign-project",
        {"crb.yaml": CRB},
        "applicationNamespaces",
        ("Applications in namespace {a} may not use this Project",),
        (("clusterrolebinding", "pwn-{tag}", None),),
        spec={"project": "admin-{tag}"},
    ),
    Escape(
        "missing-project",
        {"cm.yaml": cm("orphan")},
        "project",
        ("Project nope-{tag} does not exist",),
        spec={"project": "nope-{tag}"},
    ),
]


def fill(value: Any, w: World) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{a}", w.team_a)
            .replace("{b}", w.team_b)
            .replace("{tag}", w.tag)
            .replace("{repo}", w.repo_url)
            .replace("{other}", w.other_url)
        )
    if isinstance(value, dict):
        return {fill(k, w): fill(v, w) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(fill(v, w) for v in value)
    return value


def plant_lookalike(kubectl: Any, w: World, app: str) -> str:
    """A team-b ConfigMap carrying the tenant app's tracking marks, copied by hand."""
    key = ResourceKey("", "ConfigMap", w.team_b, "lookalike")
    ref = AppRef(w.team_a, app)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "lookalike",
                "namespace": w.team_b,
                "labels": {APP_LABEL: app_instance(ref)},
                "annotations": {
                    TRACKING_ANNOTATION: f"{ref}:{key.group}/{key.kind}:{key.namespace}/{key.name}"
                },
            },
            "data": {"key": "not the tenant's"},
        }
    )
    found: str = kubectl.json("get", "configmap", "lookalike", "-n", w.team_b)["metadata"][
        "resourceVersion"
    ]
    return found


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.id for e in ESCAPES])
def test_escape_is_refused_and_changes_nothing(
    escape: Escape, world: World, git_server: GitServer, kubectl: Any
) -> None:
    w = world
    name = escape.id
    path = f"tenancy-{w.tag}/{escape.id}"
    files = {f"{path}/{f}": fill(text, w) for f, text in escape.files.items()}
    # One harmless object of the tenant's own, in the same plan: it must not be applied.
    files[f"{path}/innocent.yaml"] = cm(f"innocent-{escape.id}")
    git_server.push(files, message=f"escape {escape.id}")
    lookalike_rv = plant_lookalike(kubectl, w, name) if escape.lookalike else None
    if escape.id == "repository-url":
        tenant_apply(kubectl, w, repository("other", w.team_a, w.other_url))
    before = snapshot(kubectl, w)
    tenant_apply(kubectl, w, application(name, w.team_a, path, **fill(escape.spec, w)))

    status = wait_for(
        f"NotPermitted for {escape.id}",
        ready_is(kubectl, w.team_a, "False", "NotPermitted", name),
        timeout=60,
    )
    message = condition(status, "Ready")["message"]
    assert f"rule {escape.rule}]" in message, message
    for text in escape.names:
        assert fill(text, w) in message, message

    assert not exists(kubectl, "configmap", f"innocent-{escape.id}", w.team_a)
    for kind, obj, ns in escape.absent:
        assert not exists(kubectl, kind, fill(obj, w), fill(ns, w) if ns else None), (kind, obj)
    assert snapshot(kubectl, w) == before
    if lookalike_rv is not None:
        live = kubectl.json("get", "configmap", "lookalike", "-n", w.team_b)
        assert live["metadata"]["resourceVersion"] == lookalike_rv


def test_tenant_rbac_alone_cannot_do_what_the_escapes_tried(world: World, kubectl: Any) -> None:
    """The baseline: without the operator, the tenant is confined by RBAC."""
    w = world
    for args in (
        ["create", "configmap", "x", "-n", w.team_b],
        ["create", "clusterrolebinding", "x", "--clusterrole=view", "--user=x"],
        ["create", "namespace", f"{w.team_a}-x"],
        ["create", "configmap", "x", "-n", w.team_a],
    ):
        done = kubectl.run(*args, kubeconfig=w.tenant, check=False)
        assert done.returncode != 0 and "forbidden" in done.stderr.lower(), args


# -- what must work ------------------------------------------------------------------------


def synced(kubectl: Any, ns: str, name: str) -> Any:
    def check() -> Any:
        seen = app_status(kubectl, ns, name)
        ok = (seen.get("sync") or {}).get("status") == "Synced" and condition(seen, "Ready").get(
            "status"
        ) == "True"
        return seen if ok else NotYet(seen)

    return check


def test_default_project_allows_the_apps_own_namespace(
    world: World, git_server: GitServer, kubectl: Any
) -> None:
    w = world
    path = f"tenancy-{w.tag}/own"
    git_server.push({f"{path}/cm.yaml": cm("own")}, message="own namespace")
    tenant_apply(kubectl, w, application("own", w.team_a, path))
    wait_for("the default Project to allow it", synced(kubectl, w.team_a, "own"), timeout=60)
    assert kubectl.json("get", "configmap", "own", "-n", w.team_a)["data"] == {"key": "x"}


def test_admin_project_allows_cluster_kinds_other_namespaces_and_tether_kinds(
    world: World, git_server: GitServer, kubectl: Any
) -> None:
    w = world
    path = f"tenancy-{w.tag}/admin"
    role = f"{RBAC}/v1"
    git_server.push(
        {
            f"{path}/role.yaml": f"apiVersion: {role}\nkind: ClusterRole\n"
            f"metadata: {{name: reader-{w.tag}}}\nrules: []\n",
            f"{path}/cm.yaml": cm("shared", w.team_b),
            f"{path}/repo.yaml": "apiVersion: tether.dev/v1alpha1\nkind: Repository\n"
            f"metadata: {{name: managed}}\nspec: {{url: '{w.repo_url}', insecure: true}}\n",
        },
        message="admin app",
    )
    w.created.append(("clusterrole", f"reader-{w.tag}"))
    kubectl.apply(
        application(
            "platform",
            w.admin_ns,
            path,
            project=w.admin_project,
            source={"repoURL": w.repo_url, "insecure": True},
            destination={"namespace": f"{w.admin_ns}-new"},
            syncPolicy={"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        )
    )
    wait_for("the admin Project to allow it", synced(kubectl, w.admin_ns, "platform"), timeout=90)
    assert exists(kubectl, "clusterrole", f"reader-{w.tag}")
    assert exists(kubectl, "namespace", f"{w.admin_ns}-new")
    assert exists(kubectl, "configmap", "shared", w.team_b)
    assert exists(kubectl, "repositories.tether.dev", "managed", f"{w.admin_ns}-new")


def permissive_project(name: str) -> dict[str, Any]:
    """The chart's own permissive default Project, renamed."""
    done = subprocess.run(
        [
            find_tool("helm"),
            "template",
            "t",
            str(CHART),
            "--set",
            "projects.default.permissive=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    docs = [d for d in YAML(typ="safe").load_all(io.StringIO(done.stdout)) if d]
    (found,) = [d for d in docs if d["kind"] == "Project"]
    found["metadata"] = {"name": name}
    return dict(found)


def test_permissive_switch_allows_what_it_says(
    world: World, git_server: GitServer, kubectl: Any
) -> None:
    w = world
    name = f"permissive-{w.tag}"
    kubectl.apply(permissive_project(name))
    w.created.append(("projects.tether.dev", name))
    w.created.append(("clusterrole", f"loose-{w.tag}"))
    path = f"tenancy-{w.tag}/permissive"
    git_server.push(
        {
            f"{path}/role.yaml": f"apiVersion: {RBAC}/v1\nkind: ClusterRole\n"
            f"metadata: {{name: loose-{w.tag}}}\nrules: []\n",
            f"{path}/cm.yaml": cm("loose", w.team_b),
        },
        message="permissive app",
    )
    tenant_apply(kubectl, w, application("loose", w.team_a, path, project=name))
    wait_for("the permissive Project to allow it", synced(kubectl, w.team_a, "loose"), timeout=60)
    assert exists(kubectl, "clusterrole", f"loose-{w.tag}")
    assert exists(kubectl, "configmap", "loose", w.team_b)


def test_project_change_re_evaluates_its_apps(
    world: World, git_server: GitServer, kubectl: Any
) -> None:
    w = world
    name = f"widen-{w.tag}"
    extra = f"{w.team_a}-extra"
    kubectl.run("create", "namespace", extra)
    w.created.append(("namespace", extra))
    kubectl.apply(
        project(name, sourceRepositories=["*"], destinations=["$self"], applicationNamespaces=["*"])
    )
    w.created.append(("projects.tether.dev", name))
    path = f"tenancy-{w.tag}/widen"
    git_server.push({f"{path}/cm.yaml": cm("wide", extra)}, message="widen")
    tenant_apply(kubectl, w, application("widen", w.team_a, path, project=name, interval="1h"))
    wait_for("NotPermitted", ready_is(kubectl, w.team_a, "False", "NotPermitted", "widen"))
    assert not exists(kubectl, "configmap", "wide", extra)
    # Only the Project changes; the app (interval 1h) must be re-evaluated because of it.
    kubectl.apply(
        project(
            name,
            sourceRepositories=["*"],
            destinations=["$self", extra],
            applicationNamespaces=["*"],
        )
    )
    wait_for("the widened Project to allow it", synced(kubectl, w.team_a, "widen"), timeout=60)
    assert exists(kubectl, "configmap", "wide", extra)


# -- the CLI, offline against a Project file ------------------------------------------------


def test_cli_diff_and_sync_check_a_project_file(
    cluster: Any, kubectl: Any, world: World, tmp_path: Path
) -> None:
    from engine_helpers import tether, write

    w = world
    project_file = tmp_path / "project.yaml"
    spec = {"destinations": ["$self"], "applicationNamespaces": ["*"]}
    project_file.write_text(json.dumps(project("cli", **spec)))
    source = write(tmp_path / "src", own=cm("cli-own"), other=cm("cli-other", w.team_b))
    args = ("--app", "cli", "--namespace", w.team_a, "--project", str(project_file))
    diff = tether(cluster, "diff", str(source), *args)
    assert diff.returncode == 3, diff.stderr
    assert f"ConfigMap {w.team_b}/cli-other (from other.yaml[doc 0])" in diff.stderr
    assert "rule destinations]" in diff.stderr
    sync = tether(cluster, "sync", str(source), *args)
    assert sync.returncode == 3, sync.stderr
    assert not exists(kubectl, "configmap", "cli-own", w.team_a)
    assert not exists(kubectl, "configmap", "cli-other", w.team_b)
    allowed = write(tmp_path / "ok", own=cm("cli-own"))
    done = tether(cluster, "sync", str(allowed), *args)
    assert done.returncode == 0, done.stderr
    assert exists(kubectl, "configmap", "cli-own", w.team_a)


def test_project_check_explains_what_would_be_refused(
    cluster: Any, world: World, git_server: GitServer, kubectl: Any, tmp_path: Path
) -> None:
    from engine_helpers import tether

    w = world
    path = f"tenancy-{w.tag}/check"
    git_server.push({f"{path}/cm.yaml": cm("checked", w.team_b)}, message="check")
    app_file = tmp_path / "app.yaml"
    app_file.write_text(json.dumps(application("check", w.team_a, path)))
    refused = tether(cluster, "project", "check", "default", str(app_file))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"ConfigMap {w.team_b}/checked (from {path}/cm.yaml[doc 0])" in refused.stdout
    assert "rule destinations]" in refused.stdout
    assert not exists(kubectl, "configmap", "checked", w.team_b)
    git_server.push({f"{path}/cm.yaml": cm("checked")}, message="check, own namespace")
    allowed = tether(cluster, "project", "check", "default", str(app_file))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "allowed: Project default permits" in allowed.stdout
    missing = tether(cluster, "project", "check", "nope", str(app_file))
    assert missing.returncode == 2 and "Project nope does not exist" in missing.stderr


def test_project_service_account_is_impersonated_in_the_apps_namespace(
    world: World, git_server: GitServer, kubectl: Any
) -> None:
    """A Project that fixes a ServiceAccount: every write goes through it, so RBAC is the
    limit. The account has no rights here, so the apiserver refuses it by that name."""
    w = world
    name = f"as-sa-{w.tag}"
    kubectl.run("create", "serviceaccount", "deployer", "-n", w.team_a)
    kubectl.apply(
        project(
            name,
            sourceRepositories=["*"],
            destinations=["$self"],
            applicationNamespaces=[w.team_a],
            serviceAccount={"name": "deployer"},
        )
    )
    w.created.append(("projects.tether.dev", name))
    path = f"tenancy-{w.tag}/as-sa"
    git_server.push({f"{path}/cm.yaml": cm("as-deployer")}, message="as deployer")
    tenant_apply(kubectl, w, application("as-sa", w.team_a, path, project=name))

    def refused_as_deployer() -> Any:
        seen = app_status(kubectl, w.team_a, "as-sa")
        text = json.dumps(seen)
        return seen if f"system:serviceaccount:{w.team_a}:deployer" in text else NotYet(seen)

    wait_for("the apiserver to refuse the deployer account", refused_as_deployer, timeout=60)
    assert not exists(kubectl, "configmap", "as-deployer", w.team_a)
