"""Chart and artifact sources: Helm repositories and OCI registries (see ``fetch``).

The package stops at bytes and trees: ``fetch.SourceFetcher`` resolves a
version, range, tag or digest and leaves the verified tarball in the shared
``digestcache.DigestCache``; ``archive.ArchiveTree`` is the ``FileTree`` that
renderers read it through. Errors are ``errors.SourceError`` and its subtypes.
"""

from tether.sources.errors import SourceError
from tether.sources.fetch import Access, Artifact, RepoType, SourceFetcher, SourceRequest
from tether.sources.http import ANONYMOUS, Credentials
from tether.sources.oci import ContentKind

__all__ = [
    "ANONYMOUS",
    "Access",
    "Artifact",
    "ContentKind",
    "Credentials",
    "RepoType",
    "SourceError",
    "SourceFetcher",
    "SourceRequest",
]
