"""The Helm chart: `helm lint` is clean and `helm template` renders what the operator needs.

Runs the pinned helm (tether.tools.find_tool); fails, never skips, when it is missing.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tether.api import crd_manifests, parse_project
from tether.tenancy import DEFAULT_POLICY, PERMISSIVE_POLICY, ServiceAccountRef, policy_of
from tether.tools import find_tool

CHART = Path(__file__).resolve().parents[2] / "charts" / "tether"
NS = "tether-system"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_tool("helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(*sets: str, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = ["template", "t", str(CHART), "--namespace", NS, *extra]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in YAML(typ="safe").load_all(io.StringIO(done.stdout)) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize(
    "sets",
    [
        (),
        ("scope.namespaces={team-a,team-b}",),
        ("leaderElection.enabled=true", "replicaCount=3"),
        ("sharding.enabled=true", "sharding.replicas=3"),
        ("rbac.deploy.create=false", "rbac.impersonate=false", "metrics.service.enabled=false"),
    ],
)
def test_helm_lint_is_clean(sets: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


def test_default_install_is_cluster_wide_with_separate_deploy_set() -> None:
    docs = render()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == [
        "ClusterRole", "ClusterRole", "ClusterRole",
        "ClusterRoleBinding", "ClusterRoleBinding", "ClusterRoleBinding",
        "Deployment", "Project", "Service", "ServiceAccount",
    ]  # fmt: skip
    own = named(docs, "ClusterRole", "t-tether")
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in own["rules"]}
    assert rules[(("tether.dev",), ("applications", "repositories"))] >= {
        "get", "list", "watch", "patch", "update",
    }  # fmt: skip
    assert rules[(("tether.dev",), ("applications/status", "repositories/status"))] >= {"patch"}
    assert rules[(("",), ("secrets",))] == {"get", "list", "watch"}
    assert rules[(("",), ("events",))] >= {"create", "patch"}
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in own["rules"])
    deploy = named(docs, "ClusterRole", "t-tether-deploy")
    assert deploy["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    for binding in of_kind(docs, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "t-tether", "namespace": NS}
        ]
    assert not of_kind(docs, "Role")


def test_deployment_is_locked_down_with_probes_and_writable_folders() -> None:
    (deploy,) = of_kind(render(), "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/var/cache/tether": "cache"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"] and "emptyDir" in volumes["cache"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["args"] == [
        "run",
        "--all-namespaces",
        "--metrics-port=8080",
        "--concurrency=32",
        "--log-format=json",
        "--log-level=info",
        "--cache-dir=/var/cache/tether",
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TETHER_CACHE"] == "/var/cache/tether"
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "t-tether"


def test_operator_settings_flow_into_args() -> None:
    docs = render(
        "operator.metricsPort=9100",
        "operator.concurrency=16",
        "operator.logFormat=text",
        "operator.cacheDir=/cache",
    )
    (deploy,) = of_kind(docs, "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert {
        "--metrics-port=9100",
        "--concurrency=16",
        "--log-format=text",
        "--cache-dir=/cache",
    } <= set(container["args"])
    assert container["ports"][0]["containerPort"] == 9100
    (service,) = of_kind(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_namespace_scoped_install_uses_roles_per_namespace() -> None:
    docs = render("scope.namespaces={team-a,team-b}")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in of_kind(docs, "Role")}
    assert roles == {
        ("team-a", "t-tether"), ("team-b", "t-tether"),
        ("team-a", "t-tether-deploy"), ("team-b", "t-tether-deploy"),
    }  # fmt: skip
    bindings = of_kind(docs, "RoleBinding")
    assert len(bindings) == 4
    for b in bindings:
        assert b["subjects"][0]["namespace"] == NS
        assert b["roleRef"]["kind"] == "Role"
    cluster_roles = of_kind(docs, "ClusterRole")
    assert sorted(c["metadata"]["name"] for c in cluster_roles) == [
        "t-tether-read-crds",
        "t-tether-read-projects",
    ]
    for role in cluster_roles:
        assert [r["verbs"] for r in role["rules"]] == [["get", "list", "watch"]]
    (deploy,) = of_kind(docs, "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--all-namespaces" not in args
    no_crd_read = render("scope.namespaces={team-a}", "rbac.readCRDs=false")
    assert [c["metadata"]["name"] for c in of_kind(no_crd_read, "ClusterRole")] == [
        "t-tether-read-projects"
    ]


def test_leader_election_adds_lease_rbac_and_rolling_updates() -> None:
    docs = render("leaderElection.enabled=true", "replicaCount=2")
    role = named(docs, "Role", "t-tether-leader")
    assert role["metadata"]["namespace"] == NS
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"coordination.k8s.io"}
    (deploy,) = of_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert "strategy" not in deploy["spec"]
    assert "--leader-election" in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [r for r in of_kind(render(), "Role") if "leader" in r["metadata"]["name"]]


def test_sharding_runs_n_pods_with_shard_leases_and_their_rbac() -> None:
    docs = render(
        "sharding.enabled=true",
        "sharding.replicas=4",
        "sharding.leaseDurationSeconds=12",
        "sharding.renewPeriodSeconds=3",
    )
    role = named(docs, "Role", "t-tether-shards")
    assert role["metadata"]["namespace"] == NS
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
    assert {"create", "list", "patch", "delete"} <= set(rule["verbs"])
    (deploy,) = of_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 4
    assert "strategy" not in deploy["spec"]  # the fence makes rolling updates safe
    from tether.cli.run import run

    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    params = run.make_context("run", list(args[1:])).params
    assert params["shards"] == 4 and params["leader_elect"] is False
    assert params["shard_lease_duration"] == 12 and params["shard_renew_period"] == 3
    assert params["leader_election_namespace"] == NS
    assert not [r for r in of_kind(render(), "Role") if "shards" in r["metadata"]["name"]]


def test_sharding_with_leader_election_or_bad_timing_is_refused() -> None:
    done = helm(
        "template", "t", str(CHART), "--set", "sharding.enabled=true",
        "--set", "leaderElection.enabled=true",
    )  # fmt: skip
    assert done.returncode != 0 and "exclude each other" in done.stderr
    done = helm(
        "template", "t", str(CHART), "--set", "sharding.enabled=true",
        "--set", "sharding.renewPeriodSeconds=20",
    )  # fmt: skip
    assert done.returncode != 0 and "must be shorter" in done.stderr


def test_several_replicas_without_leader_election_is_refused() -> None:
    done = helm("template", "t", str(CHART), "--set", "replicaCount=2")
    assert done.returncode != 0
    assert "needs leaderElection.enabled=true" in done.stderr


def test_bad_log_format_is_refused() -> None:
    done = helm("template", "t", str(CHART), "--set", "operator.logFormat=xml")
    assert done.returncode != 0 and "logFormat must be text or json" in done.stderr
    done = helm("template", "t", str(CHART), "--set", "operator.logLevel=loud")
    assert done.returncode != 0 and "logLevel must be debug, info, warning or error" in done.stderr


def test_deploy_rules_are_configurable_and_optional() -> None:
    docs = render(
        "rbac.deploy.rules[0].apiGroups={apps}",
        "rbac.deploy.rules[0].resources={deployments}",
        "rbac.deploy.rules[0].verbs={get,list,watch,patch}",
    )
    deploy = named(docs, "ClusterRole", "t-tether-deploy")
    assert deploy["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "list", "watch", "patch"],
        }
    ]
    assert not [
        c
        for c in of_kind(render("rbac.deploy.create=false"), "ClusterRole")
        if "deploy" in c["metadata"]["name"]
    ]


def test_impersonation_rule_is_optional() -> None:
    def impersonates(docs: list[dict[str, Any]]) -> bool:
        own = named(docs, "ClusterRole", "t-tether")
        return any("impersonate" in r["verbs"] for r in own["rules"])

    assert impersonates(render())
    assert not impersonates(render("rbac.impersonate=false"))


def test_chart_ships_the_generated_crds() -> None:
    docs = render(extra=("--include-crds",))
    crds = of_kind(docs, "CustomResourceDefinition")

    def by_name(crd: dict[str, Any]) -> str:
        return str(crd["metadata"]["name"])

    assert sorted(crds, key=by_name) == sorted(crd_manifests(), key=by_name)


@pytest.mark.parametrize(
    "sets",
    [
        (),
        (
            "scope.namespaces={a,b}",
            "leaderElection.enabled=true",
            "replicaCount=2",
            "operator.allowFileURLs={/srv/git,/mnt/repos}",
        ),
    ],
)
def test_rendered_args_are_accepted_by_tether_run(sets: tuple[str, ...]) -> None:
    from tether.cli.run import run

    (deploy,) = of_kind(render(*sets), "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "run"
    params = run.make_context("run", list(args[1:])).params
    assert params["metrics_port"] == 8080
    assert str(params["cache_dir"]) == "/var/cache/tether"
    if sets:
        assert params["namespaces"] == ("a", "b") and params["leader_elect"] is True
        assert params["leader_election_namespace"] == NS
        assert [str(p) for p in params["allow_file_urls"]] == ["/srv/git", "/mnt/repos"]
    else:
        assert params["all_namespaces"] is True and params["namespaces"] == ()
        assert params["allow_file_urls"] == (), "file:// URLs are refused by default"


def test_operator_reads_projects_and_never_writes_them() -> None:
    role = named(render(), "ClusterRole", "t-tether-read-projects")
    assert role["rules"] == [
        {"apiGroups": ["tether.dev"], "resources": ["projects"], "verbs": ["get", "list", "watch"]}
    ]
    own = named(render(), "ClusterRole", "t-tether")
    assert not [r for r in own["rules"] if any("projects" in x for x in r["resources"])]


def test_default_project_is_tight_unless_permissive() -> None:
    (tight,) = of_kind(render(), "Project")
    assert tight["metadata"]["name"] == "default"
    assert policy_of(parse_project(tight)) == DEFAULT_POLICY
    (permissive,) = of_kind(render("projects.default.permissive=true"), "Project")
    assert policy_of(parse_project(permissive)) == PERMISSIVE_POLICY
    (fixed,) = of_kind(render("projects.default.serviceAccount=deployer"), "Project")
    assert policy_of(parse_project(fixed)).service_account == ServiceAccountRef("deployer")
    assert not of_kind(render("projects.default.create=false"), "Project")


def test_webhooks_are_off_by_default() -> None:
    docs = render()
    assert [d["metadata"]["name"] for d in of_kind(docs, "Service")] == ["t-tether-metrics"]
    assert of_kind(docs, "Ingress") == []
    (deploy,) = of_kind(docs, "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert not [a for a in container["args"] if a.startswith("--webhook")]
    assert "TETHER_WEBHOOK_SECRET" not in {e["name"] for e in container["env"]}


def test_webhook_receiver_gets_its_own_port_service_and_ingress() -> None:
    docs = render(
        "webhook.enabled=true",
        "webhook.secret.existingSecret=hooks",
        "webhook.ingress.enabled=true",
        "webhook.ingress.host=hooks.example.com",
        "webhook.ingress.className=nginx",
        "webhook.rateLimit=2",
    )
    (deploy,) = of_kind(docs, "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "webhook": 9292}
    assert {"--webhook-port=9292", "--webhook-max-body=1048576", "--webhook-rate-limit=2"} <= set(
        container["args"]
    )
    (secret_env,) = [e for e in container["env"] if e["name"] == "TETHER_WEBHOOK_SECRET"]
    assert secret_env["valueFrom"]["secretKeyRef"] == {"name": "hooks", "key": "token"}
    service = named(docs, "Service", "t-tether-webhook")
    assert service["spec"]["ports"] == [
        {"name": "webhook", "port": 9292, "targetPort": "webhook", "protocol": "TCP"}
    ]
    (ingress,) = of_kind(docs, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "hooks.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/hooks"  # only the hooks, never metrics
    assert path["backend"]["service"] == {"name": "t-tether-webhook", "port": {"name": "webhook"}}
    from tether.cli.run import run

    params = run.make_context("run", list(container["args"][1:])).params
    assert params["webhook_port"] == 9292 and params["webhook_rate_limit"] == 2.0
    done = helm("lint", "--strict", str(CHART), "--set", "webhook.enabled=true")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (("webhook.ingress.enabled=true",), "needs webhook.enabled=true"),
        (("webhook.enabled=true", "webhook.ingress.enabled=true"), "ingress.host is required"),
        (("webhook.enabled=true", "webhook.port=8080"), "must differ from operator.metricsPort"),
    ],
)
def test_bad_webhook_settings_are_refused(sets: tuple[str, ...], words: str) -> None:
    args = ["template", "t", str(CHART)]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode != 0 and words in done.stderr, done.stderr
