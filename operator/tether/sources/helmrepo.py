"""Helm HTTP repositories: the index, version selection, and verified chart downloads.

``fetch_index`` GETs ``<url>/index.yaml`` conditionally, so an unchanged index
costs one 304; the parsed index is kept per URL and parsed again only when its
bytes change. ``select_version`` picks a chart version from the index: an exact
version, or the highest one matching a semver range (``tether.git.semver``,
the same rules as Git tags). ``download_chart`` takes the ``.tgz`` from the
``DigestCache`` when present, else downloads it, checks it against the index's
digest and stores it. What this module does not do: render (the caller unpacks
with ``ArchiveTree``) or know about Kubernetes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from tether.git.semver import SemverError, parse_range, try_parse_version
from tether.sources.digestcache import DigestCache, normal_digest, sha256_digest, valid_digest
from tether.sources.errors import (
    SourceError,
    SourceNotFoundError,
    VersionNotFoundError,
)
from tether.sources.http import Credentials, HttpClient, expect_ok, resolve_link, shown_url

MAX_INDEX_BYTES = 64 * 1024 * 1024
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ChartVersion:
    """One entry of an index: a chart version, its digest and where to download it."""

    name: str
    version: str
    digest: str  # sha256:<hex>, or "" when the index gives none
    urls: tuple[str, ...]


@dataclass(frozen=True)
class HelmIndex:
    """The charts of one repository, by name, newest first as the index lists them."""

    url: str
    entries: Mapping[str, tuple[ChartVersion, ...]]


def index_url(repo_url: str) -> str:
    return repo_url.rstrip("/") + "/index.yaml"


def parse_index(data: bytes, url: str) -> HelmIndex:
    """The index in ``data``; raises ``SourceError`` naming the URL when it is not one."""
    try:
        # PyYAML's C loader: an index of thousands of versions parses in about half
        # ruamel's time, and an index needs no round-trip or YAML 1.1 subtleties.
        doc = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceError(f"index.yaml is not valid YAML{where}", url=shown_url(url)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict):
        raise SourceError("index.yaml has no entries: is this a Helm repository?", url=url)
    entries: dict[str, tuple[ChartVersion, ...]] = {}
    for name, versions in doc["entries"].items():
        if not isinstance(versions, list):
            continue
        found = []
        for item in versions:
            if not isinstance(item, dict) or "version" not in item:
                continue
            digest = str(item.get("digest") or "")
            found.append(
                ChartVersion(
                    name=str(name),
                    version=str(item["version"]),
                    digest=normal_digest(digest) if digest and valid_digest(digest) else "",
                    urls=tuple(str(u) for u in item.get("urls") or ()),
                )
            )
        entries[str(name)] = tuple(found)
    return HelmIndex(url, entries)


def select_version(index: HelmIndex, chart: str, wanted: str) -> ChartVersion:
    """The version of ``chart`` that ``wanted`` (a version or a range; "" = newest) names."""
    versions = index.entries.get(chart)
    if not versions:
        raise SourceNotFoundError(
            f"the repository has no chart {chart!r}", url=shown_url(index.url), ref=chart
        )
    text = wanted.strip()
    exact = [v for v in versions if v.version == text or v.version == text.removeprefix("v")]
    if exact:
        return exact[0]
    try:
        span = parse_range(text or "*")
    except SemverError as exc:
        raise VersionNotFoundError(
            f"{text!r} is neither a version of {chart!r} nor a version range: {exc}",
            url=shown_url(index.url),
            ref=text,
        ) from None
    candidates = [
        (v.version, parsed)
        for v in versions
        if (parsed := try_parse_version(v.version)) is not None
    ]
    best = span.best(candidates)
    if best is None:
        raise VersionNotFoundError(
            f"no version of chart {chart!r} matches {text or '*'!r}",
            url=shown_url(index.url),
            ref=text,
        )
    return next(v for v in versions if v.version == best[0])


class HelmRepoClient:
    """Index and chart access for Helm repositories, over one ``HttpClient``."""

    def __init__(self, http: HttpClient, cache: DigestCache) -> None:
        self.http = http
        self.cache = cache
        self._parsed: dict[str, tuple[bytes, HelmIndex]] = {}
        self._fetched: dict[tuple[str, str], tuple[float, HelmIndex]] = {}
        self._url_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def fetch_index(self, repo_url: str, credentials: Credentials) -> HelmIndex:
        """The repository's index; an unchanged one costs one conditional request.

        Callers that ask for the same index with the same credentials while a
        fetch of it is under way (every chart a Repository's apps follow, resolved
        together) wait for it and share its answer instead of asking again.
        """
        url = index_url(repo_url)
        arrived = time.monotonic()
        who = (url, hashlib.sha256((credentials.header() or "").encode()).hexdigest())
        with self._lock:
            url_lock = self._url_locks.setdefault(url, threading.Lock())
        with url_lock:
            recent = self._fetched.get(who)
            if recent is not None and recent[0] >= arrived:  # finished while we waited
                return recent[1]
            index = self._fetch(url, repo_url, credentials)
            self._fetched[who] = (time.monotonic(), index)
            return index

    def _fetch(self, url: str, repo_url: str, credentials: Credentials) -> HelmIndex:
        answer = self.http.get_conditional(url, credentials, home=repo_url, what="index.yaml")
        with self._lock:
            known = self._parsed.get(url)
        if known is not None and known[0] == answer.body:
            return known[1]
        index = parse_index(answer.body, url)
        with self._lock:
            self._parsed[url] = (answer.body, index)
        return index

    def download_chart(
        self, repo_url: str, entry: ChartVersion, credentials: Credentials
    ) -> tuple[str, bytes]:
        """(digest, bytes) of the chart archive, from the cache or verified on download."""
        if entry.digest:
            cached = self.cache.get(entry.digest)
            if cached is not None:
                return entry.digest, cached
        if not entry.urls:
            raise SourceNotFoundError(
                f"the index lists no download URL for {entry.name} {entry.version}",
                url=shown_url(repo_url),
            )
        link = resolve_link(repo_url.rstrip("/") + "/", entry.urls[0])
        answer = self.http.send("GET", link, credentials, home=repo_url)
        expect_ok(answer, link, f"chart {entry.name} {entry.version}", ref=entry.version)
        digest = entry.digest or sha256_digest(answer.body)
        self.cache.put(
            digest, answer.body, what=f"chart {entry.name} {entry.version}", url=shown_url(link)
        )
        return digest, answer.body
