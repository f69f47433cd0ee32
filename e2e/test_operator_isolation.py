"""The operator's Git cache is not a back door between namespaces (issue 16, the probe's cases).

Team-b syncs a private repository over smart HTTP with credentials, which puts
its commit in the operator's shared cache. Team-a, with no Secret, then asks for
the same URL at that full SHA, through a Repository and through an inline
``repoURL``: both end in AuthenticationFailed and nothing of team-b's reaches
team-a. ``file://`` into the operator's cache is refused even when the allowed
folder contains the cache; a ``file://`` repository in the allowed folder works.
The Repository refresh annotation fetches at once, and a Secret with ``user`` /
``pass`` keys names them. Every wait is for a positive signal (a condition, a
status field, a server request), never a sleep.

Runs its own operator (``--allow-file-urls``) on the chart install of
``operator_helpers.installed``.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from git_servers import HttpGitServer, git, push_commit

from operator_helpers import (
    NotYet,
    Operator,
    app_status,
    condition,
    configmap,
    installed,
    start_operator,
    stop_operator,
    synced_healthy,
    wait_for,
)
from tether.git import GitCache

pytestmark = pytest.mark.cluster

__all__ = ["installed"]  # fixture used here

TEAM_B_PASSWORD = "team-b-only-Passw0rd"


def repo_status(kubectl: Any, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "repositories.tether.dev", name, "-n", ns).get("status") or {}


def reason_is(read: Any, type_: str, reason: str) -> Any:
    def check() -> Any:
        seen = read()
        return seen if condition(seen, type_).get("reason") == reason else NotYet(seen)

    return check


class Site:
    """The operator under test, its folders, and team-b's private HTTP server."""

    def __init__(self, operator: Operator, folder: Path, server: HttpGitServer, work: Path) -> None:
        self.operator = operator
        self.folder = folder
        self.server = server
        self.work = work

    @property
    def url(self) -> str:
        return f"{self.server.url}/private.git"

    @property
    def cache_root(self) -> Path:
        return self.folder / "cache" / "git"


@pytest.fixture(scope="module")
def site(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("isolation")
    served = folder / "served"
    served.mkdir()
    git("init", "-q", "--bare", str(served / "private.git"))
    work = folder / "work"
    git("clone", "-q", str(served / "private.git"), str(work))
    push_commit(work, {"app/team-b.yaml": configmap("team-b-secret-config", "b")}, "team-b")
    server = HttpGitServer(served, username="team-b", password=TEAM_B_PASSWORD)
    server.start()
    # The whole folder is allowed for file:// URLs, and it contains the cache: the cache
    # must stay refused all the same.
    op = start_operator(installed, folder, f"--allow-file-urls={folder}")
    try:
        yield Site(op, folder, server, work)
    finally:
        stop_operator(op)
        server.stop()


@pytest.fixture
def team_b(kubectl: Any, namespace: str) -> Iterator[str]:
    name = f"{namespace[:50]}-b"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def secret(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def repository(ns: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "insecure": True, "interval": "1h", **spec},
    }


def application(ns: str, name: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "source": {"path": "app", **source},
            "destination": {"namespace": ns},
            "syncPolicy": {"automated": {"prune": True}},
            "interval": "1h",
        },
    }


def test_team_a_cannot_read_team_b_private_commit_from_the_cache(
    site: Site, kubectl: Any, namespace: str, team_b: str
) -> None:
    team_a = namespace
    kubectl.apply(secret(team_b, "creds", {"username": "team-b", "password": TEAM_B_PASSWORD}))
    kubectl.apply(
        [
            repository(team_b, "private", site.url, secretRef={"name": "creds"}),
            application(team_b, "app", {"repositoryRef": {"name": "private"}, "revision": "main"}),
        ]
    )
    status = wait_for("team-b synced", synced_healthy(kubectl, team_b), timeout=90)
    sha = status["sync"]["revision"].rpartition("sha1:")[2]
    assert len(sha) == 40 and kubectl.json("get", "configmap", "team-b-secret-config", "-n", team_b)
    refused_before = len(site.server.refused)

    kubectl.apply(
        [
            repository(team_a, "stolen", site.url),
            application(team_a, "via-repo", {"repositoryRef": {"name": "stolen"}, "revision": sha}),
            application(team_a, "inline", {"repoURL": site.url, "insecure": True, "revision": sha}),
        ]
    )
    stalled = wait_for(
        "team-a's Repository to be refused",
        reason_is(
            lambda: repo_status(kubectl, team_a, "stolen"), "Stalled", "AuthenticationFailed"
        ),
        timeout=60,
    )
    for app in ("via-repo", "inline"):
        wait_for(
            f"team-a's app {app} to report the refusal",
            reason_is(
                lambda a=app: app_status(kubectl, team_a, a), "Ready", "AuthenticationFailed"
            ),
            timeout=60,
        )
    assert len(site.server.refused) > refused_before, "the server was asked, and said no"
    assert stalled.get("revisions") == [], stalled
    for app in ("via-repo", "inline"):
        seen = app_status(kubectl, team_a, app)
        assert sha not in str(seen.get("sync") or {}), seen
        assert not seen.get("resources"), seen
    names = {
        i["metadata"]["name"] for i in kubectl.json("get", "configmaps", "-n", team_a)["items"]
    }
    assert "team-b-secret-config" not in names, "nothing of team-b's is deployed in team-a"


def test_file_url_into_the_operator_cache_is_refused_and_allowed_folders_work(
    site: Site, kubectl: Any, namespace: str
) -> None:
    local = site.folder / "local.git"
    if not local.exists():
        git("clone", "-q", "--bare", str(site.folder / "served" / "private.git"), str(local))
    kubectl.apply(repository(namespace, "local", f"file://{local}"))
    kubectl.apply(application(namespace, "local", {"repositoryRef": {"name": "local"}}))
    wait_for("a file:// app in the allowed folder", synced_healthy(kubectl, namespace, "local"))
    # The operator's cache now holds this repository; its folder is refused, by any path.
    cached = GitCache(site.cache_root).repo_path(f"file://{local}")
    assert (cached / "objects").is_dir(), "the operator filled this cache folder"
    link = site.folder / "looks-innocent"
    if not link.exists():
        link.symlink_to(site.cache_root)
    for name, url in (("direct", f"file://{cached}"), ("symlink", f"file://{link}/{cached.name}")):
        kubectl.apply(repository(namespace, name, url))
        stalled = wait_for(
            f"the {name} cache URL to be refused",
            reason_is(lambda n=name: repo_status(kubectl, namespace, n), "Stalled", "InvalidSpec"),
            timeout=60,
        )
        assert "may not read Tether's Git cache" in condition(stalled, "Stalled")["message"]


def test_refresh_annotation_on_a_repository_fetches_at_once(
    site: Site, kubectl: Any, namespace: str
) -> None:
    kubectl.apply(secret(namespace, "creds", {"username": "team-b", "password": TEAM_B_PASSWORD}))
    kubectl.apply(repository(namespace, "repo", site.url, secretRef={"name": "creds"}))
    wait_for(
        "the Repository to be Ready",
        reason_is(lambda: repo_status(kubectl, namespace, "repo"), "Ready", "Succeeded"),
    )
    asked = len(site.server.requests)
    kubectl.run(
        "annotate", "repositories.tether.dev", "repo", "-n", namespace, "tether.dev/refresh=now-1"
    )
    wait_for(
        "the refresh to be handled",
        lambda: repo_status(kubectl, namespace, "repo").get("lastHandledRefresh") == "now-1",
    )
    # interval is 1h: only the annotation can have made these requests.
    assert len(site.server.requests) > asked


def test_secret_with_user_and_pass_keys_names_them(
    site: Site, kubectl: Any, namespace: str
) -> None:
    kubectl.apply(secret(namespace, "misnamed", {"user": "team-b", "pass": TEAM_B_PASSWORD}))
    kubectl.apply(repository(namespace, "repo", site.url, secretRef={"name": "misnamed"}))
    stalled = wait_for(
        "the Secret's keys to be named",
        reason_is(
            lambda: repo_status(kubectl, namespace, "repo"), "Stalled", "AuthenticationFailed"
        ),
    )
    message = condition(stalled, "Stalled")["message"]
    assert f"Secret {namespace}/misnamed" in message and "found: pass, user" in message
    assert "expected username and password" in message
    assert TEAM_B_PASSWORD not in message and TEAM_B_PASSWORD not in site.operator.logs()
