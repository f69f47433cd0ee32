"""Helpers shared by the e2e/test_engine_*.py files: running the CLI and writing sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

PROG = [sys.executable, "-c", "from tether.cli import main; main()"]


def tether_argv(cluster: Any, *args: str) -> list[str]:
    return [*PROG, *args, "--kubeconfig", str(cluster.kubeconfig)]


def tether(cluster: Any, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tether ARGS --kubeconfig <cluster>`` and capture its output."""
    return subprocess.run(
        tether_argv(cluster, *args), capture_output=True, text=True, timeout=timeout, check=False
    )


def write(folder: Path, **files: str) -> Path:
    """Make ``folder`` hold exactly ``files`` (name -> YAML text) as ``<name>.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity; returns stdout."""
    argv = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", *args]
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


def first_node(kubectl: Any) -> str:
    names = kubectl.run("get", "nodes", "-o", "name").stdout.split()
    return names[0].removeprefix("node/")
