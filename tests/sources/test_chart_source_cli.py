"""The CLI's Helm and OCI forms against the real servers: ``tether render --chart
--repo-type helm|oci`` and ``tether push artifact``, with one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from source_servers import (
    PASSWORD,
    USER,
    HelmRepoServer,
    RegistryServer,
    helm_push,
    helm_registry_login,
    package_chart,
    write_chart,
)

from tether.tools import find_tool


def tether(
    tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "tether"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "TETHER_CACHE": str(tmp_path / "cache"),
            "TETHER_HELM": find_tool("helm"),
            **(env or {}),
        },
    )


def auth_file(tmp_path: Path, password: str = PASSWORD) -> str:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"username": USER, "password": password}))
    return str(path)


def test_render_a_chart_from_the_helm_repository(helm_repo: HelmRepoServer, tmp_path: Path) -> None:
    out = tether(
        tmp_path,
        "render",
        helm_repo.url,
        "--repo-type=helm",
        "--chart=demo",
        "--revision=~1.0.0",
        "--auth-file",
        auth_file(tmp_path),
        "--ca-file",
        str(helm_repo.tls.ca_file),
        "--set",
        "message=cli",
        "-o",
        "json",
    )
    assert out.returncode == 0, out.stderr
    [item] = json.loads(out.stdout)["items"]
    assert item["metadata"]["name"] == "demo-demo"  # release = the chart name by default
    assert item["data"] == {"version": "1.0.0", "message": "cli"}


def test_a_refused_login_is_one_line_without_the_password(
    helm_repo: HelmRepoServer, tmp_path: Path
) -> None:
    out = tether(
        tmp_path,
        "render",
        helm_repo.url,
        "--repo-type=helm",
        "--chart=demo",
        "--auth-file",
        auth_file(tmp_path, "not-it-9911"),
        "--ca-file",
        str(helm_repo.tls.ca_file),
    )
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "refused access to index.yaml (401)" in out.stderr
    assert "not-it-9911" not in out.stderr and "Traceback" not in out.stderr


def test_push_artifact_then_render_it_from_oci(registry: RegistryServer, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\n")
    url = f"{registry.url}/cli/site"
    pushed = tether(
        tmp_path,
        "push",
        "artifact",
        str(folder),
        f"{url}:v1",
        "--username",
        USER,
        "--password-stdin",
        "--ca-file",
        str(registry.tls.ca_file),
        stdin=PASSWORD + "\n",
    )
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith("v1@sha256:")
    out = tether(
        tmp_path,
        "render",
        url,
        "--revision=v1",
        "--ca-file",
        str(registry.tls.ca_file),
        "-o",
        "json",
        env={"TETHER_GIT_USERNAME": USER, "TETHER_GIT_PASSWORD": PASSWORD},
    )
    assert out.returncode == 0, out.stderr
    assert [i["metadata"]["name"] for i in json.loads(out.stdout)["items"]] == ["pushed"]
    denied = tether(
        tmp_path,
        "push",
        "artifact",
        str(folder),
        f"{url}:v2",
        "--ca-file",
        str(registry.tls.ca_file),
    )
    assert denied.returncode == 1 and "401" in denied.stderr, denied.stderr


def test_render_a_helm_pushed_chart_from_oci(registry: RegistryServer, tmp_path: Path) -> None:
    home = tmp_path / "helm"
    helm_registry_login(registry, home)
    helm_push(
        registry, package_chart(write_chart(home, "ocichart", "0.3.0"), home, home), "c", home
    )
    out = tether(
        tmp_path,
        "render",
        f"{registry.url}/c",
        "--repo-type=oci",
        "--chart=ocichart",
        "--revision=0.x",
        "--auth-file",
        auth_file(tmp_path),
        "--ca-file",
        str(registry.tls.ca_file),
        "-o",
        "json",
    )
    assert out.returncode == 0, out.stderr
    [item] = json.loads(out.stdout)["items"]
    assert item["data"]["version"] == "0.3.0"
