"""Render an Application's source from a Git tree, through ``tether.manifests``.

Maps ``spec.source`` to the manifests package's ``RenderOptions`` and calls
``tether.manifests.render`` (cached by commit, path and options). Rendering
runs helm/kustomize and parses YAML, so it runs in a worker thread to keep the
event loop (and the watches) responsive. ``ManifestError`` propagates
unchanged: it already names the file and the cause, and the controller turns
it into a ``RenderFailed`` condition.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether.api.application import Application
from tether.manifests.options import from_source
from tether.manifests.render import render
from tether.tree import FileTree


class RenderedObjects(list[dict[str, Any]]):
    """The rendered objects in order; ``sources`` names each one's file (for refusals)."""

    sources: tuple[str, ...] = ()


def render_sync(tree: FileTree, app: Application, cache_key: str | None) -> RenderedObjects:
    options = from_source(app.spec.source.to_dict())
    result = render(
        tree, app.spec.source.clean_path, options, app_name=app.metadata.name, cache_key=cache_key
    )
    out = RenderedObjects(dict(o) for o in result.objects)
    out.sources = tuple(str(source) for source in result.sources)
    return out


async def render_app(
    tree: FileTree, app: Application, cache_key: str | None = None
) -> RenderedObjects:
    """The desired objects of ``app`` read from ``tree``."""
    return await asyncio.to_thread(render_sync, tree, app, cache_key)
