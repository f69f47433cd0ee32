"""Render an app's source from a Git tree, through ``tether.manifests``.

Calls ``tether.manifests.render`` with the ``AppSpec``'s path and render
options (the one frozen ``RenderOptions``, built by ``tether.appspec``), cached
by commit, path and options. Rendering runs helm/kustomize and parses YAML, so
it runs in a worker thread to keep the event loop (and the watches)
responsive. ``ManifestError`` propagates unchanged: it already names the file
and the cause, and the controller turns it into a ``RenderFailed`` condition.
"""

from __future__ import annotations

import asyncio

from tether.appspec import AppSpec
from tether.controller.ports import Rendered
from tether.manifests.render import render
from tether.tree import FileTree


def render_blocking(tree: FileTree, app: AppSpec, cache_key: str | None) -> Rendered:
    """The desired objects of ``app`` read from ``tree``, in the calling thread."""
    source = app.source
    result = render(tree, source.path, source.render, app_name=app.name, cache_key=cache_key)
    return Rendered(
        tuple(dict(o) for o in result.objects),
        tuple(map(str, result.sources)),
        result.sources,
        str(result.renderer),
    )


async def render_app(tree: FileTree, app: AppSpec, cache_key: str | None = None) -> Rendered:
    """The desired objects of ``app`` read from ``tree``, in a worker thread."""
    return await asyncio.to_thread(render_blocking, tree, app, cache_key)
