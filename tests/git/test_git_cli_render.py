"""`tether render` end to end: a Git URL over each real transport, three source types."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import (
    Remote,
    commit_files,
    git,
    git_remote,
    http_remote_for,
    ssh_remote_for,
    symlink,
)

from tether.tools import find_tool

CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "chart/values.yaml": "replicas: 1\n",
    "chart/prod.yaml": "replicas: 3\n",
    "chart/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n"
        "data:\n  replicas: {{ .Values.replicas | quote }}\n"
    ),
}
KUSTOMIZE = {
    "kust/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    "kust/base/kustomization.yaml": "resources: [cm.yaml]\n",
    "kust/overlay/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\n",
}
PLAIN = {
    "plain/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {flag: yes}\n",
    "plain/b.json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}',
}
JSONNET = {
    "jsonnet/app/main.jsonnet": (
        "local k = import 'k.libsonnet';\n"
        "function(name, replicas=1) [k.cm(name, { replicas: std.toString(replicas) }),"
        " k.cm(name + '-' + std.extVar('env'), {})]\n"
    ),
    "jsonnet/vendor/k.libsonnet": (
        "{ cm(n, d):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: d } }"
    ),
    "jsonnet/escape/main.jsonnet": "importstr '../../../../etc/passwd'\n",
}


# The probe's reproduction: a kustomization that climbs out of the repository to a folder
# on the renderer's own disk. The planted folder holds a ConfigMap named by MARKER.
MARKER = f"planted-{uuid.uuid4().hex[:12]}"
PLANTED = Path("/tmp") / MARKER
ESCAPE = "../" * 10 + f"tmp/{MARKER}"
EVIL = {
    "evil/kustomization.yaml": f"resources:\n  - cm.yaml\n  - {ESCAPE}\n",
    "evil/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: harmless\n",
    "sneaky/kustomization.yaml": "resources:\n  - host\n",
}


@pytest.fixture(scope="module")
def planted() -> Iterator[Path]:
    PLANTED.mkdir()
    (PLANTED / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (PLANTED / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MARKER}\n"
    )
    yield PLANTED
    shutil.rmtree(PLANTED)


@pytest.fixture(scope="module")
def render_repo(git_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("render-work")
    git("init", "-q", "-b", "main", cwd=work)
    symlink(work, "sneaky/host", str(PLANTED))
    symlink(work, "unrelated/bad", "/etc/passwd")  # touches no app below
    commit_files(work, {**CHART, **KUSTOMIZE, **PLAIN, **EVIL, **JSONNET}, "sources")
    bare = git_base / "render.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def run_render(
    remote: Remote, url: str, tmp_path: Path, *args: str, auth: dict[str, str | bytes]
) -> subprocess.CompletedProcess[str]:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps({k: v.decode() if isinstance(v, bytes) else v for k, v in auth.items()})
    )
    argv = [
        str(Path(sys.executable).parent / "tether"),
        "render",
        url,
        "--auth-file",
        str(auth_file),
    ]
    if remote.insecure:
        argv.append("--insecure")
    env = {
        **os.environ,
        "TETHER_CACHE": str(tmp_path / "cache"),
        "TETHER_HELM": find_tool("helm"),
        "TETHER_KUSTOMIZE": find_tool("kustomize"),
    }
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def names(stdout: str) -> list[str]:
    return [item["metadata"]["name"] for item in json.loads(stdout)["items"]]


def test_plain_folder(remote: Remote, render_repo: Path, tmp_path: Path) -> None:
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", "plain", "-o", "json", auth=remote.auth
    )
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert items[0]["data"]["flag"] is True  # YAML 1.1, as kubectl reads it


def test_helm_chart_with_value_file(remote: Remote, render_repo: Path, tmp_path: Path) -> None:
    out = run_render(
        remote,
        remote.url(render_repo),
        tmp_path,
        "--path", "chart", "--values", "prod.yaml", "--release-name", "shop", "-o", "json",
        auth=remote.auth,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["shop-cfg"]
    assert items[0]["data"]["replicas"] == "3"


def test_kustomize_overlay(remote: Remote, render_repo: Path, tmp_path: Path) -> None:
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", "kust/overlay", "-o", "json",
        auth=remote.auth,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert names(out.stdout) == ["prod-settings"]


def test_jsonnet_folder_over_git_daemon(
    git_base: Path, git_daemon: int, render_repo: Path, tmp_path: Path
) -> None:
    remote = git_remote(git_base, git_daemon)
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", "jsonnet/app", "-o", "json",
        "--jsonnet-tla", "name=web", "--jsonnet-tla-code", "replicas=3",
        "--jsonnet-ext-var", "env=prod", "--jsonnet-lib", "jsonnet/vendor",
        auth=remote.auth,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["web", "web-prod"]
    assert items[0]["data"] == {"replicas": "3"}


def test_jsonnet_escape_over_git_daemon_is_one_line(
    git_base: Path, git_daemon: int, render_repo: Path, tmp_path: Path
) -> None:
    remote = git_remote(git_base, git_daemon)
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", "jsonnet/escape", auth=remote.auth
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == (
        "error: jsonnet/escape/main.jsonnet:1:1: import "
        "'../../../../etc/passwd' refused: the '..' chain leaves the repository "
        "(from jsonnet/escape/)"
    )


@pytest.fixture(params=["http", "ssh"])
def authed_remote(request: pytest.FixtureRequest, git_base: Path) -> Remote:
    """The transports that take credentials (git daemon has none)."""
    if request.param == "http":
        return http_remote_for(git_base, request.getfixturevalue("http_server"))
    return ssh_remote_for(request.getfixturevalue("sshd"))


def test_wrong_credentials_fail_with_one_line(
    authed_remote: Remote, render_repo: Path, tmp_path: Path
) -> None:
    remote = authed_remote
    out = run_render(remote, remote.url(render_repo), tmp_path, auth=remote.bad_auth)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "authentication" in lines[0].lower()
    for value in remote.bad_auth.values():
        text = value.decode() if isinstance(value, bytes) else value
        if len(text) > 8:
            assert text not in out.stderr


def test_missing_ref_names_the_ref(remote: Remote, render_repo: Path, tmp_path: Path) -> None:
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--revision", "no-such-branch", auth=remote.auth
    )
    assert out.returncode != 0
    assert "no-such-branch" in out.stderr


@pytest.mark.parametrize(
    ("path", "reference"),
    [
        ("evil", f"resources[1] '{ESCAPE}' leaves the repository"),
        ("sneaky", "resources[0] 'host' leaves the repository (through a symlink)"),
    ],
)
def test_a_kustomization_that_climbs_out_is_refused_over_git_daemon(
    git_base: Path,
    git_daemon: int,
    render_repo: Path,
    planted: Path,
    tmp_path: Path,
    path: str,
    reference: str,
) -> None:
    remote = git_remote(git_base, git_daemon)
    out = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", path, "-o", "json", auth=remote.auth
    )
    assert out.returncode == 1, out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {path}/kustomization.yaml: {reference}"]
    assert MARKER not in out.stdout
    # the same repository's other apps render, the bad symlink elsewhere notwithstanding
    good = run_render(
        remote, remote.url(render_repo), tmp_path, "--path", "kust/overlay", "-o", "json",
        auth=remote.auth,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert names(good.stdout) == ["prod-settings"]


def test_local_file_url_renders_but_the_cache_itself_is_refused(
    render_repo: Path, tmp_path: Path
) -> None:
    from tether.git import GitCache

    local = Remote("file", lambda repo: f"file://{repo}", {}, True, {})
    url = local.url(render_repo)
    out = run_render(local, url, tmp_path, "--path", "plain", "-o", "json", auth={})
    assert out.returncode == 0, out.stderr
    assert names(out.stdout) == ["a", "b"]
    cached = GitCache(tmp_path / "cache" / "git").repo_path(url)  # same root, same salt
    assert (cached / "objects").is_dir(), "the render filled this cache folder"
    refused = run_render(local, f"file://{cached}", tmp_path, "--path", "plain", auth={})
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "may not read Tether's Git cache" in refused.stderr
