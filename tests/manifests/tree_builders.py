"""Build source trees for renderer tests: the same files as a Git commit or a folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from tether.tree import FileTree


class TreeFactory(Protocol):
    def __call__(
        self, files: Mapping[str, str], links: Mapping[str, str] | None = None
    ) -> FileTree: ...


def git_cli(work: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(
        ["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write_files(root: Path, files: Mapping[str, str], links: Mapping[str, str]) -> None:
    """Write ``files`` (path -> text) and ``links`` (path -> symlink target) under ``root``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)


# A Deployment as kustomization tests use it.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.0
"""
