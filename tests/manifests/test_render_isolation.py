"""Fair sharing and clean-up: closure exports, budgets, deadlines, SIGTERM, temp folders, jail.

A render exports only what it reads, within its budget of files, bytes and
time; a bad file elsewhere in the repository does not touch it. Tools are
killed with their whole process group at their deadline and at shutdown, and
the render's private folder is gone whatever the exit path. Folders a killed
process left behind are removed at the next start. Where the kernel allows,
the tool sees nothing but its own folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tool_processes import hanging_tool, is_running, new_marker, wait_for_processes
from tree_builders import TreeFactory

from tether.manifests import (
    HelmOptions,
    Limits,
    LocalTree,
    RenderTimeoutError,
    SizeLimitError,
    render,
    toolrun,
    workdir,
)
from tether.manifests.errors import ReferenceEscapeError
from tether.manifests.helm import render_helm
from tether.manifests.kustomize import render_kustomize
from tether.manifests.limits import Budget
from tether.manifests.options import KustomizeOptions
from tether.manifests.toolrun import (
    RenderStoppedError,
    allow_tools,
    jail_available,
    run_tool,
    stop_tools,
    tool_env,
)

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
BIG = 30 * 1024 * 1024


@pytest.fixture
def render_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private system temp folder for this test, so its render folders can be counted."""
    temp = tmp_path / "systmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(workdir, "_state", {})
    yield temp / f"tether-render-{os.getuid()}"
    allow_tools()


def render_folders(parent: Path) -> list[Path]:
    """Per-render folders that exist now, in every process folder under ``parent``."""
    return [render for process in parent.iterdir() for render in process.iterdir()]


def big_repository() -> tuple[dict[str, str], dict[str, str]]:
    """An app among 5,000 unrelated small files, a 30 MB file and a bad symlink."""
    files = {f"noise/{i // 500}/f{i}.txt": f"noise {i}\n" for i in range(5000)}
    files |= {
        "apps/web/kustomization.yaml": "resources:\n  - ../../base\nnamePrefix: web-\n",
        "base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "base/cm.yaml": CM.format(name="settings"),
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/templates/cm.yaml": CM.format(name="{{ .Release.Name }}"),
        "envs/prod.yaml": "x: 1\n",
        "data/huge.txt": "x" * BIG,
    }
    links = {"unrelated/bad": "/etc/passwd", "unrelated/dangling": "nowhere"}
    return files, links


def test_a_render_exports_only_its_closure(
    make_tree: TreeFactory, kustomize: str, helm: str
) -> None:
    files, links = big_repository()
    tree = make_tree(files, links)
    budget = Budget(Limits())
    objects = render_kustomize(tree, "apps/web", KustomizeOptions(), budget=budget)
    assert [m.object["metadata"]["name"] for m in objects] == ["web-settings"]
    # three files: two kustomizations and cm.yaml; bytes: those plus kustomize's output
    assert budget.files == 3
    assert budget.bytes < 2_000
    budget = Budget(Limits())
    options = HelmOptions(value_files=("../envs/prod.yaml",))
    render_helm(tree, "chart", options, app_name="shop", budget=budget)
    assert (
        budget.files == 4
    )  # Chart.yaml (read for its dependencies, then exported), template, values
    assert budget.bytes < 2_000


def test_a_30mb_file_and_a_bad_symlink_elsewhere_do_not_touch_the_render(
    tmp_path: Path, kustomize: str
) -> None:
    root = tmp_path / "repo"
    (root / "apps" / "web").mkdir(parents=True)
    (root / "base").mkdir()
    (root / "apps/web/kustomization.yaml").write_text("resources:\n  - ../../base\n")
    (root / "base/kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (root / "base/cm.yaml").write_text(CM.format(name="settings"))
    (root / "data").mkdir()
    (root / "data/huge.bin").write_bytes(b"\0" * BIG)
    (root / "data/bad").symlink_to("/etc/passwd")
    limits = Limits(max_file_bytes=1024 * 1024, max_total_bytes=4 * 1024 * 1024)
    result = render(LocalTree(root), "apps/web", app_name="w", cache_key=None, limits=limits)
    assert [o["metadata"]["name"] for o in result.objects] == ["settings"]


def test_the_file_budget_is_checked_before_the_export(make_tree: TreeFactory) -> None:
    files = {
        "app/kustomization.yaml": "resources:\n" + "".join(f"  - c{i}.yaml\n" for i in range(9))
    }
    files |= {f"app/c{i}.yaml": CM.format(name=f"c{i}") for i in range(9)}
    with pytest.raises(SizeLimitError, match=r"^app/c0.yaml: needs 10 files, over the limit of 5"):
        render(make_tree(files), "app", app_name="a", cache_key=None, limits=Limits(max_files=5))


def test_the_time_budget_covers_the_whole_render(make_tree: TreeFactory) -> None:
    files = {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": CM.format(name="c")}
    with pytest.raises(RenderTimeoutError, match=r"render did not finish within 0 s"):
        render(
            make_tree(files), "app", app_name="a", cache_key=None, limits=Limits(render_timeout=0)
        )


def start_render(tree: LocalTree, limits: Limits) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            render(tree, "app", app_name="a", cache_key=None, limits=limits)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


@pytest.fixture
def hanging_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalTree, str]:
    marker = new_marker()
    tools = tmp_path / "tools"
    tools.mkdir()
    monkeypatch.setenv("TETHER_KUSTOMIZE", str(hanging_tool(tools, marker)))
    root = tmp_path / "repo" / "app"
    root.mkdir(parents=True)
    (root / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (root / "cm.yaml").write_text(CM.format(name="c"))
    return LocalTree(root.parent), marker


def test_a_hanging_tool_is_killed_with_its_children_at_the_deadline(
    hanging_app: tuple[LocalTree, str], render_tmp: Path
) -> None:
    tree, marker = hanging_app
    thread, errors = start_render(tree, Limits(tool_timeout=5))
    pids = wait_for_processes(marker, 2)
    assert render_folders(render_tmp)  # the render's folder exists while it runs
    thread.join(60)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], RenderTimeoutError), errors
    assert str(errors[0]) == "app: kustomize did not finish within 5 s and was stopped"
    assert [pid for pid in pids if is_running(pid)] == []
    assert render_folders(render_tmp) == []


def test_stop_tools_kills_running_renders_and_refuses_new_ones(
    hanging_app: tuple[LocalTree, str], render_tmp: Path
) -> None:
    tree, marker = hanging_app
    thread, errors = start_render(tree, Limits(tool_timeout=600))
    pids = wait_for_processes(marker, 2)
    assert stop_tools() == 1
    thread.join(60)
    assert len(errors) == 1 and isinstance(errors[0], RenderStoppedError), errors
    assert [pid for pid in pids if is_running(pid)] == []
    assert render_folders(render_tmp) == []
    with pytest.raises(RenderStoppedError, match="shutting down"):
        render(tree, "app", app_name="a", cache_key=None)
    allow_tools()


def test_sigterm_to_tether_render_kills_the_tool_and_removes_its_folder(
    hanging_app: tuple[LocalTree, str], tmp_path: Path
) -> None:
    tree, marker = hanging_app
    temp = tmp_path / "clitmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    argv = [str(Path(sys.executable).parent / "tether"), "render", str(tree.root), "--path", "app"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = wait_for_processes(marker, 2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert [pid for pid in pids if is_running(pid)] == []
    assert list((temp / f"tether-render-{os.getuid()}").iterdir()) == []


def test_stale_folders_of_dead_processes_are_removed_at_start(render_tmp: Path) -> None:
    dead = subprocess.Popen(["/bin/true"])  # a pid that has exited
    dead.wait()
    render_tmp.mkdir(mode=0o700)
    stale = render_tmp / f"{dead.pid}-12345"
    (stale / "kustomize-x" / "src").mkdir(parents=True)
    reused = render_tmp / f"{os.getppid()}-1"  # a live pid, but another process's start time
    reused.mkdir()
    alive = render_tmp / workdir.process_name(os.getppid())
    alive.mkdir()
    mine = workdir.prepare()
    assert sorted(p.name for p in render_tmp.iterdir()) == sorted([alive.name, mine.name])
    assert mine.name == workdir.process_name(os.getpid())
    assert oct(mine.stat().st_mode & 0o777) == oct(0o700)


def test_a_parent_folder_owned_by_someone_else_is_refused(render_tmp: Path) -> None:
    render_tmp.mkdir()
    os.chown(render_tmp, 12345, 12345)
    with pytest.raises(Exception, match="not a folder owned by this user"):
        workdir.prepare()


def test_the_jail_shows_the_tool_only_its_folder(tmp_path: Path) -> None:
    assert jail_available(), "tests run as root: the mount namespace must be available"
    root = tmp_path / "render"
    root.mkdir()
    (root / "inside.txt").write_text("in\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")

    def cat(path: Path) -> bytes:
        return run_tool(
            ["/bin/cat", str(path)], file="t", env=tool_env(root), cwd=root, timeout=30,
            max_output_bytes=1000, confine=root,
        )  # fmt: skip

    assert cat(root / "inside.txt") == b"in\n"
    assert outside.read_text() == "secret\n"
    with pytest.raises(Exception, match="No such file or directory"):
        cat(outside)
    for hidden in ("/proc/1/environ", "/etc/hostname", str(Path.home())):
        with pytest.raises(Exception, match="No such file or directory"):
            cat(Path(hidden))


def test_without_the_jail_tools_still_run_behind_validation(
    make_tree: TreeFactory, kustomize: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod cannot unshare: the probe fails, tools run unjailed, escapes are still refused."""
    monkeypatch.setattr(toolrun, "jail_available", lambda: False)
    files = {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": CM.format(name="c")}
    tree = make_tree(files)
    assert [
        o["metadata"]["name"] for o in render(tree, "app", app_name="a", cache_key=None).objects
    ] == ["c"]
    evil = make_tree({"app/kustomization.yaml": "resources:\n  - ../../etc\n"})
    with pytest.raises(ReferenceEscapeError, match=r"^app/kustomization.yaml: resources\[0\]"):
        render(evil, "app", app_name="a", cache_key=None)
