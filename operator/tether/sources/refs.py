"""Multi-source ``$ref`` value files: another source's files laid beside a chart.

In ``spec.sources`` a source may carry ``ref: name``; a Helm value file written
``$name/path/values.yaml`` is then read from that source's tree. ``with_ref_files``
reads each such file (the path must stay inside the ref's tree, by the same rules
as any tree path) and lays it into an ``OverlayTree`` over the chart's tree under
``.tether-refs/<name>/``, rewriting the value file to point there, so the Helm
renderer keeps its one rule: value files are files of the tree it renders. Nothing
is written anywhere; the overlay's ``pin`` joins the render's cache key, so a ref
file that changes renders anew. It stops there: resolving each source is the
controller's (or the CLI's) job.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace

from tether.manifests.errors import ManifestPathEscapeError, SourceNotFoundError
from tether.manifests.options import RenderOptions
from tether.manifests.treeio import tree_kind
from tether.sources.dependencies import OverlayTree
from tether.tree import FileTree, joined_path

REF_ROOT = ".tether-refs"


def split_ref(value_file: str) -> tuple[str, str] | None:
    """``("name", "path")`` of ``$name/path``; None for an ordinary value file."""
    if not value_file.startswith("$"):
        return None
    name, _, path = value_file[1:].partition("/")
    return name, path


def with_ref_files(
    tree: FileTree, chart_path: str, options: RenderOptions, refs: Mapping[str, FileTree]
) -> tuple[FileTree, RenderOptions]:
    """``tree`` with the ``$ref`` value files of ``options`` laid in, and the options to use.

    Unchanged when no value file names a ref. Raises ``SourceNotFoundError`` for a ref
    no source carries or a file that is not there, ``ManifestPathEscapeError`` for a path
    that leaves the ref's tree; each names the value file as written.
    """
    helm = options.helm
    files: dict[str, bytes] = {}
    rewritten: list[str] = []
    for value_file in helm.value_files:
        split = split_ref(value_file)
        if split is None:
            rewritten.append(value_file)
            continue
        laid = f"{REF_ROOT}/{split[0]}/{_ref_path(value_file, *split)}"
        files[laid] = _read_ref(value_file, refs, *split)
        rewritten.append(posixpath.relpath(laid, chart_path or "."))
    if not files:
        return tree, options
    return OverlayTree(tree, files), replace(
        options, helm=replace(helm, value_files=tuple(rewritten))
    )


def _ref_path(value_file: str, name: str, path: str) -> str:
    inside = joined_path("", path) if name and path else None
    if not inside:
        raise ManifestPathEscapeError(
            "value file leaves its ref's repository: write $ref/path inside it", file=value_file
        )
    return inside


def _read_ref(value_file: str, refs: Mapping[str, FileTree], name: str, path: str) -> bytes:
    ref_tree = refs.get(name)
    if ref_tree is None:
        raise SourceNotFoundError(f"no source has ref {name!r}", file=value_file)
    inside = _ref_path(value_file, name, path)
    if tree_kind(ref_tree, inside) != "file":
        raise SourceNotFoundError(f"value file not found in source {name!r}", file=value_file)
    return ref_tree.read(inside)
