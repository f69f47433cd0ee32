"""Chart dependencies fetched through declared Repositories, before the render.

A chart's ``Chart.yaml`` (or ``requirements.yaml``) may name dependencies in a
Helm repository (``https://...``) or an OCI registry (``oci://...``). Tether
never lets helm download: ``vendor_dependencies`` resolves each such
dependency that is not already vendored under ``charts/`` through the fetch
layer, but only when its repository URL is the URL of a Repository declared
in the app's namespace (so the URL and its credentials are that Repository's,
and nothing else is reachable), and lays the verified ``.tgz`` into
``charts/`` of an ``OverlayTree``. A dependency on any other repository is
left alone here; the Helm renderer then refuses it, naming the dependency and
the Repository to declare.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tether.sources.digestcache import sha256_digest
from tether.sources.fetch import Access, RepoType, SourceFetcher, SourceRequest
from tether.tree import EntryType, FileTree, TreeEntry, TreeError, split_tree_path

_REMOTE = ("http://", "https://", "oci://")


@dataclass(frozen=True)
class DeclaredRepository:
    """A helm or oci Repository of the app's namespace, as dependencies may use it."""

    name: str
    type: RepoType
    url: str
    access: Access


@dataclass(frozen=True)
class Dependency:
    """A dependency on a remote repository, as Chart.yaml declares it."""

    name: str
    version: str
    repository: str


def normal_repo_url(url: str) -> str:
    """A repository URL for comparison: no trailing slash, scheme and host lower-case."""
    scheme, sep, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}".rstrip("/")


def remote_dependencies(tree: FileTree, chart: str) -> list[Dependency]:
    """The chart's dependencies on http(s) or oci repositories that charts/ lacks."""
    found: list[Dependency] = []
    for name in ("Chart.yaml", "requirements.yaml"):
        file = posixpath.join(chart, name)
        if tree.kind(file) != "file":
            continue
        try:
            doc = YAML(typ="safe").load(tree.read(file))
        except (YAMLError, TreeError):
            return []  # the renderer reports a bad Chart.yaml with its own words
        for item in (doc or {}).get("dependencies") or () if isinstance(doc, dict) else ():
            if not isinstance(item, dict):
                continue
            repository = str(item.get("repository") or "")
            if repository.startswith(_REMOTE) and item.get("name"):
                found.append(
                    Dependency(str(item["name"]), str(item.get("version") or ""), repository)
                )
    present = _vendored(tree, chart)
    return [d for d in found if d.name not in present]


def _vendored(tree: FileTree, chart: str) -> set[str]:
    folder = posixpath.join(chart, "charts")
    if tree.kind(folder) != "dir":
        return set()
    names = set()
    for entry in tree.listdir(folder):
        names.add(
            entry.name.removesuffix(".tgz").rsplit("-", 1)[0]
            if entry.name.endswith(".tgz")
            else entry.name
        )
    return names


def vendor_dependencies(
    fetcher: SourceFetcher,
    tree: FileTree,
    chart: str,
    repositories: Sequence[DeclaredRepository],
) -> FileTree:
    """``tree`` with each remote dependency served by a declared Repository in charts/."""
    by_url = {normal_repo_url(r.url): r for r in repositories}
    extra: dict[str, bytes] = {}
    for dependency in remote_dependencies(tree, chart):
        repo = by_url.get(normal_repo_url(dependency.repository))
        if repo is None:
            continue
        request = SourceRequest(repo.type, repo.url, dependency.name, dependency.version)
        artifact = fetcher.resolve(request, repo.access)
        data = fetcher.cache.get(artifact.blob)
        if data is None:
            continue  # removed meanwhile: the renderer reports the dependency as missing
        name = f"{dependency.name}-{artifact.version or 'pinned'}.tgz"
        extra[posixpath.join(chart, "charts", name)] = data
    return OverlayTree(tree, extra) if extra else tree


class OverlayTree:
    """A ``FileTree`` with extra files laid over a base tree (the base wins nowhere)."""

    def __init__(self, base: FileTree, files: Mapping[str, bytes]) -> None:
        self.base = base
        self.files = dict(files)
        # One short digest of every added file: the overlay's part of a render's identity.
        self.pin = hashlib.sha256(
            b"".join(f"{p}\0{sha256_digest(d)}\n".encode() for p, d in sorted(files.items()))
        ).hexdigest()[:16]
        self._dirs = {""}
        for path in files:
            parent = posixpath.dirname(path)
            while parent not in self._dirs:
                self._dirs.add(parent)
                parent = posixpath.dirname(parent)

    def _key(self, path: str) -> str:
        return "/".join(split_tree_path(path))

    def read(self, path: str) -> bytes:
        key = self._key(path)
        if key in self.files:
            return self.files[key]
        return self.base.read(path)

    def kind(self, path: str) -> EntryType | None:
        key = self._key(path)
        if key in self.files:
            return "file"
        found = self.base.kind(path)
        if found is None and key in self._dirs:
            return "dir"
        return found

    def listdir(self, path: str) -> list[TreeEntry]:
        key = self._key(path)
        entries: dict[str, TreeEntry] = {}
        if self.base.kind(path) == "dir":
            entries = {e.name: e for e in self.base.listdir(path)}
        elif key not in self._dirs:
            return self.base.listdir(path)
        prefix = f"{key}/" if key else ""
        for name in [*self.files, *self._dirs]:
            if not name or not name.startswith(prefix) or name == key:
                continue
            child = name[len(prefix) :].split("/", 1)[0]
            full = prefix + child
            kind: EntryType = "file" if full in self.files else "dir"
            size = len(self.files.get(full, b""))
            entries.setdefault(child, TreeEntry(name=child, path=full, type=kind, size=size))
        return [entries[name] for name in sorted(entries)]

    def export(self, path: str, dest: Path) -> None:
        self.base.export(path, dest)
        key = self._key(path)
        for name, data in self.files.items():
            if not key or name == key or name.startswith(key + "/"):
                target = dest.joinpath(*split_tree_path(name))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)

    def close(self) -> None:
        close = getattr(self.base, "close", None)
        if close is not None:
            close()
