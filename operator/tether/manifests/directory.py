"""Render a plain directory: every ``*.yaml``, ``*.yml``, ``*.json`` and ``*.jsonnet`` file.

Files are read through the FileTree in path order (folders sorted by name,
depth-first when recursing), and objects come out in that order, documents in
file order, List items in list order. Files that are not manifests are
skipped: well-known config files (Chart.yaml, kustomization.yaml, ...), and
any YAML/JSON document without apiVersion and kind. ``.git`` folders are never
entered. Jsonnet files are evaluated by ``jsonnet.py`` (``*.libsonnet`` files
are libraries, read only when imported), and every value they give must be
an object.
"""

from __future__ import annotations

import posixpath

from tether.manifests.documents import parse_file
from tether.manifests.errors import SizeLimitError, SourceNotFoundError, UnsupportedFileError
from tether.manifests.globs import matches_any
from tether.manifests.jsonnet import JSONNET_SUFFIX, JsonnetSession, is_jsonnet_file
from tether.manifests.limits import Budget
from tether.manifests.objects import Manifest, ObjectSource, collect_objects
from tether.manifests.options import DirectoryOptions
from tether.manifests.treeio import read_file, tree_kind, tree_listdir
from tether.manifests.yaml import Loader
from tether.tree import FileTree, TreeEntry

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json", JSONNET_SUFFIX)
CONFIG_FILES = frozenset(
    {"Chart.yaml", "Chart.lock", "kustomization.yaml", "kustomization.yml", "Kustomization"}
)


def render_directory(
    tree: FileTree,
    path: str,
    options: DirectoryOptions,
    *,
    budget: Budget,
    loader: Loader = "auto",
) -> list[Manifest]:
    """Objects of the manifest files at ``path`` (a folder, or a single file)."""
    kind = tree_kind(tree, path)
    if kind is None:
        raise SourceNotFoundError("path does not exist in the repository", file=path or ".")
    folder = path
    if kind == "file":
        _check_single_file(path)
        folder = posixpath.dirname(path)
        files: list[tuple[str, int | None]] = [(path, None)]
    else:
        files = [(e.path, e.size) for e in list_manifest_files(tree, path, options, budget)]
    manifests: list[Manifest] = []
    with JsonnetSession(tree, folder, options.jsonnet, budget) as jsonnet:
        for file, size in files:
            if is_jsonnet_file(file):
                data = read_file(tree, file, budget, size_hint=size)
                manifests.extend(jsonnet.evaluate(file, data))
            else:
                manifests.extend(_file_objects(tree, file, size, budget, loader))
    return manifests


def list_manifest_files(
    tree: FileTree, path: str, options: DirectoryOptions, budget: Budget
) -> list[TreeEntry]:
    """The files to read, after recursion and include/exclude globs, in path order."""
    selected: list[TreeEntry] = []
    pending: list[tuple[str, int]] = [(path, 0)]
    while pending:
        folder, depth = pending.pop()
        if depth > budget.limits.max_dir_depth:
            raise SizeLimitError(
                f"folders nest deeper than {budget.limits.max_dir_depth} levels (a symlink loop?)",
                file=folder,
            )
        subfolders = []
        for entry in tree_listdir(tree, folder):
            if entry.type == "dir":
                if options.recurse and entry.name != ".git":
                    subfolders.append((entry.path, depth + 1))
            elif _wanted(entry, path, options):
                selected.append(entry)
        pending.extend(reversed(subfolders))
    if len(selected) > budget.limits.max_files:
        raise SizeLimitError(
            f"more than {budget.limits.max_files:,} manifest files", file=path or "."
        )
    return sorted(selected, key=lambda entry: entry.path.split("/"))


def _check_single_file(path: str) -> None:
    # A source that is one file must be a manifest file; README.md is refused, not parsed.
    if not path.lower().endswith(MANIFEST_SUFFIXES):
        raise UnsupportedFileError(
            "not a manifest file: a single-file source must be .yaml, .yml, .json or .jsonnet",
            file=path,
        )


def _wanted(entry: TreeEntry, root: str, options: DirectoryOptions) -> bool:
    if not entry.name.endswith(MANIFEST_SUFFIXES) or entry.name in CONFIG_FILES:
        return False
    relative = entry.path[len(root) :].lstrip("/") if root else entry.path
    if options.include and not matches_any(options.include, relative):
        return False
    return not (options.exclude and matches_any(options.exclude, relative))


def _file_objects(
    tree: FileTree, file: str, size: int | None, budget: Budget, loader: Loader
) -> list[Manifest]:
    data = read_file(tree, file, budget, size_hint=size)
    manifests: list[Manifest] = []
    for document in parse_file(data, file=file, loader=loader, max_depth=budget.limits.max_depth):
        found = collect_objects(document.value, ObjectSource(file, document.index), strict=False)
        budget.add_objects(len(found), file=file)
        manifests.extend(found)
    return manifests
