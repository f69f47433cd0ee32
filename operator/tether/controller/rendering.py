"""Render an app's source from a Git tree or a chart/artifact tree, through ``tether.manifests``.

Calls ``tether.manifests.render`` with the ``AppSpec``'s path (under ``root``:
a chart's own folder in its archive) and render
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


def render_blocking(tree: FileTree, app: AppSpec, cache_key: str | None, root: str) -> Rendered:
    """The desired objects of ``app`` read from ``tree`` at ``root``, in the calling thread."""
    result = render(tree, root, app.source.render, app_name=app.name, cache_key=cache_key)
    return Rendered(
        tuple(dict(o) for o in result.objects),
        tuple(map(str, result.sources)),
        result.sources,
        str(result.renderer),
    )


async def render_app(tree: FileTree, app: AppSpec, cache_key: str | None, root: str) -> Rendered:
    """The desired objects of ``app`` read from ``tree`` at ``root``, in a worker thread.

    ``root`` is the folder to render: the app's path in a Git tree, a chart's folder
    in its archive, or the path in a plain-manifests artifact.
    """
    return await asyncio.to_thread(render_blocking, tree, app, cache_key, root)
