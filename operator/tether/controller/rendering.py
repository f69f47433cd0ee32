"""Render an app's source from a Git tree or a chart/artifact tree, through ``tether.manifests``.

Calls ``tether.manifests.render`` with the ``AppSpec``'s path (under ``root``:
a chart's own folder in its archive) and render
options (the one frozen ``RenderOptions``, built by ``tether.appspec``), cached
by commit, path and options. Rendering runs helm/kustomize and parses YAML, so
it runs in a worker thread to keep the event loop (and the watches)
responsive. ``ManifestError`` propagates unchanged: it already names the file
and the cause, and the controller turns it into a ``RenderFailed`` condition.
A multi-source app renders each source's tree and concatenates the objects
(``render_sources_blocking``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from tether.appspec import AppSpec, SourceSpec
from tether.controller.ports import Rendered
from tether.manifests.objects import ObjectSource, ensure_unique, written_key, written_label
from tether.manifests.render import render
from tether.sources.dependencies import OverlayTree
from tether.sources.refs import with_ref_files
from tether.tree import FileTree


def render_blocking(tree: FileTree, app: AppSpec, cache_key: str | None, root: str) -> Rendered:
    """The desired objects of ``app`` read from ``tree`` at ``root``, in the calling thread."""
    result = render(tree, root, app.source.render, app_name=app.name, cache_key=cache_key)
    return Rendered(
        tuple(dict(o) for o in result.objects),
        tuple(map(str, result.sources)),
        result.sources,
        str(result.renderer),
    )


@dataclass(frozen=True)
class SourceTree:
    """One source of a multi-source app, read: its tree, the folder to render, its key."""

    source: SourceSpec
    tree: FileTree
    root: str  # the folder to render in ``tree``
    key: str  # what the tree is a function of: a commit or a digest (and its dependencies)


def render_sources_blocking(parts: Sequence[SourceTree], app: AppSpec) -> Rendered:
    """The objects of every source of ``app``, concatenated in order, in the calling thread.

    ``$ref`` value files are read from the trees of the sources carrying those refs
    (``tether.sources.refs``); a ref-only source renders nothing. Each object's place
    is prefixed ``sources[i]:``, and an object two sources declare is the render's
    ``DuplicateObjectError`` naming both places.
    """
    refs = {part.source.ref: part.tree for part in parts if part.source.ref}
    objects: list[dict[str, object]] = []
    places: list[str] = []
    origins: list[ObjectSource] = []
    renderers: list[str] = []
    keys: list[str] = []
    for index, part in enumerate(parts):
        if not part.source.renders:
            continue
        tree, options = with_ref_files(part.tree, part.root, part.source.render, refs)
        key = part.key if not isinstance(tree, OverlayTree) else f"{part.key}+{tree.pin}"
        result = render(tree, part.root, options, app_name=app.name, cache_key=key)
        objects += (dict(o) for o in result.objects)
        places += (f"sources[{index}]:{where}" for where in result.sources)
        origins += result.sources
        renderers.append(str(result.renderer))
        keys.append(key)
    keyed = ((written_key(obj), place) for obj, place in zip(objects, places, strict=True))
    ensure_unique(((key, place) for key, place in keyed if key is not None), written_label)
    return Rendered(
        tuple(objects),
        tuple(places),
        tuple(origins),
        ",".join(renderers),
        render_key="|".join(keys),
    )


async def render_app(tree: FileTree, app: AppSpec, cache_key: str | None, root: str) -> Rendered:
    """The desired objects of ``app`` read from ``tree`` at ``root``, in a worker thread.

    ``root`` is the folder to render: the app's path in a Git tree, a chart's folder
    in its archive, or the path in a plain-manifests artifact.
    """
    return await asyncio.to_thread(render_blocking, tree, app, cache_key, root)
