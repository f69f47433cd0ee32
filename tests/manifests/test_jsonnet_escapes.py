"""Escape catalogue for Jsonnet: no import, lib folder or symlink reads outside the repository.

Every case runs over a real Git tree (a commit read from the object store by
GitTree) and over the same files as a local folder (LocalTree). Outside the
repository sits a folder with a "secret" library; each attempt is refused
with an error naming the file and the import (or the lib folder), and the
secret never appears in any message.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.repo import Repo

from tether.git import GitTree
from tether.manifests import (
    DirectoryOptions,
    JsonnetOptions,
    LocalTree,
    ManifestError,
    ManifestPathEscapeError,
    RenderOptions,
    render,
)
from tether.tree import FileTree

SECRET = "s3cret-outside-the-repo"
CM = "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { v: %s } }"

# name -> (files in the repository, symlinks (path -> target), libs, expected message)
CASES: dict[str, tuple[dict[str, str], dict[str, str], tuple[str, ...], str]] = {
    "absolute import": (
        {"app/main.jsonnet": "import '{outside}/secret.libsonnet'"},
        {},
        (),
        r"^app/main\.jsonnet:1:1: import '/[^']+/secret\.libsonnet' refused: "
        r"an absolute path leaves the repository$",
    ),
    "dot-dot chain import": (
        {"app/main.jsonnet": CM % "(import '../../outside/secret.libsonnet').v"},
        {},
        (),
        r"^app/main\.jsonnet:1:\d+: import '\.\./\.\./outside/secret\.libsonnet' "
        r"refused: the '\.\.' chain leaves the repository \(from app/\)$",
    ),
    "dot-dot chain from inside a library": (
        {
            "app/main.jsonnet": "import '../lib/inner.libsonnet'",
            "lib/inner.libsonnet": "import '../../outside/secret.libsonnet'",
        },
        {},
        (),
        r"^app/main\.jsonnet: lib/inner\.libsonnet:1:1: import '\.\./\.\./outside/secret\.libsonnet' "
        r"refused: the '\.\.' chain leaves the repository \(from lib/\)$",
    ),
    "importstr of /etc/passwd": (
        {"app/main.jsonnet": CM % "importstr '/etc/passwd'"},
        {},
        (),
        r"^app/main\.jsonnet:1:\d+: import '/etc/passwd' refused: "
        r"an absolute path leaves the repository$",
    ),
    "importbin through a dot-dot chain": (
        {"app/main.jsonnet": CM % "std.base64(importbin '../../../../../../etc/passwd')"},
        {},
        (),
        r"^app/main\.jsonnet:1:\d+: import '(\.\./)+etc/passwd' refused: "
        r"the '\.\.' chain leaves the repository \(from app/\)$",
    ),
    "symlinked lib folder out of the repository": (
        {"app/main.jsonnet": "import 'secret.libsonnet'"},
        {"vendor": "{outside}"},
        ("vendor",),
        r"^app: Jsonnet lib folder 'vendor' is a symlink that leaves the repository$",
    ),
    "lib path outside the repository": (
        {"app/main.jsonnet": "import 'secret.libsonnet'"},
        {},
        ("../outside",),
        r"^app: Jsonnet lib folder '\.\./outside' lies outside the repository$",
    ),
    "absolute lib path": (
        {"app/main.jsonnet": "import 'secret.libsonnet'"},
        {},
        ("{outside}",),
        r"^app: Jsonnet lib folder '/[^']+' lies outside the repository$",
    ),
    "import through a symlinked folder": (
        {"app/main.jsonnet": "import 'out/secret.libsonnet'"},
        {"app/out": "{outside}"},
        (),
        r"^app/main\.jsonnet:1:1: import 'out/secret\.libsonnet' refused: "
        r"app/out/secret\.libsonnet is a symlink that leaves the repository$",
    ),
    "import of a symlinked file": (
        {"app/main.jsonnet": "import 'link.libsonnet'"},
        {"app/link.libsonnet": "../../outside/secret.libsonnet"},
        (),
        r"^app/main\.jsonnet:1:1: import 'link\.libsonnet' refused: "
        r"app/link\.libsonnet is a symlink that leaves the repository$",
    ),
    "entry file symlinked out": (
        {"app/ok.jsonnet": CM % "'ok'"},
        {"app/main.jsonnet": "{outside}/secret.libsonnet"},
        (),
        r"^app/main\.jsonnet: .*(outside the repository|leaves the repository)",
    ),
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Repository:
    """Builds the repository (a Git commit or a local folder) next to the outside folder."""

    def __init__(self, kind: str, base: Path) -> None:
        self.kind = kind
        self.root = base / "repo"
        self.outside = base / "outside"
        self.outside.mkdir()
        (self.outside / "secret.libsonnet").write_text(f"{{ v: '{SECRET}' }}")
        self.repos: list[Repo] = []

    def fill(self, text: str) -> str:
        return text.replace("{outside}", str(self.outside))

    def tree(self, files: dict[str, str], links: dict[str, str]) -> FileTree:
        """The files and symlinks, ``{outside}`` replaced, as a Git or a local tree."""
        for name, text in files.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text(self.fill(text))
        for name, target in links.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).symlink_to(self.fill(target))
        if self.kind == "local":
            return LocalTree(self.root)
        _git(self.root, "init", "-q", "-b", "main")
        _git(self.root, "add", "-A")
        _git(self.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "escape")
        repo = Repo(str(self.root))
        self.repos.append(repo)
        return GitTree(repo, _git(self.root, "rev-parse", "HEAD"))


@pytest.fixture(params=["git", "local"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    built = Repository(request.param, tmp_path)
    yield built
    for repo in built.repos:
        repo.close()


@pytest.mark.parametrize("case", list(CASES))
def test_escape_is_refused_naming_file_and_import(repository: Repository, case: str) -> None:
    files, links, libs, message = CASES[case]
    tree = repository.tree(files, links)
    libs = tuple(repository.fill(lib) for lib in libs)
    options = RenderOptions(directory=DirectoryOptions(jsonnet=JsonnetOptions(libs=libs)))
    with pytest.raises(ManifestPathEscapeError, match=message) as info:
        render(tree, "app", options, app_name="app", cache_key=None)
    assert SECRET not in str(info.value)


def test_inside_imports_still_work_next_to_the_catalogue(repository: Repository) -> None:
    tree = repository.tree(
        {
            "app/main.jsonnet": CM % "(import 'k.libsonnet').v + (import '../lib/l.libsonnet').v"
            " + (import 'linked.libsonnet').v",
            "vendor/k.libsonnet": "{ v: 'k' }",
            "lib/l.libsonnet": "{ v: 'l' }",
        },
        {"app/linked.libsonnet": "../lib/l.libsonnet"},
    )
    options = RenderOptions(directory=DirectoryOptions(jsonnet=JsonnetOptions(libs=("vendor",))))
    result = render(tree, "app", options, app_name="app", cache_key=None)
    assert result.objects[0]["data"] == {"v": "kll"}


def test_a_symlink_loop_is_an_error_naming_the_file(repository: Repository) -> None:
    tree = repository.tree(
        {"app/main.jsonnet": "import 'loop.libsonnet'"}, {"app/loop.libsonnet": "loop.libsonnet"}
    )
    with pytest.raises(ManifestError, match=r"^app/main\.jsonnet:1:1: couldn't open import "):
        render(tree, "app", RenderOptions(), app_name="app", cache_key=None)
