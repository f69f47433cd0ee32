"""Runs kubectl's own merge code (tests/unit/diff/oracle, Go) on batches of vectors.

The binary is built once per source hash into tether's cache folder, from the Go
module cache the control-plane build fills (``k8s.io/apimachinery``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tether.tools import cache_dir

SOURCE = Path(__file__).with_name("oracle")


def spec_dir() -> Path:
    gopath = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
    return Path(gopath.stdout.strip()) / "k8s.io/kubernetes@v1.35.4/api/openapi-spec/v3"


def build() -> Path:
    """Path of the oracle binary, building it when its sources changed."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is needed to build the kubectl merge oracle")
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((SOURCE / name).read_bytes())
    binary = cache_dir() / "bin" / f"difforacle-{digest.hexdigest()[:12]}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        # The module versions are pinned by the committed go.sum; the proxy is only used on
        # a machine whose module cache lacks them. The build cache is the one
        # e2e/build-tools.sh fills, so most of apimachinery is compiled already.
        env = {
            **os.environ,
            "GOFLAGS": "-mod=readonly",
            "GOTOOLCHAIN": "local",
            "GOCACHE": str(cache_dir() / "go-build"),
        }
        subprocess.run(
            [go, "build", "-o", str(binary), "."], cwd=SOURCE, env=env, check=True, timeout=900
        )
    return binary


def run(binary: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One response per request, in order."""
    text = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(
        [str(binary)], input=text, capture_output=True, text=True, check=True, timeout=300
    )
    return [json.loads(line) for line in proc.stdout.splitlines()]
