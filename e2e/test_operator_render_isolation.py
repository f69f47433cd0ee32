"""The operator and its render tools: SIGTERM stops a hanging render, nothing is left behind.

A real operator process (against the real control plane) renders a Kustomize
app with a kustomize that hangs with children. SIGTERM must kill the tool's
whole process group and let the operator exit cleanly, with its render
folders gone; render folders a SIGKILLed predecessor left are removed when
the operator starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "manifests"))

from tool_processes import hanging_tool, is_running, new_marker, wait_for_processes

from operator_helpers import (
    GitServer,
    apply_repo_and_app,
    git_server,
    installed,
    start_operator,
    stop_operator,
)

pytestmark = pytest.mark.cluster

__all__ = ["git_server", "installed"]  # fixtures used here


def test_sigterm_kills_a_hanging_render_and_leaves_no_folder(
    installed: Path,
    git_server: GitServer,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = new_marker()
    tools = tmp_path / "tools"
    tools.mkdir()
    temp = tmp_path / "tmp"
    parent = temp / f"tether-render-{os.getuid()}"
    dead = subprocess.Popen(["/bin/true"])
    dead.wait()
    stale = parent / f"{dead.pid}-1"
    (stale / "kustomize-left" / "src").mkdir(parents=True)
    parent.chmod(0o700)
    monkeypatch.setenv("TETHER_KUSTOMIZE", str(hanging_tool(tools, marker)))
    monkeypatch.setenv("TMPDIR", str(temp))
    operator = start_operator(installed, tmp_path)
    try:
        # ready means startup ran, and startup sweeps the stale folder first
        assert not stale.exists()
        path = f"{namespace}/kust"
        git_server.push(
            {
                f"{path}/kustomization.yaml": "resources: [cm.yaml]\n",
                f"{path}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            },
            message="kustomize app",
        )
        apply_repo_and_app(kubectl, namespace, git_server.url(), path, automated={})
        pids = wait_for_processes(marker, 2)
        operator.process.send_signal(signal.SIGTERM)
        code = operator.process.wait(30)  # Kubernetes' default termination grace period
    finally:
        stop_operator(operator, signal.SIGKILL)
    assert code == 0, operator.logs()[-3000:]
    assert [pid for pid in pids if is_running(pid)] == []
    assert list(parent.iterdir()) == []
