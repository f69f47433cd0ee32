"""OCI registries: references, tags, manifests and blobs (pull and push), digest-verified.

``OciRef`` parses ``oci://host[:port]/path[:tag|@sha256:...]``. ``OciClient``
speaks the distribution API over ``HttpClient`` (which answers the registry's
token challenge): ``list_tags`` is a conditional GET, ``manifest`` fetches a
manifest by tag or digest (conditionally: an unchanged tag costs one 304) and
checks its digest, ``blob`` takes a layer from the ``DigestCache`` or downloads
and verifies it, and ``push`` uploads blobs and a manifest (``tether push
artifact``). ``classify_manifest`` says whether an artifact is a Helm chart or
Flux-style plain manifests. Nothing here renders.
"""

from __future__ import annotations

import enum
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tether.sources.digestcache import DigestCache, check_digest, sha256_digest, valid_digest
from tether.sources.errors import (
    InsecureSourceError,
    SourceError,
    SourceFetchError,
    SourceNotFoundError,
    UnsupportedArtifactError,
)
from tether.sources.http import Credentials, HttpClient, expect_ok, resolve_link

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_LAYER = "application/vnd.cncf.flux.content.v1.tar+gzip"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_REPO_PATH = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


class ContentKind(enum.StrEnum):
    """What an artifact holds, and so how it renders."""

    CHART = "chart"
    MANIFESTS = "manifests"


@dataclass(frozen=True)
class OciRef:
    """A registry, a repository path in it, and optionally a tag or digest."""

    host: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def display(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag}" if self.tag else ""
        return f"oci://{self.host}/{self.path}{suffix}"

    def child(self, name: str) -> OciRef:
        """The repository ``<path>/<name>`` (a chart under a Repository's URL)."""
        return OciRef(self.host, f"{self.path}/{name}".strip("/"))

    def base(self, insecure: bool) -> str:
        return f"{'http' if insecure else 'https'}://{self.host}/v2/{self.path}"

    def scope(self, actions: str = "pull") -> str:
        return f"repository:{self.path}:{actions}"


def parse_oci_url(url: str, *, allow_reference: bool = True) -> OciRef:
    """Parse ``oci://host/path[:tag|@digest]``; raises ``InsecureSourceError`` when malformed."""
    if not url.startswith("oci://"):
        raise InsecureSourceError("an OCI URL starts with oci://", url=url)
    rest = url.removeprefix("oci://").strip("/")
    host, _, path = rest.partition("/")
    digest = tag = ""
    if "@" in path:
        path, _, digest = path.partition("@")
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
    if (digest or tag) and not allow_reference:
        raise InsecureSourceError(
            "a Repository URL names a registry path, without a tag or digest", url=url
        )
    if not host or "@" in host or (path and not _REPO_PATH.match(path)):
        raise InsecureSourceError(
            "not an OCI reference: write oci://host/path[:tag|@sha256:...]", url=url
        )
    if tag and not _TAG.match(tag):
        raise InsecureSourceError(f"{tag!r} is not a valid tag", url=url)
    if digest and not valid_digest(digest):
        raise InsecureSourceError(f"{digest!r} is not a sha256 digest", url=url)
    return OciRef(host, path, tag, digest)


@dataclass(frozen=True)
class Manifest:
    """A manifest, its verified digest, and the layer Tether renders from it."""

    digest: str
    kind: ContentKind
    layer: str  # digest of the tar+gzip layer
    layer_size: int
    body: bytes


def classify_manifest(body: bytes, where: str) -> tuple[ContentKind, str, int]:
    """(kind, layer digest, layer size) of a Helm chart or Flux artifact manifest."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise UnsupportedArtifactError("the manifest is not JSON", url=where) from None
    if not isinstance(doc, dict):
        raise UnsupportedArtifactError("the manifest is not an object", url=where)
    config = (doc.get("config") or {}).get("mediaType", "")
    layers = [x for x in doc.get("layers") or () if isinstance(x, dict)]
    wanted = {
        HELM_CONFIG: (ContentKind.CHART, HELM_LAYER),
        FLUX_CONFIG: (ContentKind.MANIFESTS, FLUX_LAYER),
    }
    if config not in wanted:
        raise UnsupportedArtifactError(
            f"artifact config media type {config or '(none)'!r} is neither a Helm chart "
            f"({HELM_CONFIG}) nor plain manifests ({FLUX_CONFIG})",
            url=where,
        )
    kind, layer_type = wanted[config]
    found = [x for x in layers if x.get("mediaType") == layer_type]
    if len(found) != 1 or not valid_digest(str(found[0].get("digest", ""))):
        raise UnsupportedArtifactError(
            f"artifact must have exactly one {layer_type} layer", url=where
        )
    return kind, str(found[0]["digest"]), int(found[0].get("size") or 0)


class OciClient:
    """Pull and push through the distribution API; see the module docstring."""

    def __init__(self, http: HttpClient, cache: DigestCache, *, insecure: bool = False) -> None:
        self.http = http
        self.cache = cache
        self.insecure = insecure
        self._manifests: dict[str, Manifest] = {}
        self._lock = threading.Lock()

    def _home(self, ref: OciRef) -> str:
        return f"{'http' if self.insecure else 'https'}://{ref.host}/"

    def ping(self, ref: OciRef, credentials: Credentials) -> None:
        """``GET /v2/``: the registry answers and accepts the credentials (scope-less)."""
        url = f"{'http' if self.insecure else 'https'}://{ref.host}/v2/"
        answer = self.http.send("GET", url, credentials, home=self._home(ref))
        expect_ok(answer, url, "the registry API")

    def list_tags(self, ref: OciRef, credentials: Credentials) -> list[str]:
        """Every tag of the repository (following ``Link`` pages); first page conditional."""
        url = f"{ref.base(self.insecure)}/tags/list"
        tags: list[str] = []
        page = self.http.get_conditional(
            url, credentials, home=self._home(ref), scope=ref.scope(), what="the tag list"
        )
        body, headers = page.body, page.headers
        for _ in range(1000):
            try:
                tags += [str(t) for t in json.loads(body).get("tags") or ()]
            except (ValueError, AttributeError):
                raise SourceError("the tag list is not JSON", url=ref.display) from None
            link = _next_link(headers.get("link", ""))
            if not link:
                break
            nxt = resolve_link(url, link)
            answer = self.http.send(
                "GET", nxt, credentials, home=self._home(ref), scope=ref.scope()
            )
            expect_ok(answer, nxt, "the tag list")
            body, headers = answer.body, answer.headers
        return tags

    def manifest(self, ref: OciRef, reference: str, credentials: Credentials) -> Manifest:
        """The manifest for a tag or digest, its digest checked; unchanged costs one 304."""
        url = f"{ref.base(self.insecure)}/manifests/{quote(reference, safe=':')}"
        where = f"oci://{ref.host}/{ref.path}"
        answer = self.http.get_conditional(
            url,
            credentials,
            home=self._home(ref),
            headers={"Accept": MANIFEST_ACCEPT},
            scope=ref.scope(),
            what=f"{reference}",
        )
        if not answer.changed:
            with self._lock:
                known = self._manifests.get(url)
            if known is not None:
                return known
        body = answer.body
        digest = sha256_digest(body)
        if reference.startswith("sha256:"):
            check_digest(body, reference, what="the manifest", url=where)
        claimed = answer.headers.get("docker-content-digest", "")
        if claimed and claimed.startswith("sha256:"):
            check_digest(body, claimed, what="the manifest", url=where)
        kind, layer, size = classify_manifest(body, where)
        found = Manifest(digest, kind, layer, size, body)
        with self._lock:
            self._manifests[url] = found
        return found

    def blob(self, ref: OciRef, digest: str, credentials: Credentials) -> bytes:
        """A blob from the cache, or downloaded and verified against ``digest``."""
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        url = f"{ref.base(self.insecure)}/blobs/{digest}"
        answer = self.http.send("GET", url, credentials, home=self._home(ref), scope=ref.scope())
        expect_ok(answer, url, f"blob {digest[:19]}")
        self.cache.put(digest, answer.body, what=f"layer {digest[:19]}...", url=ref.display)
        return answer.body

    # -- push ---------------------------------------------------------------------------

    def push(
        self,
        ref: OciRef,
        tag: str,
        *,
        config: tuple[str, bytes],
        layers: Sequence[tuple[str, bytes]],
        credentials: Credentials,
        annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Upload the blobs and a manifest tagged ``tag``; returns the manifest digest."""
        scope = ref.scope("pull,push")
        descriptors = [self._upload(ref, media, data, credentials, scope) for media, data in layers]
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self._upload(ref, config[0], config[1], credentials, scope),
            "layers": descriptors,
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        body = json.dumps(manifest, separators=(",", ":")).encode()
        url = f"{ref.base(self.insecure)}/manifests/{tag}"
        answer = self.http.send(
            "PUT",
            url,
            credentials,
            home=self._home(ref),
            headers={"Content-Type": OCI_MANIFEST},
            body=body,
            scope=scope,
        )
        expect_ok(answer, url, f"the manifest {tag}")
        return sha256_digest(body)

    def _upload(
        self, ref: OciRef, media: str, data: bytes, credentials: Credentials, scope: str
    ) -> dict[str, Any]:
        digest = sha256_digest(data)
        descriptor = {"mediaType": media, "digest": digest, "size": len(data)}
        home = self._home(ref)
        head = self.http.send(
            "HEAD", f"{ref.base(self.insecure)}/blobs/{digest}", credentials, home=home, scope=scope
        )
        if head.status == 200:
            return descriptor
        start = f"{ref.base(self.insecure)}/blobs/uploads/"
        answer = self.http.send("POST", start, credentials, home=home, scope=scope)
        expect_ok(answer, start, "a blob upload")
        location = answer.header("location")
        if not location:
            raise SourceFetchError("the registry gave no upload location", url=ref.display)
        target = resolve_link(start, location)
        target += ("&" if "?" in target else "?") + f"digest={quote(digest, safe='')}"
        put = self.http.send(
            "PUT",
            target,
            credentials,
            home=home,
            headers={"Content-Type": "application/octet-stream"},
            body=data,
            scope=scope,
        )
        expect_ok(put, start, f"the upload of blob {digest[:19]}")
        return descriptor


def _next_link(header: str) -> str:
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    return match.group(1) if match else ""


def not_found_tag(ref: OciRef, wanted: str) -> SourceNotFoundError:
    return SourceNotFoundError(f"no tag {wanted!r}", url=f"oci://{ref.host}/{ref.path}", ref=wanted)
