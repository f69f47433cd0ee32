"""Kustomize rendered by the real kustomize (and kubectl kustomize), options via an overlay."""

from __future__ import annotations

from pathlib import Path

import pytest
from tree_builders import DEPLOYMENT

from tether.manifests import (
    KustomizeImage,
    KustomizeOptions,
    KustomizePatch,
    KustomizeTarget,
    LocalTree,
    ManifestPathEscapeError,
    RenderOptions,
    RenderTimeoutError,
    RenderToolError,
    render,
)
from tether.manifests.toolrun import run_tool, tool_env


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "base/kustomization.yaml": "resources:\n  - deploy.yaml\n  - cm.yaml\n",
        "base/deploy.yaml": DEPLOYMENT,
        "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  mode: '0644'\n",
        "overlays/prod/kustomization.yaml": (
            "resources:\n  - ../../base\nnamespace: prod\n"
            "patches:\n  - patch: |\n      - op: replace\n        path: /spec/replicas\n        value: 3\n"
            "    target: {kind: Deployment}\n"
        ),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def kustomize_render(root: Path, path: str, **options: object) -> dict[str, dict[str, object]]:
    opts = RenderOptions(kustomize=KustomizeOptions(**options))  # type: ignore[arg-type]
    result = render(LocalTree(root), path, opts, app_name="app", cache_key=None)
    assert result.renderer == "kustomize"
    return {str(o["kind"]): o for o in result.objects}


def test_an_overlay_with_bases_elsewhere_in_the_repository(kustomize: str, repo: Path) -> None:
    objects = kustomize_render(repo, "overlays/prod")
    assert objects["Deployment"]["metadata"] == {"name": "web", "namespace": "prod"}
    assert objects["Deployment"]["spec"]["replicas"] == 3  # type: ignore[index]
    assert objects["ConfigMap"]["data"] == {"mode": "0644"}


def test_options_go_in_through_a_generated_overlay(kustomize: str, repo: Path) -> None:
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    objects = kustomize_render(
        repo,
        "overlays/prod",
        name_prefix="p-",
        name_suffix="-s",
        namespace="team",
        images=(KustomizeImage("nginx", new_name="registry.local/nginx", new_tag="1.25"),),
        common_labels=(("owner", "shop"),),
        common_annotations=(("note", "yes"),),
        patches=(
            KustomizePatch(
                patch="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  extra: 'on'\n"
            ),
            KustomizePatch(
                patch="- op: add\n  path: /spec/minReadySeconds\n  value: 5\n",
                target=KustomizeTarget(kind="Deployment", name="web"),
            ),
        ),
    )
    deploy, cm = objects["Deployment"], objects["ConfigMap"]
    assert deploy["metadata"]["name"] == "p-web-s"  # type: ignore[index]
    assert deploy["metadata"]["namespace"] == "team"  # type: ignore[index]
    assert deploy["metadata"]["labels"] == {"owner": "shop"}  # type: ignore[index]
    assert deploy["metadata"]["annotations"] == {"note": "yes"}  # type: ignore[index]
    spec = deploy["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == "registry.local/nginx:1.25"  # type: ignore[index]
    assert spec["minReadySeconds"] == 5 and spec["replicas"] == 3  # type: ignore[index]
    assert cm["data"] == {"mode": "0644", "extra": "on"}
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    assert before == after


def test_kubectl_kustomize_is_the_fallback(
    kubectl: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TETHER_KUBECTL", kubectl)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("TETHER_KUSTOMIZE", raising=False)
    objects = kustomize_render(repo, "overlays/prod", name_prefix="k-")
    assert objects["Deployment"]["metadata"]["name"] == "k-web"  # type: ignore[index]


def test_kustomize_errors_carry_stderr_and_path(kustomize: str, repo: Path) -> None:
    (repo / "base" / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(RenderToolError) as info:
        kustomize_render(repo, "overlays/prod")
    message = str(info.value)
    assert message.startswith("overlays/prod: kustomize failed (exit 1): ")
    assert "missing.yaml" in message
    assert "tether-kustomize-" not in message


def test_a_resource_outside_the_kustomization_root_is_refused(kustomize: str, repo: Path) -> None:
    (repo / "base" / "kustomization.yaml").write_text("resources:\n  - ../secret.yaml\n")
    (repo / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    with pytest.raises(RenderToolError, match=r"security|restrict|outside"):
        kustomize_render(repo, "base")


def test_an_escaping_symlink_fails_only_the_render_that_reads_it(
    kustomize: str, repo: Path
) -> None:
    (repo.parent / "host.yaml").write_text("x: 1\n")
    (repo / "base" / "host.yaml").symlink_to(repo.parent / "host.yaml")
    assert set(kustomize_render(repo, "base")) == {"Deployment", "ConfigMap"}
    (repo / "base" / "kustomization.yaml").write_text(
        "resources:\n  - deploy.yaml\n  - host.yaml\n"
    )
    with pytest.raises(ManifestPathEscapeError, match=r"^base/kustomization.yaml: resources\[1\]"):
        kustomize_render(repo, "base")


def test_tool_timeout_kills_the_process(tmp_path: Path) -> None:
    with pytest.raises(RenderTimeoutError, match=r"^app: sleep did not finish within 0.5 s"):
        run_tool(
            ["/bin/sleep", "30"],
            file="app",
            env=tool_env(tmp_path),
            cwd=tmp_path,
            timeout=0.5,
            max_output_bytes=1000,
        )


def test_tool_env_carries_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/config")
    out = run_tool(
        ["/usr/bin/env"],
        file="x",
        env=tool_env(tmp_path),
        cwd=tmp_path,
        timeout=10,
        max_output_bytes=10_000,
    )
    assert b"hunter2" not in out and b"KUBECONFIG" not in out
    assert f"HOME={tmp_path}".encode() in out


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/org/repo//deploy?ref=v1",
        "github.com/org/repo/deploy?ref=main",
        "git@github.com:org/repo.git//base",
        "ssh://git@example.com/org/repo.git",
    ],
)
def test_remote_bases_are_refused_before_kustomize_runs(tmp_path: Path, entry: str) -> None:
    root = tmp_path / "repo"
    files = {
        "base/kustomization.yaml": f"resources:\n  - cm.yaml\n  - {entry}\n",
        "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n",
        "app/kustomization.yaml": "resources:\n  - ../base\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    with pytest.raises(RenderToolError) as info:
        render(LocalTree(root), "app", app_name="t", cache_key=None)
    message = str(info.value)
    assert message.startswith("base/kustomization.yaml: ")
    assert entry in message and "remote base" in message
