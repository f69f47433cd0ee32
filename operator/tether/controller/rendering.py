"""Render an Application's source from a Git tree, through ``tether.manifests``.

The controller calls ``render_app(tree, app)``; this module maps the
Application's ``spec.source`` to the manifests package's render options and
returns plain object dicts. Render errors propagate unchanged: they already
name the file and the cause, and the controller turns them into a
``RenderFailed`` condition.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from tether.api.application import Application
from tether.tree import FileTree


class RendererMissing(RuntimeError):
    """``tether.manifests`` has no render entry point yet."""


def _entry() -> Any:
    module = importlib.import_module("tether.manifests")
    for name in ("render_source", "render"):
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    raise RendererMissing("tether.manifests provides no render() entry point")


async def render_app(tree: FileTree, app: Application) -> list[dict[str, Any]]:
    """The desired objects of ``app`` read from ``tree``."""
    from tether.manifests.options import from_source

    source = app.spec.source.to_dict()
    options = from_source(source)
    render = _entry()
    kwargs: dict[str, Any] = {}
    release = app.metadata.name
    namespace = app.target_namespace or "default"
    try:
        result = render(
            tree, app.spec.source.clean_path, options, release_name=release, namespace=namespace
        )
    except TypeError:
        result = render(tree, app.spec.source.clean_path, options, **kwargs)
    if asyncio.iscoroutine(result):
        result = await result
    objects = getattr(result, "objects", result)
    return [dict(o) for o in objects]
