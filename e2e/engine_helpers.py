"""Helpers shared by the e2e files: the one wait helper, running the CLI, writing sources."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PROG = [sys.executable, "-c", "from tether.cli import main; main()"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy, and return that.

    Fails naming ``what`` and the last value seen. Use it for positive signals
    only: never to let time pass before asserting that something did not happen.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


async def eventually(
    what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05
) -> Any:
    """``wait_for`` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


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


OPEN_SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
}


def crd(group: str, kind: str, plural: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A namespaced, single-version (v1) CRD; by default its ``spec`` takes anything."""
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema or OPEN_SPEC_SCHEMA},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [version],
        },
    }
