"""Pure parts of the helm/oci source layer: keys, URL forms, version picks, archives, reasons."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from pydantic import ValidationError

from tether.api.conditions import Reason
from tether.api.repository import RepositorySpec
from tether.controller.application import chart_mismatch
from tether.controller.repository import classify
from tether.sources import RepoType
from tether.sources.archive import ArchiveTree
from tether.sources.errors import (
    ArchiveError,
    DigestMismatchError,
    SourceAuthError,
    SourceFetchError,
    SourceNotFoundError,
    VersionNotFoundError,
)
from tether.sources.fetch import looks_like_range, source_request, split_key
from tether.sources.helmrepo import ChartVersion, HelmIndex, parse_index, select_version
from tether.sources.http import Credentials, parse_challenge, shown_url
from tether.sources.oci import classify_manifest, parse_oci_url


@pytest.mark.parametrize(
    ("key", "chart", "revision"),
    [
        ("demo@^1.0", "demo", "^1.0"),
        ("1.2.3", "", "1.2.3"),
        ("demo@HEAD", "demo", ""),
        ("app@sha256:" + "a" * 64, "app", "sha256:" + "a" * 64),
    ],
)
def test_a_followed_key_splits_into_chart_and_revision(key: str, chart: str, revision: str) -> None:
    request = source_request("oci", "oci://r/x", *split_key(key))
    assert (request.chart, request.revision, request.type) == (chart, revision, RepoType.OCI)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"type": "helm", "url": "https://charts.example/stable"}, None),
        ({"type": "helm", "url": "http://charts.example"}, "insecure"),
        ({"type": "helm", "url": "http://charts.example", "insecure": True}, None),
        ({"type": "helm", "url": "oci://r/x"}, "helm Repository URL"),
        ({"type": "oci", "url": "oci://registry.example/charts"}, None),
        ({"type": "oci", "url": "oci://registry.example/charts:1.0"}, "without a tag"),
        ({"type": "oci", "url": "https://registry.example/charts"}, "oci://host/path"),
        ({"type": "oci", "url": "oci://u:p@registry.example/x"}, "password"),
        ({"type": "helm", "url": "https://c.example", "depth": 2}, "git Repositories only"),
        ({"url": "oci://r/x"}, "scheme"),
    ],
)
def test_repository_url_forms_follow_the_type(spec: dict[str, object], error: str | None) -> None:
    if error is None:
        RepositorySpec.model_validate(spec)
        return
    with pytest.raises(ValidationError, match=error):
        RepositorySpec.model_validate(spec)


def test_chart_only_with_helm_or_oci_repositories() -> None:
    assert "needs a helm or oci Repository" in (chart_mismatch(RepoType.GIT, "demo", "r") or "")
    assert "set source.chart" in (chart_mismatch(RepoType.HELM, "", "r") or "")
    assert chart_mismatch(RepoType.OCI, "", "r") is None
    assert chart_mismatch(RepoType.HELM, "demo", "r") is None


@pytest.mark.parametrize(
    ("error", "reason", "stalled"),
    [
        (SourceAuthError("x"), Reason.AUTHENTICATION_FAILED, True),
        (SourceNotFoundError("x"), Reason.NOT_FOUND, False),
        (VersionNotFoundError("x"), Reason.REF_NOT_FOUND, False),
        (DigestMismatchError("x"), Reason.DIGEST_MISMATCH, False),
        (ArchiveError("x"), Reason.INVALID_ARTIFACT, False),
        (SourceFetchError("x"), Reason.FETCH_FAILED, False),
    ],
)
def test_source_errors_have_named_reasons(error: Exception, reason: Reason, stalled: bool) -> None:
    failure = classify(error)
    assert (failure.reason, failure.stalled) == (reason, stalled)


INDEX = b"""
apiVersion: v1
entries:
  demo:
  - {version: 2.0.0, digest: "%s", urls: [demo-2.0.0.tgz]}
  - {version: 1.3.0-rc.1, urls: [demo-1.3.0-rc.1.tgz]}
  - {version: 1.2.0, urls: ["https://cdn.example/demo-1.2.0.tgz"]}
  - {version: 1.0.0, urls: [demo-1.0.0.tgz]}
""" % (b"a" * 64)


@pytest.mark.parametrize(
    ("wanted", "version"),
    [
        ("", "2.0.0"),
        ("*", "2.0.0"),
        ("^1.0", "1.2.0"),
        ("1.0.0", "1.0.0"),
        ("v1.0.0", "1.0.0"),
        ("~1.0", "1.0.0"),
        (">=1.3.0-rc.0 <2", "1.3.0-rc.1"),
    ],
)
def test_select_version_from_an_index(wanted: str, version: str) -> None:
    index = parse_index(INDEX, "https://c.example/index.yaml")
    assert select_version(index, "demo", wanted).version == version
    assert index.entries["demo"][0].digest == "sha256:" + "a" * 64


def test_select_version_errors_name_the_chart() -> None:
    index = HelmIndex("u", {"demo": (ChartVersion("demo", "1.0.0", "", ()),)})
    with pytest.raises(SourceNotFoundError, match="no chart 'other'"):
        select_version(index, "other", "")
    with pytest.raises(VersionNotFoundError, match="no version of chart 'demo'"):
        select_version(index, "demo", ">=2")


def test_an_index_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(Exception, match=r"index\.yaml"):
        parse_index(b"entries: [unclosed", "https://c.example/index.yaml")


def test_challenge_and_credentials_never_print_secrets() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer" and params["scope"] == "repository:a/b:pull"
    assert "hunter2" not in repr(Credentials("me", "hunter2"))
    assert shown_url("https://me:hunter2@h.example/x?token=1") == "https://h.example/x"


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("oci://r.example:5000/a/b:1.0", ("r.example:5000", "a/b", "1.0", "")),
        ("oci://r.example/a@sha256:" + "b" * 64, ("r.example", "a", "", "sha256:" + "b" * 64)),
        ("oci://r.example/a/b", ("r.example", "a/b", "", "")),
    ],
)
def test_oci_references_parse(url: str, parts: tuple[str, str, str, str]) -> None:
    ref = parse_oci_url(url)
    assert (ref.host, ref.path, ref.tag, ref.digest) == parts


def test_range_hints() -> None:
    assert looks_like_range(">=1 <2") and looks_like_range("1.x") and looks_like_range("^1")
    assert not looks_like_range("1.2.3") and not looks_like_range("latest")


def test_manifest_classes() -> None:
    flux = (
        b'{"config":{"mediaType":"application/vnd.cncf.flux.config.v1+json"},'
        b'"layers":[{"mediaType":"application/vnd.cncf.flux.content.v1.tar+gzip",'
        b'"digest":"sha256:' + b"c" * 64 + b'","size":3}]}'
    )
    kind, layer, size = classify_manifest(flux, "w")
    assert (kind, layer, size) == ("manifests", "sha256:" + "c" * 64, 3)


def _tgz(*members: tuple[str, bytes | None, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    return gzip.compress(buffer.getvalue())


def test_archive_tree_reads_files_and_in_tree_links() -> None:
    tree = ArchiveTree.from_tgz(
        _tgz(
            ("c/Chart.yaml", b"name: c", ""), ("c/t/a.yaml", b"a", ""), ("c/link", None, "t/a.yaml")
        )
    )
    assert tree.top_folders() == ["c"]
    assert tree.read("c/link") == b"a"
    assert [e.name for e in tree.listdir("c")] == ["Chart.yaml", "link", "t"]
    assert tree.kind("c/t") == "dir" and tree.kind("nope") is None


@pytest.mark.parametrize(
    "member",
    [
        ("../x", b"", ""),
        ("/abs", b"", ""),
        ("a/../../x", b"", ""),
        ("l", None, "../../etc"),
        ("d/l", None, "/etc/passwd"),
        ("a\\b", b"", ""),
    ],
)
def test_archive_tree_refuses_escapes(member: tuple[str, bytes | None, str]) -> None:
    with pytest.raises(ArchiveError):
        ArchiveTree.from_tgz(_tgz(member))


def test_archive_tree_refuses_link_loops_and_junk() -> None:
    with pytest.raises(Exception, match="loop"):
        ArchiveTree.from_tgz(_tgz(("a", None, "b"), ("b", None, "a")))
    with pytest.raises(ArchiveError, match=r"not a gzip|not a tar"):
        ArchiveTree.from_tgz(b"\x1f\x8bnot really")
