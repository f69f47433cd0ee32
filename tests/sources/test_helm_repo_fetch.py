"""Helm repository sources against a real HTTPS Helm repository (index.yaml + helm package).

Each auth mode right and wrong, a range that moves when a version is published,
a digest mismatch refused, an unchanged index costing one conditional request,
TLS trust from the CA bundle only, and the chart rendering through the
ordinary Helm renderer.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from source_servers import PASSWORD, USER, HelmRepoServer, publish

from tether.manifests import RenderOptions, render
from tether.manifests.options import HelmOptions
from tether.sources import Access, ContentKind, Credentials, RepoType, SourceFetcher, SourceRequest
from tether.sources.errors import (
    DigestMismatchError,
    InsecureSourceError,
    SourceAuthError,
    SourceFetchError,
    SourceNotFoundError,
    VersionNotFoundError,
)


def chart(server: HelmRepoServer, revision: str, name: str = "demo") -> SourceRequest:
    return SourceRequest(RepoType.HELM, server.url, name, revision)


def test_basic_auth_resolves_the_newest_in_range_with_the_index_digest(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    artifact = fetcher.resolve(chart(helm_repo, "^1.0.0"), good_access)
    packaged = (helm_repo.root / "demo-1.1.0.tgz").read_bytes()
    assert artifact.version == "1.1.0"
    assert artifact.digest == "sha256:" + hashlib.sha256(packaged).hexdigest()
    assert artifact.display == f"1.1.0@{artifact.digest}"
    assert artifact.kind is ContentKind.CHART


def test_the_chart_renders_with_the_helm_renderer(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    artifact = fetcher.resolve(chart(helm_repo, "1.0.0"), good_access)
    tree, path = fetcher.tree(artifact)
    options = RenderOptions(helm=HelmOptions(values="message: from-values\n", release_name="web"))
    result = render(tree, path, options, app_name="app", cache_key=None)
    [configmap] = result.objects
    assert configmap["metadata"]["name"] == "web-demo"
    assert configmap["data"] == {"version": "1.0.0", "message": "from-values"}


def test_bearer_token_is_accepted(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    helm_repo.bearer = "tok-123-abc"
    access = replace(good_access, credentials=Credentials(bearer_token="tok-123-abc"))
    assert fetcher.resolve(chart(helm_repo, "1.0.0"), access).version == "1.0.0"


@pytest.mark.parametrize(
    "credentials",
    [Credentials(USER, "wrong-pass-xyz"), Credentials(), Credentials(bearer_token="bad-token-xyz")],
    ids=["wrong-password", "anonymous", "wrong-bearer"],
)
def test_wrong_or_missing_credentials_are_refused_without_echoing_them(
    helm_repo: HelmRepoServer,
    fetcher: SourceFetcher,
    good_access: Access,
    credentials: Credentials,
) -> None:
    helm_repo.bearer = "tok-123-abc"
    with pytest.raises(SourceAuthError) as caught:
        fetcher.resolve(chart(helm_repo, "1.0.0"), replace(good_access, credentials=credentials))
    text = str(caught.value)
    assert "401" in text and "index.yaml" in text
    assert "wrong-pass-xyz" not in text and "bad-token-xyz" not in text


def test_a_range_moves_when_a_new_version_is_published(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access, helm_home: Path
) -> None:
    assert fetcher.resolve(chart(helm_repo, ">=1.0.0 <2.0.0"), good_access).version == "1.1.0"
    publish(helm_repo.root, "demo", "1.2.0", helm_home)
    publish(helm_repo.root, "demo", "2.0.0", helm_home)
    moved = fetcher.resolve(chart(helm_repo, ">=1.0.0 <2.0.0"), good_access)
    assert moved.version == "1.2.0"
    tree, path = fetcher.tree(moved)
    assert b"version: 1.2.0" in tree.read(f"{path}/Chart.yaml")


def test_a_chart_whose_bytes_differ_from_the_index_digest_is_refused(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access, helm_home: Path
) -> None:
    other = publish(helm_repo.root / "elsewhere", "demo", "1.1.0", helm_home, message="evil")
    (helm_repo.root / "demo-1.1.0.tgz").write_bytes(other.read_bytes())  # index unchanged
    with pytest.raises(DigestMismatchError) as caught:
        fetcher.resolve(chart(helm_repo, "1.1.0"), good_access)
    assert "chart demo 1.1.0" in str(caught.value)
    assert not list(fetcher.cache.root.rglob("sha256/*"))  # nothing unverified was kept


def test_an_unchanged_index_costs_one_conditional_request(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    first = fetcher.resolve(chart(helm_repo, "^1.0.0"), good_access)
    helm_repo.traffic.reset()
    again = fetcher.resolve(chart(helm_repo, "^1.0.0"), good_access)
    assert again == first
    assert dict(helm_repo.traffic.requests) == {"GET /charts/index.yaml": 1}
    assert dict(helm_repo.traffic.statuses) == {304: 1}
    assert helm_repo.traffic.bytes_out == 0


def test_the_download_is_shared_by_digest_across_fetchers(
    helm_repo: HelmRepoServer, tmp_path: Path, good_access: Access
) -> None:
    one = SourceFetcher(tmp_path / "shared")
    one.resolve(chart(helm_repo, "1.0.0"), good_access)
    helm_repo.traffic.reset()
    two = SourceFetcher(tmp_path / "shared")  # another app / process on the same cache
    two.resolve(chart(helm_repo, "1.0.0"), good_access)
    assert dict(helm_repo.traffic.requests) == {"GET /charts/index.yaml": 1}


def test_missing_chart_and_version_have_their_own_errors(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    with pytest.raises(SourceNotFoundError, match="no chart 'nope'"):
        fetcher.resolve(chart(helm_repo, "1.0.0", name="nope"), good_access)
    with pytest.raises(VersionNotFoundError, match="no version of chart 'demo' matches"):
        fetcher.resolve(chart(helm_repo, ">=3"), good_access)


def test_tls_is_verified_against_the_ca_bundle(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    with pytest.raises(SourceFetchError, match="TLS failed"):
        fetcher.resolve(chart(helm_repo, "1.0.0"), replace(good_access, ca_pem=None))


def test_plain_http_needs_insecure(fetcher: SourceFetcher, good_access: Access) -> None:
    request = SourceRequest(RepoType.HELM, "http://127.0.0.1:1/charts", "demo", "1.0.0")
    with pytest.raises(InsecureSourceError, match="insecure"):
        fetcher.resolve(request, good_access)
    assert PASSWORD not in repr(good_access)


def test_probe_reads_the_index_with_the_credentials(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    fetcher.probe(chart(helm_repo, ""), good_access)
    with pytest.raises(SourceAuthError):
        fetcher.probe(
            chart(helm_repo, ""), replace(good_access, credentials=Credentials(USER, "no"))
        )


def test_concurrent_resolves_of_one_repository_share_one_index_request(
    helm_repo: HelmRepoServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    fetcher.resolve(chart(helm_repo, "1.0.0"), good_access)  # charts cached
    fetcher.resolve(chart(helm_repo, "1.1.0"), good_access)
    helm_repo.traffic.reset()
    helm_repo.delay = 0.5  # the first request is still out when the others arrive
    with ThreadPoolExecutor(8) as pool:
        found = list(
            pool.map(
                lambda v: fetcher.resolve(chart(helm_repo, v), good_access).version,
                ["1.0.0", "1.1.0"] * 4,
            )
        )
    assert found == ["1.0.0", "1.1.0"] * 4
    assert 1 <= helm_repo.traffic.requests["GET /charts/index.yaml"] < 8
