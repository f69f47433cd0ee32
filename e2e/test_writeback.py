"""Write-back end to end: the operator captures live changes and pushes them to real Git.

The chart is installed, the operator runs as a local process with the chart's
ServiceAccount, and Git is a real ``git daemon`` with receive-pack enabled (and
``git http-backend`` behind basic auth for the read-only credential). Scenarios,
in the order of the issue: ``kubectl scale`` becomes exactly one commit changing
exactly one line, the app is Synced at that commit and the Deployment never goes
back to the old count (a raw watch sees every version of it); a labelled
ConfigMap made by hand becomes a new file and a tracked object; two apps
writing to one repository at once both land; a ``pushBranch`` gets the commit
while the followed branch stays and the live value is kept; ``kubectl set
image`` on a Kustomize app edits only its ``images:`` entry; a Secret is refused
unless allowed, and no Secret value reaches logs, events, status or commit
messages; a read-only credential gives PushDenied and leaves the cluster as it
was. ``tether capture`` prints the diff, edits a local folder in place, and
pushes a namespace's labelled objects to adopt it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import tether
from operator_helpers import (
    NotYet,
    Operator,
    app_status,
    condition,
    deployment,
    git,
    installed,
    operator,
    push_commit,
    refresh_round_trip,
    seeded_repository,
    stop,
    synced_healthy,
    wait_for,
)

# isort: split
from git_servers import HttpGitServer, start_git_daemon  # on the path operator_helpers set

pytestmark = pytest.mark.cluster

__all__ = ["installed", "operator"]  # fixtures used here

CAPTURE_LABEL = "tether.dev/capture"
REPLICAS = {"group": "apps", "kind": "Deployment", "pointer": "/spec/replicas"}


@dataclass
class PushServer:
    """A bare repository served by git daemon with receive-pack, and a clone to seed it."""

    base: Path
    port: int
    work: Path

    @property
    def bare(self) -> Path:
        return self.base / "apps.git"

    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}/apps.git"

    def push(self, files: dict[str, str], message: str = "seed") -> str:
        git("pull", "-q", "--rebase", "origin", "main", cwd=self.work)
        return push_commit(self.work, files, message)

    def head(self) -> str:
        return git("--git-dir", str(self.bare), "rev-parse", "main").strip()

    def show(self, rev: str, path: str) -> str:
        """The file's bytes at ``rev``, as text (not stripped, unlike ``git``)."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.bare), "show", f"{rev}:{path}"],
            capture_output=True,
            check=True,
        )
        return done.stdout.decode()

    def commits_since(self, rev: str) -> list[str]:
        out = git("--git-dir", str(self.bare), "rev-list", f"{rev}..main")
        return out.split()


@pytest.fixture(scope="module")
def push_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushServer]:
    base, work = seeded_repository(tmp_path_factory)
    process, port = start_git_daemon(base, receive_pack=True)
    try:
        yield PushServer(base, port, work)
    finally:
        stop(process)


@dataclass
class Watch:
    """``kubectl get -w`` of one object: every version the apiserver sends, as JSON."""

    process: subprocess.Popen[str]
    seen: list[dict[str, Any]] = field(default_factory=list)

    def replicas(self) -> list[int]:
        return [int(obj["spec"]["replicas"]) for obj in list(self.seen)]


@pytest.fixture
def watcher(kubectl: Any) -> Iterator[Any]:
    watches: list[Watch] = []

    def start(kind: str, name: str, ns: str) -> Watch:
        argv = [kubectl.binary, f"--kubeconfig={kubectl.kubeconfig}", "get", kind, name]
        argv += ["-n", ns, "--watch", "-o", "json"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        watch = Watch(process)
        watches.append(watch)
        threading.Thread(target=_read_objects, args=(watch,), daemon=True).start()
        wait_for(f"the watch on {kind} {name}", lambda: watch.seen, timeout=30)
        return watch

    yield start
    for watch in watches:
        watch.process.terminate()
        watch.process.wait(10)


def _read_objects(watch: Watch) -> None:
    """Split kubectl's stream of pretty-printed JSON objects."""
    assert watch.process.stdout is not None
    decoder = json.JSONDecoder()
    buffer = ""
    for line in watch.process.stdout:
        buffer += line
        try:
            obj, end = decoder.raw_decode(buffer.strip())
        except ValueError:
            continue
        watch.seen.append(obj)
        buffer = buffer.strip()[end:]


def write_back_app(
    kubectl: Any,
    ns: str,
    url: str,
    path: str,
    *,
    name: str = "app",
    write_back: dict[str, Any],
    secret: str | None = None,
    repo: str = "repo",
) -> None:
    repo_spec: dict[str, Any] = {"url": url, "insecure": True, "interval": "10s"}
    if secret:
        repo_spec["secretRef"] = {"name": secret}
    kubectl.apply(
        [
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Repository",
                "metadata": {"name": repo, "namespace": ns},
                "spec": repo_spec,
            },
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "source": {"repositoryRef": {"name": repo}, "revision": "main", "path": path},
                    "destination": {"namespace": ns},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                    "interval": "10s",
                    "writeBack": write_back,
                },
            },
        ]
    )


def synced_at(kubectl: Any, ns: str, commit: str, name: str = "app") -> Any:
    def check() -> Any:
        status = app_status(kubectl, ns, name)
        ok = (status.get("sync") or {}).get("status") == "Synced" and str(
            (status.get("sync") or {}).get("revision")
        ).endswith(commit)
        return status if ok else NotYet(status)

    return check


def write_back_condition(kubectl: Any, ns: str, reason: str, name: str = "app") -> Any:
    def check() -> Any:
        status = app_status(kubectl, ns, name)
        found = condition(status, "WriteBack")
        return status if found.get("reason") == reason else NotYet(status)

    return check


def events_of(kubectl: Any, ns: str, reason: str) -> list[dict[str, Any]]:
    items = kubectl.json("get", "events", "-n", ns)["items"]
    return [e for e in items if e.get("reason") == reason]


def test_scale_becomes_one_commit_and_never_goes_back(
    operator: Operator, push_server: PushServer, kubectl: Any, namespace: str, watcher: Any
) -> None:
    path = f"{namespace}/web"
    file = f"{path}/deploy.yaml"
    text = "# the web tier\n" + deployment("web", 3).replace("spec:\n", "spec:  # keep me\n", 1)
    seed = push_server.push({file: text}, message="web")
    write_back_app(
        kubectl,
        namespace,
        push_server.url(),
        path,
        write_back={
            "capture": {
                "fields": [REPLICAS],
                "newObjects": {"matchLabels": {CAPTURE_LABEL: "yes"}},
            },
            "debounce": "2s",
            "author": {"name": "Tether Bot", "email": "bot@tether.invalid"},
            "message": "capture {namespace}/{app} at {revision}\n\n{changes}",
        },
    )
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    applied_before = kubectl.json("get", "deploy", "web", "-n", namespace)["metadata"][
        "annotations"
    ]["kubectl.kubernetes.io/last-applied-configuration"]
    watch = watcher("deployment", "web", namespace)
    kubectl.run("scale", "deploy", "web", "-n", namespace, "--replicas", "5")

    def pushed() -> Any:
        status = app_status(kubectl, namespace)
        commit = (status.get("writeBack") or {}).get("lastCommit")
        return commit if commit and push_server.commits_since(seed) else NotYet(status)

    commit = wait_for("the write-back commit", pushed, timeout=90)
    assert push_server.commits_since(seed) == [commit]
    assert push_server.head() == commit
    status = wait_for("Synced at the new commit", synced_at(kubectl, namespace, commit), 90)
    assert condition(status, "WriteBack")["reason"] == "Pushed"
    assert status["writeBack"]["branch"] == "main" and status["writeBack"]["pending"] == []

    # Exactly one line changed, every other byte (comments included) kept.
    after = push_server.show(commit, file)
    assert after == text.replace("replicas: 3", "replicas: 5")
    changed = git("--git-dir", str(push_server.bare), "show", "--name-only", "--format=", commit)
    assert changed.split() == [file]
    message = git("--git-dir", str(push_server.bare), "log", "-1", "--format=%an <%ae>%n%B", commit)
    assert message.startswith(f"Tether Bot <bot@tether.invalid>\ncapture {namespace}/app at {seed}")
    assert "Deployment" in message and "/spec/replicas" in message

    # A whole reconcile after the app reached its own commit: nothing more to capture,
    # no second commit, and Tether wrote nothing to the Deployment.
    refresh_round_trip(kubectl, namespace)
    assert push_server.commits_since(seed) == [commit]
    live = kubectl.json("get", "deploy", "web", "-n", namespace)
    assert live["spec"]["replicas"] == 5
    assert (
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        == applied_before
    )
    counts = watch.replicas()
    assert counts[0] == 3 and 5 in counts
    assert 3 not in counts[counts.index(5) :], f"the Deployment went back: {counts}"

    # A ConfigMap made by hand with the capture label becomes a file, then the app's own.
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "extra", "namespace": namespace, "labels": {CAPTURE_LABEL: "yes"}},
            "data": {"greeting": "hello"},
        }
    )

    def new_file() -> Any:
        status = app_status(kubectl, namespace)
        last = (status.get("writeBack") or {}).get("lastCommit")
        return last if last and last != commit else NotYet(status)

    second = wait_for("the new object's commit", new_file, timeout=90)
    added = push_server.show(second, f"{path}/configmap-extra.yaml")
    assert "greeting: hello" in added and "uid" not in added and CAPTURE_LABEL not in added
    assert push_server.show(second, file) == after

    def tracked() -> Any:
        cm = kubectl.json("get", "configmap", "extra", "-n", namespace)
        annotations = cm["metadata"].get("annotations") or {}
        return cm if "tether.dev/tracking-id" in annotations else NotYet(cm)

    wait_for("the ConfigMap to be tracked", tracked, timeout=90)
    status = wait_for("Synced at the second commit", synced_at(kubectl, namespace, second), 90)
    names = {(r["kind"], r["name"]) for r in status["resources"]}
    assert ("ConfigMap", "extra") in names
    assert push_server.commits_since(seed) == [second, commit]


def test_two_apps_writing_to_one_repository_both_land(
    operator: Operator, push_server: PushServer, kubectl: Any, namespace: str
) -> None:
    files = {f"{namespace}/{n}/deploy.yaml": deployment(n, 2) for n in ("one", "two")}
    seed = push_server.push(files, message="two apps")
    for name in ("one", "two"):
        write_back_app(
            kubectl,
            namespace,
            push_server.url(),
            f"{namespace}/{name}",
            name=name,
            write_back={"capture": {"fields": [REPLICAS]}, "debounce": "0s"},
        )
    for name in ("one", "two"):
        wait_for(f"{name} Synced", synced_healthy(kubectl, namespace, name), timeout=90)
    for name, count in (("one", "4"), ("two", "6")):
        kubectl.run("scale", "deploy", name, "-n", namespace, "--replicas", count, check=True)

    def both_pushed() -> Any:
        heads = [
            (app_status(kubectl, namespace, n).get("writeBack") or {}).get("lastCommit")
            for n in ("one", "two")
        ]
        return heads if all(heads) else NotYet(heads)

    wait_for("both write-back commits", both_pushed, timeout=120)
    head = push_server.head()
    assert len(push_server.commits_since(seed)) == 2
    assert "replicas: 4" in push_server.show(head, f"{namespace}/one/deploy.yaml")
    assert "replicas: 6" in push_server.show(head, f"{namespace}/two/deploy.yaml")
    for name in ("one", "two"):
        wait_for(f"{name} at the tip", synced_at(kubectl, namespace, head, name), timeout=90)


def test_push_branch_gets_the_commit_and_the_live_value_is_kept(
    operator: Operator, push_server: PushServer, kubectl: Any, namespace: str
) -> None:
    file = f"{namespace}/review/deploy.yaml"
    seed = push_server.push({file: deployment("rev", 2)}, message="review app")
    review = f"review/{namespace}"
    write_back_app(
        kubectl,
        namespace,
        push_server.url(),
        f"{namespace}/review",
        write_back={"capture": {"fields": [REPLICAS]}, "debounce": "0s", "pushBranch": review},
    )
    wait_for("Synced", synced_healthy(kubectl, namespace), timeout=90)
    kubectl.run("scale", "deploy", "rev", "-n", namespace, "--replicas", "3")
    status = wait_for("pushed", write_back_condition(kubectl, namespace, "Pushed"), timeout=90)
    commit = status["writeBack"]["lastCommit"]
    assert status["writeBack"]["branch"] == review
    bare = str(push_server.bare)
    assert git("--git-dir", bare, "rev-parse", review) == commit
    assert git("--git-dir", bare, "rev-parse", f"{commit}^") == seed
    assert push_server.show(commit, file) == deployment("rev", 3)
    # main does not move; the app follows it and keeps the live value while review waits.
    refresh_round_trip(kubectl, namespace)
    assert push_server.head() == seed
    status = app_status(kubectl, namespace)
    assert status["sync"]["status"] == "Synced" and status["sync"]["revision"].endswith(seed)
    assert status["writeBack"]["pending"] == [f"apps/Deployment {namespace}/rev /spec/replicas"]
    assert kubectl.json("get", "deploy", "rev", "-n", namespace)["spec"]["replicas"] == 3
    assert git("--git-dir", bare, "rev-parse", review) == commit  # pushed once


KUSTOMIZATION = """# overlay for the kustomize web app
resources:
  - deploy.yaml
images:
  - name: registry.invalid/kweb
    newTag: "1"  # pinned by the release
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: add
        path: /metadata/annotations
        value: {team: a}
"""


def test_set_image_on_a_kustomize_app_edits_its_images_entry(
    operator: Operator, push_server: PushServer, kubectl: Any, namespace: str
) -> None:
    path = f"{namespace}/kust"
    base = deployment("kweb", 1).replace("registry.invalid/kweb:1", "registry.invalid/kweb:0")
    seed = push_server.push(
        {f"{path}/kustomization.yaml": KUSTOMIZATION, f"{path}/deploy.yaml": base},
        message="kustomize app",
    )
    image = {
        "group": "apps",
        "kind": "Deployment",
        "pointer": "/spec/template/spec/containers[name=main]/image",
    }
    write_back_app(
        kubectl,
        namespace,
        push_server.url(),
        path,
        write_back={"capture": {"fields": [image]}, "debounce": "0s"},
    )
    wait_for("Synced", synced_healthy(kubectl, namespace), timeout=90)
    live = kubectl.json("get", "deploy", "kweb", "-n", namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/kweb:1"
    kubectl.run("set", "image", "deploy/kweb", "-n", namespace, "main=registry.invalid/kweb:2")
    status = wait_for("pushed", write_back_condition(kubectl, namespace, "Pushed"), timeout=90)
    commit = status["writeBack"]["lastCommit"]
    changed = git("--git-dir", str(push_server.bare), "show", "--name-only", "--format=", commit)
    assert changed.split() == [f"{path}/kustomization.yaml"]
    assert push_server.show(commit, f"{path}/kustomization.yaml") == KUSTOMIZATION.replace(
        'newTag: "1"', 'newTag: "2"'
    )
    wait_for("Synced at its commit", synced_at(kubectl, namespace, commit), timeout=90)
    assert push_server.commits_since(seed) == [commit]


SECRET_VALUE = "hunter2-live-only"


def secret_manifest(name: str, value: str) -> str:
    encoded = base64.b64encode(value.encode()).decode()
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ndata:\n  password: {encoded}\n"
    )


def test_secrets_are_refused_unless_allowed_and_never_leak(
    operator: Operator, push_server: PushServer, kubectl: Any, namespace: str
) -> None:
    seed = push_server.push(
        {
            f"{namespace}/locked/secret.yaml": secret_manifest("locked", "from-git"),
            f"{namespace}/open/secret.yaml": secret_manifest("open", "from-git"),
        },
        message="secrets",
    )
    field = {"kind": "Secret", "pointer": "/data/password"}
    for name, allow in (("locked", False), ("open", True)):
        write_back_app(
            kubectl,
            namespace,
            push_server.url(),
            f"{namespace}/{name}",
            name=name,
            write_back={"capture": {"fields": [field], "allowSecrets": allow}, "debounce": "0s"},
        )
        wait_for(f"{name} Synced", synced_healthy(kubectl, namespace, name), timeout=90)
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for name in ("locked", "open"):
        patch = json.dumps({"data": {"password": encoded}})
        kubectl.run("patch", "secret", name, "-n", namespace, "--type=merge", "-p", patch)

    status = wait_for(
        "SecretRefused", write_back_condition(kubectl, namespace, "SecretRefused", "locked"), 90
    )
    assert "allowSecrets" in condition(status, "WriteBack")["message"]
    wait_for(
        "a WriteBackFailed event",
        lambda: events_of(kubectl, namespace, "WriteBackFailed") or None,
        timeout=60,
    )

    # selfHeal puts Git's value back on the refused one: Git stayed the truth.
    def reverted() -> Any:
        data = kubectl.json("get", "secret", "locked", "-n", namespace)["data"]
        return data if base64.b64decode(data["password"]) == b"from-git" else NotYet(data)

    wait_for("the refused Secret back to Git's value", reverted, timeout=90)

    # The allowed one is committed: the value is in the file, never in the message.
    status = wait_for("open pushed", write_back_condition(kubectl, namespace, "Pushed", "open"), 90)
    commit = status["writeBack"]["lastCommit"]
    assert encoded in push_server.show(commit, f"{namespace}/open/secret.yaml")
    assert push_server.commits_since(seed) == [commit]  # nothing for the refused one
    wait_for("open Synced at its commit", synced_at(kubectl, namespace, commit, "open"), 90)

    log = git("--git-dir", str(push_server.bare), "log", "--format=%B", f"{seed}..main")
    everything = "\n".join(
        [
            operator.logs(),
            log,
            json.dumps(kubectl.json("get", "events", "-n", namespace)),
            json.dumps(app_status(kubectl, namespace, "locked")),
            json.dumps(app_status(kubectl, namespace, "open")),
        ]
    )
    assert SECRET_VALUE not in everything and encoded not in everything


def test_read_only_credentials_give_push_denied_and_leave_the_cluster_alone(
    operator: Operator,
    push_server: PushServer,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    seed = push_server.push({f"{namespace}/ro/deploy.yaml": deployment("ro", 2)}, message="ro")
    server = HttpGitServer(push_server.base)
    server.start()
    try:
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "reader", "namespace": namespace},
                "stringData": {
                    "username": server.readonly_username,
                    "password": server.readonly_password,
                },
            }
        )
        write_back_app(
            kubectl,
            namespace,
            f"{server.url}/apps.git",
            f"{namespace}/ro",
            write_back={"capture": {"fields": [REPLICAS]}, "debounce": "0s"},
            secret="reader",
        )
        wait_for("Synced", synced_healthy(kubectl, namespace), timeout=90)
        kubectl.run("scale", "deploy", "ro", "-n", namespace, "--replicas", "7")
        status = wait_for(
            "PushDenied", write_back_condition(kubectl, namespace, "PushDenied"), timeout=90
        )
        message = condition(status, "WriteBack")["message"]
        assert "main" in message and server.readonly_password not in message
        assert status["writeBack"]["pending"] == [
            "apps/Deployment " + f"{namespace}/ro /spec/replicas"
        ]
        warned = events_of(kubectl, namespace, "WriteBackFailed")
        assert warned and "PushDenied" in warned[0]["message"]
        # A whole reconcile later: still denied, nothing pushed, and the live count kept.
        status = refresh_round_trip(kubectl, namespace)
        assert condition(status, "WriteBack")["reason"] == "PushDenied"
        assert push_server.head() == seed
        assert kubectl.json("get", "deploy", "ro", "-n", namespace)["spec"]["replicas"] == 7
        assert server.readonly_password not in operator.logs()
    finally:
        server.stop()


# -- tether capture: the same path from the CLI ------------------------------------------


def test_cli_capture_prints_the_diff_then_edits_a_local_folder(
    cluster: Any, kubectl: Any, namespace: str, tmp_path: Path
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    text = "# web\n" + deployment("web", 2)
    (folder / "web.yaml").write_text(text)
    synced = tether(cluster, "sync", str(folder), "--app", "web", "--namespace", namespace)
    assert synced.returncode == 0, synced.stderr
    kubectl.run("scale", "deploy", "web", "-n", namespace, "--replicas", "4")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "handmade", "namespace": namespace, "labels": {"team": "a"}},
            "data": {"x": "1"},
        }
    )
    args = [str(folder), "--app", "web", "-n", namespace]
    args += ["--field", "apps/Deployment:/spec/replicas", "--new-objects", "team=a"]
    shown = tether(cluster, "capture", *args)
    assert shown.returncode == 0, shown.stderr
    assert "-  replicas: 2\n+  replicas: 4\n" in shown.stdout
    assert "+++ b/configmap-handmade.yaml" in shown.stdout
    assert (folder / "web.yaml").read_text() == text  # printed only
    written = tether(cluster, "capture", *args, "--push")
    assert written.returncode == 0, written.stderr
    assert (folder / "web.yaml").read_text() == text.replace("replicas: 2", "replicas: 4")
    assert (
        "x: '1'" in (folder / "configmap-handmade.yaml").read_text()
        or 'x: "1"' in (folder / "configmap-handmade.yaml").read_text()
    )
    # The folder now says what the cluster has.
    again = tether(cluster, "capture", *args)
    assert again.returncode == 0 and "nothing to write back" in again.stderr


def test_cli_capture_push_adopts_a_namespace_into_git(
    cluster: Any, kubectl: Any, namespace: str, push_server: PushServer
) -> None:
    seed = push_server.push({f"{namespace}/adopt/README.md": "team a\n"}, message="adopt")
    for name in ("alpha", "beta"):
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "labels": {"adopt": "yes"}},
                "data": {"name": name},
            }
        )
    args = [push_server.url(), "--insecure", "--revision", "main", "--path", f"{namespace}/adopt"]
    args += ["--app", "adopt", "-n", namespace, "--new-objects", "adopt=yes", "--push"]
    done = tether(cluster, "capture", *args)
    assert done.returncode == 0, done.stderr
    head = push_server.head()
    assert push_server.commits_since(seed) == [head]
    for name in ("alpha", "beta"):
        text = push_server.show(head, f"{namespace}/adopt/configmap-{name}.yaml")
        assert f"name: {name}" in text and "adopt: yes" not in text
    bad = tether(cluster, "capture", *args[:-3])
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
