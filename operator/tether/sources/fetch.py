"""One entry point for chart and artifact sources, used by the operator and the CLI alike.

``SourceFetcher.resolve(request, access)`` turns what an app asks for (a
Repository type and URL, a chart name, a version, range, tag or digest) into
an ``Artifact``: the version chosen, the digest that pins it, and the digest of
the tarball to render, which is in the shared ``DigestCache`` when ``resolve``
returns. ``SourceFetcher.tree(artifact)`` unpacks that tarball into an
``ArchiveTree`` and says which folder of it to render (a chart's own folder,
or the artifact's root). HTTP clients are kept per trust setting, so the
conditional-request validators and registry tokens outlive one resolve.

Revision forms:
- ``helm``: an exact chart version, or a semver range over the index's versions
  (empty or ``*``: the newest stable one).
- ``oci``: ``sha256:<hex>`` (a digest), a range (operators, wildcards or spaces,
  e.g. ``>=1.0.0 <2``, ``1.x``, ``^1.2``) over the tags that are versions, or
  else a tag (``latest``, ``1.2.3``). The resolved display form is
  ``<version>@sha256:<digest>``.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from tether.git.semver import SemverError, parse_range, try_parse_version
from tether.sources.archive import ArchiveTree
from tether.sources.digestcache import DigestCache, valid_digest
from tether.sources.errors import (
    ArchiveError,
    SourceError,
    VersionNotFoundError,
)
from tether.sources.helmrepo import HelmRepoClient, select_version
from tether.sources.http import ANONYMOUS, Credentials, HttpClient, check_scheme, shown_url
from tether.sources.oci import ContentKind, OciClient, OciRef, parse_oci_url

_RANGE_HINT = re.compile(r"[<>=^~*|, ]|(^|\.)[xX](\.|$)")


class RepoType(enum.StrEnum):
    """What a Repository points at."""

    GIT = "git"
    HELM = "helm"
    OCI = "oci"


@dataclass(frozen=True)
class SourceRequest:
    """What an app asks of a helm or oci Repository."""

    type: RepoType
    url: str
    chart: str = ""  # helm: required; oci: appended to the URL's path when set
    revision: str = ""

    @property
    def key(self) -> str:
        """How the Repository's status lists it: ``chart@revision`` or the revision."""
        return f"{self.chart}@{self.revision}" if self.chart else self.revision


@dataclass(frozen=True, repr=False)
class Access:
    """How to reach the server: credentials, an extra CA bundle, insecure, timeout."""

    credentials: Credentials = ANONYMOUS
    ca_pem: str | None = None
    insecure: bool = False
    timeout: float = 60.0

    def __repr__(self) -> str:
        return f"Access({self.credentials!r}, ca={'yes' if self.ca_pem else 'no'})"


@dataclass(frozen=True)
class Artifact:
    """A resolved chart or artifact: its version, pinning digest and what to render."""

    name: str  # the chart name, or the artifact repository's last path part
    version: str  # chart version or tag ("" when asked by digest)
    digest: str  # sha256:<hex>: the chart archive (helm) or the manifest (oci)
    blob: str  # sha256:<hex> of the tar+gzip that renders
    kind: ContentKind
    url: str = ""  # shown form, without credentials

    @property
    def display(self) -> str:
        """``<version>@sha256:<hex>``, the form the status shows."""
        return f"{self.version}@{self.digest}" if self.version else self.digest


def source_request(repo_type: str, url: str, chart: str, revision: str) -> SourceRequest:
    """The request for an app's (or the CLI's) chart and revision; ``HEAD`` means the newest.

    For helm ``HEAD`` (the API's default revision) asks for the newest stable
    version, for oci for the tag ``latest``.
    """
    return SourceRequest(RepoType(repo_type), url, chart, "" if revision == "HEAD" else revision)


def split_key(key: str) -> tuple[str, str]:
    """(chart, revision) of a followed key, ``chart@revision`` or a bare revision."""
    chart, sep, revision = key.partition("@")
    return (chart, revision) if sep else ("", key)


def render_root(artifact: Artifact, root: str, path: str) -> str:
    """Where to render in an artifact's tree: a chart's folder, or ``path`` in the artifact."""
    if artifact.kind is ContentKind.CHART:
        return root
    return "/".join(part for part in (root, path) if part)


def looks_like_range(revision: str) -> bool:
    return bool(_RANGE_HINT.search(revision.strip()))


class SourceFetcher:
    """Resolves and fetches helm/oci sources into a shared ``DigestCache``."""

    def __init__(self, root: Path) -> None:
        self.cache = DigestCache(root)
        self._clients: dict[tuple[str, bool, float], HttpClient] = {}
        self._indexes: dict[int, HelmRepoClient] = {}  # per HttpClient: parsed indexes
        self._lock = threading.Lock()

    def http(self, access: Access) -> HttpClient:
        """The client for this trust setting (shared: it holds validators and tokens)."""
        ca = hashlib.sha256((access.ca_pem or "").encode()).hexdigest()
        key = (ca, access.insecure, access.timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = HttpClient(
                    ca_pem=access.ca_pem, insecure=access.insecure, timeout=access.timeout
                )
                self._clients[key] = client
        return client

    def resolve(self, request: SourceRequest, access: Access) -> Artifact:
        """Resolve and download; raises ``SourceError``. Blocking: see ``aresolve``."""
        if request.type is RepoType.HELM:
            return self._resolve_helm(request, access)
        if request.type is RepoType.OCI:
            return self._resolve_oci(request, access)
        raise SourceError(f"repository type {request.type} is not fetched here", url=request.url)

    def probe(self, request: SourceRequest, access: Access) -> None:
        """Check the repository answers: its index (helm) or the registry's API root (oci)."""
        if request.type is RepoType.HELM:
            check_scheme(request.url, access.insecure)
            self._helm(access).fetch_index(request.url, access.credentials)
            return
        ref = parse_oci_url(request.url, allow_reference=False)
        OciClient(self.http(access), self.cache, insecure=access.insecure).ping(
            ref, access.credentials
        )

    def _helm(self, access: Access) -> HelmRepoClient:
        http = self.http(access)
        with self._lock:
            client = self._indexes.get(id(http))
            if client is None:
                client = self._indexes[id(http)] = HelmRepoClient(http, self.cache)
        return client

    async def aresolve(self, request: SourceRequest, access: Access) -> Artifact:
        return await asyncio.to_thread(self.resolve, request, access)

    def _resolve_helm(self, request: SourceRequest, access: Access) -> Artifact:
        check_scheme(request.url, access.insecure)
        if not request.chart:
            raise SourceError("a helm Repository needs source.chart", url=shown_url(request.url))
        client = self._helm(access)
        index = client.fetch_index(request.url, access.credentials)
        entry = select_version(index, request.chart, request.revision)
        digest, _ = client.download_chart(request.url, entry, access.credentials)
        return Artifact(
            name=request.chart,
            version=entry.version,
            digest=digest,
            blob=digest,
            kind=ContentKind.CHART,
            url=shown_url(request.url),
        )

    def _resolve_oci(self, request: SourceRequest, access: Access) -> Artifact:
        base = parse_oci_url(request.url, allow_reference=False)
        ref = base.child(request.chart) if request.chart else base
        client = OciClient(self.http(access), self.cache, insecure=access.insecure)
        revision = request.revision.strip() or "latest"
        version = revision
        if revision.startswith("sha256:") and valid_digest(revision):
            version = ""
        elif looks_like_range(revision):
            version = self._best_tag(client, ref, revision, access.credentials)
        manifest = client.manifest(ref, version or revision, access.credentials)
        client.blob(ref, manifest.layer, access.credentials)
        return Artifact(
            name=ref.path.rsplit("/", 1)[-1],
            version=version,
            digest=manifest.digest,
            blob=manifest.layer,
            kind=manifest.kind,
            url=f"oci://{ref.host}/{ref.path}",
        )

    @staticmethod
    def _best_tag(client: OciClient, ref: OciRef, revision: str, credentials: Credentials) -> str:
        try:
            span = parse_range(revision)
        except SemverError as exc:
            raise VersionNotFoundError(
                f"bad version range: {exc}", url=ref.display, ref=revision
            ) from None
        tags = client.list_tags(ref, credentials)
        # Helm stores chart version 1.2.3+build as tag 1.2.3_build.
        candidates = [
            (tag, parsed)
            for tag in tags
            if (parsed := try_parse_version(tag.replace("_", "+"))) is not None
        ]
        best = span.best(candidates)
        if best is None:
            raise VersionNotFoundError(
                f"no tag matches the version range (tags: {len(tags)})",
                url=ref.display,
                ref=revision,
            )
        return best[0]

    def tree(self, artifact: Artifact) -> tuple[ArchiveTree, str]:
        """The unpacked tarball and the folder in it to render (``""`` for the root)."""
        data = self.cache.get(artifact.blob)
        if data is None:
            raise ArchiveError(
                f"{artifact.display} is not in the cache: resolve it first", url=artifact.url
            )
        tree = ArchiveTree.from_tgz(data, where=artifact.url)
        if artifact.kind is ContentKind.MANIFESTS:
            return tree, ""
        folders = tree.top_folders()
        if len(folders) != 1 or tree.kind(f"{folders[0]}/Chart.yaml") != "file":
            raise ArchiveError(
                "a chart archive must hold one folder with a Chart.yaml", url=artifact.url
            )
        return tree, folders[0]
