"""Manifest generation: turn a source tree into Kubernetes objects.

Plain directories (YAML/JSON, read with kubectl's YAML 1.1 meaning), Kustomize
and Helm, behind one entry point, ``render``. Pure with respect to the cluster:
it reads a FileTree and runs helm/kustomize, and returns data. See render.py
for detection and ordering, yaml.py for YAML semantics, errors.py for the
exception hierarchy.
"""

from tether.manifests.cache import RenderCache
from tether.manifests.errors import (
    DuplicateKeyError,
    DuplicateObjectError,
    InvalidObjectError,
    ManifestError,
    ManifestPathEscapeError,
    RenderTimeoutError,
    RenderToolError,
    SizeLimitError,
    SourceNotFoundError,
    UnsupportedFileError,
    YAMLSyntaxError,
)
from tether.manifests.limits import Limits
from tether.manifests.localtree import LocalTree
from tether.manifests.objects import Manifest, ObjectSource
from tether.manifests.options import (
    DirectoryOptions,
    HelmOptions,
    JsonnetOptions,
    JsonnetVar,
    KustomizeImage,
    KustomizeOptions,
    KustomizePatch,
    KustomizeTarget,
    RenderOptions,
)
from tether.manifests.render import DEFAULT_CACHE, RenderResult, detect_renderer, render
from tether.manifests.yaml import Document, load_documents

__all__ = [
    "DEFAULT_CACHE",
    "DirectoryOptions",
    "Document",
    "DuplicateKeyError",
    "DuplicateObjectError",
    "HelmOptions",
    "InvalidObjectError",
    "JsonnetOptions",
    "JsonnetVar",
    "KustomizeImage",
    "KustomizeOptions",
    "KustomizePatch",
    "KustomizeTarget",
    "Limits",
    "LocalTree",
    "Manifest",
    "ManifestError",
    "ManifestPathEscapeError",
    "ObjectSource",
    "RenderCache",
    "RenderOptions",
    "RenderResult",
    "RenderTimeoutError",
    "RenderToolError",
    "SizeLimitError",
    "SourceNotFoundError",
    "UnsupportedFileError",
    "YAMLSyntaxError",
    "detect_renderer",
    "load_documents",
    "render",
]
