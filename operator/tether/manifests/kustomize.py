"""Render a Kustomize directory with ``kustomize build`` (or ``kubectl kustomize``).

The whole tree is exported to a temporary folder, so bases elsewhere in the
repository resolve; options (namePrefix, images, patches, ...) go into a
generated overlay in a separate folder that lists the exported path as its
only resource. The repository's own files are never edited. kustomize's
default load restrictor stays on, so files outside a kustomization's folder
cannot be read, and no plugins or exec functions are enabled.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from tether.manifests.errors import ManifestError, ManifestPathEscapeError, RenderToolError
from tether.manifests.limits import Budget
from tether.manifests.objects import Manifest, ObjectSource, collect_objects
from tether.manifests.options import KustomizeImage, KustomizeOptions, KustomizePatch
from tether.manifests.toolrun import run_tool, tool_env
from tether.manifests.treeio import tree_kind
from tether.manifests.yaml import Loader, load_documents
from tether.tools import ToolNotFoundError, find_tool
from tether.tree import FileTree, PathEscapeError, TreeError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def is_kustomization(tree: FileTree, path: str) -> bool:
    """True when ``path`` holds a kustomization file."""
    return any(
        tree_kind(tree, posixpath.join(path, name)) == "file" for name in KUSTOMIZATION_FILES
    )


def kustomize_command(target: Path) -> list[str]:
    """``kustomize build TARGET``, or ``kubectl kustomize TARGET`` without kustomize."""
    try:
        return [find_tool("kustomize"), "build", str(target)]
    except ToolNotFoundError:
        pass
    try:
        return [find_tool("kubectl"), "kustomize", str(target)]
    except ToolNotFoundError as exc:
        raise RenderToolError(f"neither kustomize nor kubectl found: {exc}") from None


def overlay_kustomization(resource: str, options: KustomizeOptions) -> dict[str, Any]:
    """The generated overlay that applies ``options`` on top of ``resource``."""
    overlay: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [resource],
    }
    if options.name_prefix:
        overlay["namePrefix"] = options.name_prefix
    if options.name_suffix:
        overlay["nameSuffix"] = options.name_suffix
    if options.namespace:
        overlay["namespace"] = options.namespace
    if options.images:
        overlay["images"] = [_image(image) for image in options.images]
    if options.common_labels:
        overlay["commonLabels"] = dict(options.common_labels)
    if options.common_annotations:
        overlay["commonAnnotations"] = dict(options.common_annotations)
    if options.patches:
        overlay["patches"] = [_patch(patch) for patch in options.patches]
    return overlay


def render_kustomize(
    tree: FileTree,
    path: str,
    options: KustomizeOptions,
    *,
    budget: Budget,
    loader: Loader = "auto",
) -> list[Manifest]:
    """Objects produced by ``kustomize build`` on ``path`` with ``options`` applied."""
    shown = path or "."
    with tempfile.TemporaryDirectory(prefix="tether-kustomize-") as temp:
        root = Path(temp)
        source = root / "src"
        export_tree(tree, source, file=shown)
        target = source.joinpath(*[part for part in path.split("/") if part])
        refuse_remote_references(target, source, loader=loader)
        if not options.is_empty:
            target = root / "overlay"
            target.mkdir()
            resource = Path("..", "src", *[part for part in path.split("/") if part]).as_posix()
            overlay = overlay_kustomization(resource, options)
            (target / "kustomization.yaml").write_text(json.dumps(overlay, indent=1))
        home = root / "home"
        home.mkdir()
        output = run_tool(
            kustomize_command(target),
            file=shown,
            env=tool_env(home),
            cwd=root,
            timeout=budget.limits.tool_timeout,
            max_output_bytes=budget.limits.max_total_bytes - budget.bytes,
            scrub={f"{source}/": "", str(source): ".", temp: "<tmp>"},
        )
    budget.add_bytes(len(output), file=shown)
    label = f"{shown} (kustomize build)"
    manifests: list[Manifest] = []
    documents = load_documents(output, file=label, loader=loader, max_depth=budget.limits.max_depth)
    for document in documents:
        found = collect_objects(document.value, ObjectSource(label, document.index), strict=True)
        budget.add_objects(len(found), file=label)
        manifests.extend(found)
    return manifests


_REFERENCE_FIELDS = ("resources", "bases", "components")
_REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::")


def is_remote_reference(entry: str) -> bool:
    """True for a kustomize resource that kustomize would fetch over the network."""
    return "://" in entry or entry.startswith(_REMOTE_PREFIXES) or "?ref=" in entry


def refuse_remote_references(folder: Path, root: Path, *, loader: Loader = "auto") -> None:
    """Fail before kustomize runs if any kustomization reachable from ``folder`` names a
    remote base: rendering must not touch the network, and on a closed network kustomize
    would only fail after its timeout, with a less useful message."""
    pending, seen = [folder], set[Path]()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in KUSTOMIZATION_FILES:
            file = current / name
            if file.is_file():
                pending.extend(_local_references(file, root, loader))
                break


def _local_references(file: Path, root: Path, loader: Loader) -> list[Path]:
    shown = file.relative_to(root).as_posix()
    try:
        documents = load_documents(file.read_bytes(), file=shown, loader=loader)
    except ManifestError:
        return []  # kustomize itself reports a broken kustomization, with its own words
    spec = documents[0].value if documents else None
    if not isinstance(spec, dict):
        return []
    folders: list[Path] = []
    for field in _REFERENCE_FIELDS:
        for entry in spec.get(field) or ():
            if not isinstance(entry, str):
                continue
            if is_remote_reference(entry):
                raise RenderToolError(
                    f"{field} entry {entry!r} is a remote base; Tether renders without "
                    "network access, so vendor it into the repository",
                    file=shown,
                )
            candidate = (file.parent / entry).resolve()
            if candidate.is_dir() and candidate.is_relative_to(root.resolve()):
                folders.append(candidate)
    return folders


def export_tree(tree: FileTree, dest: Path, *, file: str) -> None:
    """Export the whole tree to ``dest`` for a tool, with tree errors as ManifestErrors."""
    try:
        tree.export("", dest)
    except PathEscapeError as exc:
        raise ManifestPathEscapeError(str(exc), file=file) from None
    except TreeError as exc:
        raise ManifestError(f"cannot export the repository: {exc}", file=file) from None


def _image(image: KustomizeImage) -> dict[str, str]:
    entry = {"name": image.name}
    if image.new_name:
        entry["newName"] = image.new_name
    if image.new_tag:
        entry["newTag"] = image.new_tag
    if image.digest:
        entry["digest"] = image.digest
    return entry


def _patch(patch: KustomizePatch) -> dict[str, Any]:
    entry: dict[str, Any] = {"patch": patch.patch}
    if patch.target is not None:
        names = {
            "group": "group",
            "version": "version",
            "kind": "kind",
            "name": "name",
            "namespace": "namespace",
            "label_selector": "labelSelector",
            "annotation_selector": "annotationSelector",
        }
        target = {key: getattr(patch.target, attr) for attr, key in names.items()}
        entry["target"] = {key: value for key, value in target.items() if value}
    return entry
