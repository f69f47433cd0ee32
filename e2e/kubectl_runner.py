"""The pinned kubectl, run against one kubeconfig: the e2e tests' one way to call it.

Kept out of ``conftest.py`` so that test modules can import it by name (``conftest``
is ambiguous when ``tests/`` and ``e2e/`` are collected in one run).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

KUBECTL_TIMEOUT = 60


@dataclass(frozen=True)
class Kubectl:
    """The pinned kubectl, run against one kubeconfig."""

    binary: str
    kubeconfig: Path

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl ARGS``; with ``check`` a non-zero exit fails the test with stderr."""
        argv = [self.binary, f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        proc = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT, check=False
        )
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def json(self, *args: str, kubeconfig: Path | None = None) -> Any:
        """Run ``kubectl ARGS -o json`` and decode the output."""
        return json.loads(self.run(*args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def apply(self, manifest: str | dict[str, Any] | Sequence[dict[str, Any]], *args: str) -> str:
        """``kubectl apply -f -`` of YAML/JSON text or objects; returns stdout."""
        text = manifest if isinstance(manifest, str) else _as_list_json(manifest)
        return self.run("apply", "-f", "-", *args, input=text).stdout


def _as_list_json(objs: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    items = [objs] if isinstance(objs, dict) else list(objs)
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
