"""Walk a kustomization graph through the FileTree: refuse escapes, list what a render needs.

Before kustomize runs, every kustomization reachable from the app's folder is
read from the tree (never from an exported copy) and every entry that names a
file or folder is checked: ``resources``, ``bases``, ``components``,
``generators``, ``transformers``, ``validators``, ``crds``, ``configurations``,
``openapi.path``, ``patches[].path``, ``patchesStrategicMerge``,
``patchesJson6902[].path``, ``replacements[].path``, generator ``files``,
``envs`` and ``env``, and ``helmGlobals.chartHome`` and ``helmCharts`` value
files. An absolute path, a ``..`` chain that leaves the root, or an entry that
reaches outside through a symlink raises ``ReferenceEscapeError`` naming the
kustomization file and the entry; a URL raises ``RenderToolError`` (renders
never use the network). Plugin configuration files listed under generators or
transformers are scanned for the same path fields.

The walk is fail-closed: a kustomization that does not parse, or a field of
the wrong type, stops the render, because an entry we could not read is an
entry we could not check. The result, ``Closure``, is every file and folder
the build reads; only those are exported for kustomize, as regular files, so
the exported copy holds no symlinks at all. A missing file is left out and
kustomize reports it in its own words.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.manifests.errors import (
    InvalidObjectError,
    ManifestError,
    ReferenceEscapeError,
    RenderToolError,
)
from tether.manifests.limits import Budget
from tether.manifests.treeio import read_file, resolve_reference
from tether.manifests.yaml import Loader, load_documents
from tether.tree import EntryType, FileTree, PathEscapeError, TreeError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::")
# Fields whose entries are kustomization folders (or files, for the plugin lists).
_BUILD_FIELDS = ("resources", "bases", "components")
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
_FILE_LISTS = ("crds", "configurations", "patchesStrategicMerge")
_PATH_OBJECT_LISTS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
# Path fields of built-in plugin configurations (PatchTransformer, ConfigMapGenerator,
# HelmChartInflationGenerator, ...), read from files listed under generators/transformers.
_PLUGIN_PATH_FIELDS = (
    "path",
    "paths",
    "files",
    "envs",
    "env",
    "chartHome",
    "valuesFile",
    "values",
    "additionalValuesFiles",
)


@dataclass(frozen=True)
class Closure:
    """What one kustomize build reads: files to export and folders that must exist."""

    files: frozenset[str]
    dirs: frozenset[str]
    contents: Mapping[str, bytes] = field(default_factory=dict, compare=False)


def is_remote_reference(entry: str) -> bool:
    """True for a kustomize entry that kustomize would fetch over the network."""
    return "://" in entry or entry.startswith(_REMOTE_PREFIXES) or "?ref=" in entry


def find_kustomization(tree: FileTree, folder: str) -> str | None:
    """The tree path of ``folder``'s kustomization file, in kustomize's order of preference."""
    for name in KUSTOMIZATION_FILES:
        candidate = posixpath.join(folder, name) if folder else name
        if _kind(tree, candidate, candidate) == "file":
            return candidate
    return None


def kustomization_closure(
    tree: FileTree, folder: str, budget: Budget, *, loader: Loader = "auto"
) -> Closure:
    """Check the graph rooted at ``folder`` and return the files and folders it reads."""
    walk = _Walk(tree, budget, loader)
    walk.build(folder, plugin=False)
    return Closure(frozenset(walk.files), frozenset(walk.dirs), dict(walk.contents))


class _Walk:
    """One traversal: folders seen, files and folders collected, contents already read."""

    def __init__(self, tree: FileTree, budget: Budget, loader: Loader) -> None:
        self.tree = tree
        self.budget = budget
        self.loader = loader
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.contents: dict[str, bytes] = {}
        self.seen: set[str] = set()

    def build(self, folder: str, *, plugin: bool) -> None:
        """Walk the kustomization in ``folder`` (kustomize reports a folder without one)."""
        if folder in self.seen:
            return
        self.seen.add(folder)
        self.dirs.add(folder)
        file = find_kustomization(self.tree, folder)
        if file is None:
            return
        self.budget.check_time(file=file)
        spec = self._spec(file)
        ref = _Ref(self, folder, file)
        for name in _BUILD_FIELDS:
            for where, entry in _strings(spec, name, file):
                ref.build_entry(where, entry, plugin=plugin)
        for name in _PLUGIN_FIELDS:
            for where, entry in _strings(spec, name, file):
                if "\n" not in entry:  # otherwise an inline plugin configuration
                    ref.build_entry(where, entry, plugin=True)
        for name in _FILE_LISTS:
            for where, entry in _strings(spec, name, file):
                ref.file_entry(where, entry)
        for name in _PATH_OBJECT_LISTS:
            for index, item in enumerate(_list(spec, name, file)):
                path = fields(item, file).get("path")
                if isinstance(path, str):
                    ref.file_entry(f"{name}[{index}].path", path)
        for name in _GENERATORS:
            for index, item in enumerate(_list(spec, name, file)):
                ref.generator(f"{name}[{index}]", fields(item, file))
        openapi = fields(spec.get("openapi"), file).get("path")
        if isinstance(openapi, str):
            ref.file_entry("openapi.path", openapi)
        self._helm(ref, spec, file)

    def _helm(self, ref: _Ref, spec: dict[str, Any], file: str) -> None:
        """Helm inflation is never enabled, but its paths are confined all the same."""
        chart_home = fields(spec.get("helmglobals"), file).get("charthome")
        if isinstance(chart_home, str):
            ref.confine("helmGlobals.chartHome", chart_home)
        for name in ("helmCharts", "helmChartInflationGenerator"):
            for index, item in enumerate(_list(spec, name, file)):
                ref.plugin_paths(f"{name}[{index}]", fields(item, file))

    def _spec(self, file: str) -> dict[str, Any]:
        data = self.read(file)
        documents = load_documents(data, file=file, loader=self.loader)
        spec = documents[0].value if documents else {}
        if not isinstance(spec, dict | None):
            raise InvalidObjectError("a kustomization must be a mapping", file=file)
        return fields(spec, file)

    def read(self, path: str) -> bytes:
        """Read ``path`` once, counted against the budget, and keep it for the export."""
        if path not in self.contents:
            self.contents[path] = read_file(self.tree, path, self.budget)
        self.files.add(path)
        return self.contents[path]

    def plugin_config(self, path: str, base: str, where: str, owner: str) -> None:
        """Scan a plugin configuration file for the path fields of built-in plugins."""
        for document in load_documents(self.read(path), file=path, loader=self.loader):
            if isinstance(document.value, dict):
                config = fields(document.value, path)
                _Ref(self, base, owner).plugin_paths(where, config, also=path)


@dataclass(frozen=True)
class _Ref:
    """Entries of one kustomization file, resolved against its folder."""

    walk: _Walk
    folder: str
    file: str

    def build_entry(self, where: str, entry: str, *, plugin: bool) -> None:
        """A resource, base, component or plugin entry: a file, or a kustomization folder."""
        if is_remote_reference(entry):
            raise RenderToolError(
                f"{where} {entry!r} is a remote base; Tether renders without network "
                "access, so vendor it into the repository",
                file=self.file,
            )
        path, kind = self.resolve(where, entry)
        if kind == "dir":
            self.walk.build(path, plugin=plugin)
        elif kind == "file" and plugin:
            self.walk.plugin_config(path, self.folder, where, self.file)
        elif kind == "file":
            self.walk.files.add(path)

    def file_entry(self, where: str, entry: str) -> None:
        """An entry naming one file; inline content (several lines) names none."""
        if "\n" in entry:
            return
        self._refuse_url(where, entry)
        path, kind = self.resolve(where, entry)
        if kind == "file":
            self.walk.files.add(path)

    def confine(self, where: str, entry: str) -> None:
        """An entry that must stay inside the repository but is never exported."""
        self._refuse_url(where, entry)
        self.resolve(where, entry)

    def generator(self, where: str, item: dict[str, Any]) -> None:
        """configMapGenerator / secretGenerator: ``files`` (``key=path``), ``envs``, ``env``."""
        for index, entry in enumerate(_string_list(item.get("files"), f"{where}.files", self.file)):
            self.file_entry(f"{where}.files[{index}]", entry.split("=", 1)[-1])
        for index, entry in enumerate(_string_list(item.get("envs"), f"{where}.envs", self.file)):
            self.file_entry(f"{where}.envs[{index}]", entry)
        env = item.get("env")
        if isinstance(env, str):
            self.file_entry(f"{where}.env", env)

    def plugin_paths(self, where: str, config: dict[str, Any], *, also: str = "") -> None:
        """Path fields of a built-in plugin configuration, or of a helmCharts entry."""
        for name in _PLUGIN_PATH_FIELDS:
            value = config.get(name.casefold())
            entries = (
                [value] if isinstance(value, str) else value if isinstance(value, list) else []
            )
            for index, entry in enumerate(entries):
                if not isinstance(entry, str):
                    continue
                label = f"{where}.{name}" if isinstance(value, str) else f"{where}.{name}[{index}]"
                target = entry.split("=", 1)[-1] if name == "files" else entry
                self.file_entry(label, target)
                if also:  # kustomize's loader root, or the config file's own folder
                    _Ref(self.walk, posixpath.dirname(also), self.file).file_entry(label, target)
        replacements = config.get("replacements")
        for index, item in enumerate(replacements if isinstance(replacements, list) else ()):
            path = fields(item, self.file).get("path")
            if isinstance(path, str):
                self.file_entry(f"{where}.replacements[{index}].path", path)

    def resolve(self, where: str, entry: str) -> tuple[str, EntryType | None]:
        """The tree path ``entry`` names from this folder and its type; escapes raise."""
        return resolve_reference(self.walk.tree, self.folder, entry, file=self.file, where=where)

    def _refuse_url(self, where: str, entry: str) -> None:
        if "://" in entry:
            raise RenderToolError(
                f"{where} {entry!r} is a URL; Tether renders without network access",
                file=self.file,
            )


def _kind(tree: FileTree, path: str, file: str) -> EntryType | None:
    try:
        return tree.kind(path)
    except PathEscapeError:
        raise ReferenceEscapeError("leaves the repository through a symlink", file=file) from None
    except TreeError as exc:
        raise ManifestError(str(exc), file=file) from None


def fields(value: Any, file: str) -> dict[str, Any]:
    """A mapping's fields with case-folded names ({} for anything else).

    kustomize decodes with Go's encoding/json, which matches field names without
    regard to case (``Resources:``, even with a long s (U+017F), are
    ``resources``), so the walk must see them too. Two keys that fold to the same
    name are ambiguous (Go keeps the last) and refused."""
    if not isinstance(value, dict):
        return {}
    folded: dict[str, Any] = {}
    for key, item in value.items():
        name = key.casefold() if isinstance(key, str) else str(key)
        if name in folded:
            raise InvalidObjectError(f"field {key!r} is given twice (names ignore case)", file=file)
        folded[name] = item
    return folded


def _list(spec: Mapping[str, Any], name: str, file: str) -> list[Any]:
    value = spec.get(name.casefold())
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidObjectError(f"{name} must be a list", file=file)
    return value


def _string_list(value: Any, where: str, file: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidObjectError(f"{where} must be a list", file=file)
    return [entry for entry in value if isinstance(entry, str)]


def _strings(spec: Mapping[str, Any], name: str, file: str) -> Iterator[tuple[str, str]]:
    """``(label, entry)`` for each string entry of the list field ``name``."""
    for index, entry in enumerate(_list(spec, name, file)):
        if isinstance(entry, str):
            yield f"{name}[{index}]", entry
