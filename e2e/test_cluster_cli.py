"""`tether cluster up|env|down` run as separate processes, as a user runs them.

Proves: stdout is only the export line, the cluster outlives the `up` process,
a second `up` reuses it, and `down` leaves no process behind.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tether.tools import find_tool

pytestmark = pytest.mark.cluster

_ENTRY = "from tether.cli.cluster import cluster; cluster(prog_name='tether cluster')"


def tether_cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def processes_naming(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:120])
    return found


def test_up_env_down_round_trip_leaves_nothing_behind(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    try:
        up = tether_cluster("up", "--dir", str(run_dir))
        assert up.returncode == 0, up.stderr
        expected = f"export KUBECONFIG={run_dir / 'kubeconfig'}\n"
        assert up.stdout == expected
        assert "cluster ready in" in up.stderr

        nodes = subprocess.run(
            [
                find_tool("kubectl"),
                f"--kubeconfig={run_dir / 'kubeconfig'}",
                "get",
                "nodes",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert nodes.stdout.split() == ["node/kwok-node-0"]

        env = tether_cluster("env", "--dir", str(run_dir))
        assert (env.returncode, env.stdout) == (0, expected)

        again = tether_cluster("up", "--dir", str(run_dir))
        assert (again.returncode, again.stdout) == (0, expected)
        assert "already running" in again.stderr

        archive = tmp_path / "image.tar"
        archive.write_bytes(b"")
        load = tether_cluster("load-image", "--dir", str(run_dir), str(archive))
        assert load.returncode == 1
        assert load.stderr.strip().splitlines() == [
            f"Error: the cluster in {run_dir} has no real node (start it with --real-node)"
        ]
    finally:
        down = tether_cluster("down", "--dir", str(run_dir))

    assert down.returncode == 0, down.stderr
    assert "kube-apiserver" in down.stderr and "etcd" in down.stderr
    assert processes_naming(run_dir) == []

    after = tether_cluster("env", "--dir", str(run_dir))
    assert after.returncode == 1
    assert after.stdout == ""
    assert "no running cluster" in after.stderr
