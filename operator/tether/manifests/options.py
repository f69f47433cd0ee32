"""Render options: what an Application's ``source`` says about how to render.

Frozen dataclasses with snake_case fields; ``from_source`` reads the camelCase
``spec.source`` mapping of an Application (DESIGN §3). ``options_hash`` is the
stable digest used in the render cache key. Validation of user input beyond
shapes belongs to the API models; this module only normalizes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
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
    canonical = json.dumps([_plain(options), list(extra)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def from_source(source: Mapping[str, Any]) -> RenderOptions:
    """Build RenderOptions from an Application ``spec.source`` mapping (camelCase)."""
    directory = source.get("directory") or {}
    kustomize = source.get("kustomize") or {}
    helm = source.get("helm") or {}
    return RenderOptions(
        directory=DirectoryOptions(
            recurse=bool(directory.get("recurse", False)),
            include=_strings(directory.get("include")),
            exclude=_strings(directory.get("exclude")),
            jsonnet=_jsonnet(directory.get("jsonnet") or {}),
        ),
        kustomize=KustomizeOptions(
            name_prefix=kustomize.get("namePrefix", ""),
            name_suffix=kustomize.get("nameSuffix", ""),
            namespace=kustomize.get("namespace", ""),
            images=tuple(_image(item) for item in kustomize.get("images") or ()),
            common_labels=_pairs(kustomize.get("commonLabels")),
            common_annotations=_pairs(kustomize.get("commonAnnotations")),
            patches=tuple(_patch(item) for item in kustomize.get("patches") or ()),
        ),
        helm=HelmOptions(
            value_files=_strings(helm.get("valueFiles")),
            values=inline_values(helm.get("values")),
            set=_set_parameters(helm.get("set") or helm.get("parameters")),
            release_name=helm.get("releaseName", ""),
            namespace=helm.get("namespace", ""),
            skip_crds=bool(helm.get("skipCrds", False)),
        ),
    )


def _jsonnet(jsonnet: Mapping[str, Any]) -> JsonnetOptions:
    return JsonnetOptions(
        ext_vars=tuple(_jsonnet_var(item) for item in jsonnet.get("extVars") or ()),
        tlas=tuple(_jsonnet_var(item) for item in jsonnet.get("tlas") or ()),
        libs=_strings(jsonnet.get("libs")),
    )


def _jsonnet_var(item: Mapping[str, Any]) -> JsonnetVar:
    return JsonnetVar(
        name=str(item["name"]), value=str(item.get("value", "")), code=bool(item.get("code"))
    )


def inline_values(values: str | Mapping[str, Any] | None) -> str:
    """Inline Helm values as YAML text; a mapping becomes JSON, which is valid YAML."""
    if values is None:
        return ""
    if isinstance(values, str):
        return values
    return json.dumps(values, sort_keys=True)


def _strings(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _pairs(value: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (value or {}).items()))


def _image(item: str | Mapping[str, str]) -> KustomizeImage:
    """Accept ``{name, newName, newTag, digest}`` or Argo CD's ``name=new:tag`` form."""
    if isinstance(item, Mapping):
        return KustomizeImage(
            name=item["name"],
            new_name=item.get("newName", ""),
            new_tag=item.get("newTag", ""),
            digest=item.get("digest", ""),
        )
    name, _, replacement = item.partition("=")
    replacement = replacement or name
    digest = ""
    if "@" in replacement:
        replacement, digest = replacement.split("@", 1)
    new_name, tag = replacement, ""
    if ":" in replacement.rsplit("/", 1)[-1]:
        new_name, tag = replacement.rsplit(":", 1)
    return KustomizeImage(
        name=name, new_name=new_name if new_name != name else "", new_tag=tag, digest=digest
    )


def _patch(item: Mapping[str, Any]) -> KustomizePatch:
    target = item.get("target")
    return KustomizePatch(
        patch=item["patch"],
        target=None
        if not target
        else KustomizeTarget(
            group=target.get("group", ""),
            version=target.get("version", ""),
            kind=target.get("kind", ""),
            name=target.get("name", ""),
            namespace=target.get("namespace", ""),
            label_selector=target.get("labelSelector", ""),
            annotation_selector=target.get("annotationSelector", ""),
        ),
    )


def _set_parameters(value: Any) -> tuple[tuple[str, str], ...]:
    """``--set`` pairs from ``{k: v}``, ``["k=v"]`` or Argo's ``[{name, value}]``."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    pairs = []
    for item in value:
        if isinstance(item, Mapping):
            pairs.append((str(item["name"]), str(item["value"])))
        else:
            key, _, val = str(item).partition("=")
            pairs.append((key, val))
    return tuple(pairs)
