"""The render entry point: pick directory, Kustomize or Helm, and cache the result.

Detection at ``path``: a kustomization file means Kustomize, else a
Chart.yaml means Helm, else a plain directory (or a single file). Objects keep
the renderer's order: for directories, files in path order and documents in
file order; for tools, their output order. Ordering for sync is the planner's
job, not this module's. The same object declared twice (as written) is a
``DuplicateObjectError`` naming both places. Renders with a ``cache_key`` (the
commit) are cached by (cache_key, path, options hash including the app name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tether.manifests.cache import RenderCache
from tether.manifests.directory import render_directory
from tether.manifests.errors import ManifestPathEscapeError
from tether.manifests.helm import is_helm_chart, render_helm
from tether.manifests.kustomize import is_kustomization, render_kustomize
from tether.manifests.limits import Budget, Limits
from tether.manifests.objects import Manifest, ObjectSource, ensure_unique_manifests
from tether.manifests.options import RenderOptions, options_hash
from tether.manifests.yaml import Loader
from tether.tree import FileTree, PathEscapeError, split_tree_path

Renderer = Literal["directory", "kustomize", "helm"]


@dataclass(frozen=True)
class RenderResult:
    """The objects a source renders to, each with its source, and the renderer used."""

    manifests: tuple[Manifest, ...]
    renderer: Renderer

    @property
    def objects(self) -> tuple[dict[str, Any], ...]:
        """The objects in render order. Shared with the cache: do not mutate."""
        return tuple(manifest.object for manifest in self.manifests)

    @property
    def sources(self) -> tuple[ObjectSource, ...]:
        """Where each object came from, parallel to ``objects``."""
        return tuple(manifest.source for manifest in self.manifests)


DEFAULT_CACHE: RenderCache[RenderResult] = RenderCache(max_entries=128)


def normalize_path(path: str) -> str:
    """``"./apps//web/"`` -> ``"apps/web"``; ``..`` and absolute paths are refused."""
    try:
        return "/".join(split_tree_path(path))
    except PathEscapeError as exc:
        raise ManifestPathEscapeError(str(exc), file=path) from None


def detect_renderer(tree: FileTree, path: str) -> Renderer:
    """Which renderer handles ``path``: kustomize, helm or directory."""
    if is_kustomization(tree, path):
        return "kustomize"
    if is_helm_chart(tree, path):
        return "helm"
    return "directory"


def render(
    tree: FileTree,
    path: str,
    options: RenderOptions | None = None,
    *,
    app_name: str,
    cache_key: str | None,
    limits: Limits | None = None,
    cache: RenderCache[RenderResult] | None = DEFAULT_CACHE,
    loader: Loader = "auto",
) -> RenderResult:
    """Render the source at ``path`` of ``tree``; raise a ManifestError on any problem."""
    options = options or RenderOptions()
    path = normalize_path(path)
    key = (cache_key, path, options_hash(options, app_name)) if cache_key else None
    if key is not None and cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    result = _render(tree, path, options, app_name, Budget(limits or Limits()), loader)
    if key is not None and cache is not None:
        cache.put(key, result)
    return result


def _render(
    tree: FileTree,
    path: str,
    options: RenderOptions,
    app_name: str,
    budget: Budget,
    loader: Loader,
) -> RenderResult:
    renderer = detect_renderer(tree, path)
    if renderer == "kustomize":
        found = render_kustomize(tree, path, options.kustomize, budget=budget, loader=loader)
    elif renderer == "helm":
        found = render_helm(
            tree, path, options.helm, app_name=app_name, budget=budget, loader=loader
        )
    else:
        found = render_directory(tree, path, options.directory, budget=budget, loader=loader)
    ensure_unique_manifests(found)
    return RenderResult(tuple(found), renderer)
