"""Render a Kustomize directory with ``kustomize build`` (or ``kubectl kustomize``).

First the kustomization graph is walked through the FileTree (``kustgraph``):
any reference that leaves the repository is refused before a tool runs, and
the walk yields the closure of files the build reads. Only that closure is
exported, to a private per-render folder (``workdir``), never the whole
repository. Options (namePrefix, images, patches, ...) go into a generated
overlay in a separate folder that lists the exported path as its only
resource, so the repository's own files are never edited. kustomize runs
jailed to that folder where the kernel allows (``toolrun``), with its default
load restrictor on and no plugins or exec functions enabled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tether.manifests.errors import RenderToolError
from tether.manifests.export import export_closure
from tether.manifests.kustgraph import find_kustomization, kustomization_closure
from tether.manifests.limits import Budget
from tether.manifests.objects import Manifest, ObjectSource, collect_objects
from tether.manifests.options import KustomizeImage, KustomizeOptions, KustomizePatch
from tether.manifests.toolrun import run_tool, tool_env
from tether.manifests.workdir import render_workdir
from tether.manifests.yaml import Loader, load_documents
from tether.tools import ToolNotFoundError, find_tool
from tether.tree import FileTree


def is_kustomization(tree: FileTree, path: str) -> bool:
    """True when ``path`` holds a kustomization file."""
    return find_kustomization(tree, path) is not None


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
    closure = kustomization_closure(tree, path, budget, loader=loader)
    with render_workdir("kustomize") as root:
        source = root / "src"
        export_closure(tree, closure, source, budget)
        target = source.joinpath(*[part for part in path.split("/") if part])
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
            timeout=budget.tool_timeout(file=shown),
            max_output_bytes=budget.limits.max_total_bytes - budget.bytes,
            scrub={f"{source}/": "", str(source): ".", str(root): "<tmp>"},
            confine=root,
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
