"""Render options: what an Application's ``source`` says about how to render.

Frozen dataclasses with snake_case fields, the one definition the renderers
read. ``tether.appspec`` builds them once from an Application's validated
``spec.source`` (or from the CLI's flags); the API models are the schema and
the validation, these are the values. ``options_hash`` is the stable digest
used in the render cache key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class JsonnetVar:
    """An external variable or top-level argument: a string, or Jsonnet code when ``code``."""

    name: str
    value: str
    code: bool = False


@dataclass(frozen=True)
class JsonnetOptions:
    """Jsonnet files of a directory: extVars, top-level arguments and library folders."""

    ext_vars: tuple[JsonnetVar, ...] = ()
    tlas: tuple[JsonnetVar, ...] = ()
    libs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirectoryOptions:
    """Plain directories: recurse into subfolders, include/exclude globs (exclude wins)."""

    recurse: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    jsonnet: JsonnetOptions = field(default_factory=JsonnetOptions)


@dataclass(frozen=True)
class KustomizeImage:
    """An ``images:`` entry: override the image called ``name``."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""


@dataclass(frozen=True)
class KustomizeTarget:
    """Which objects a patch applies to; empty fields match anything."""

    group: str = ""
    version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    label_selector: str = ""
    annotation_selector: str = ""


@dataclass(frozen=True)
class KustomizePatch:
    """An inline patch (strategic merge or JSON6902 YAML), optionally targeted."""

    patch: str
    target: KustomizeTarget | None = None


@dataclass(frozen=True)
class KustomizeOptions:
    """Options applied through a generated overlay; the repository is never edited."""

    name_prefix: str = ""
    name_suffix: str = ""
    namespace: str = ""
    images: tuple[KustomizeImage, ...] = ()
    common_labels: tuple[tuple[str, str], ...] = ()
    common_annotations: tuple[tuple[str, str], ...] = ()
    patches: tuple[KustomizePatch, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when no option is set, so no overlay is needed."""
        return self == KustomizeOptions()


@dataclass(frozen=True)
class HelmOptions:
    """``helm template`` parameters. ``values`` is inline YAML (a dict is dumped as JSON)."""

    value_files: tuple[str, ...] = ()
    values: str = ""
    set: tuple[tuple[str, str], ...] = ()
    release_name: str = ""
    namespace: str = ""
    skip_crds: bool = False


@dataclass(frozen=True)
class RenderOptions:
    """Everything that shapes a render besides the tree and the path."""

    directory: DirectoryOptions = field(default_factory=DirectoryOptions)
    kustomize: KustomizeOptions = field(default_factory=KustomizeOptions)
    helm: HelmOptions = field(default_factory=HelmOptions)


def options_hash(options: RenderOptions, *extra: str) -> str:
    """A stable hex digest of ``options`` (and extra strings such as the app name)."""
    canonical = json.dumps([_as_json(options), list(extra)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _as_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_as_json(item) for item in value]
    return value


def inline_values(values: str | Mapping[str, Any] | None) -> str:
    """Inline Helm values as YAML text; a mapping becomes JSON, which is valid YAML."""
    if values is None:
        return ""
    if isinstance(values, str):
        return values
    return json.dumps(values, sort_keys=True)
