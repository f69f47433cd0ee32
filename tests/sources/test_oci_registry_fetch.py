"""OCI sources against the real distribution registry, with htpasswd and with token auth.

Charts pushed with the pinned ``helm push``, plain manifests pushed with
``tether push artifact`` (through the same library call), resolved by tag,
range and digest, every digest checked, each auth mode right and wrong, an
unchanged tag costing one conditional request, and hostile layers refused.
"""

from __future__ import annotations

import gzip
import io
import itertools
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from source_servers import (
    PASSWORD,
    USER,
    RegistryServer,
    TokenServer,
    helm_push,
    helm_registry_login,
    package_chart,
    write_chart,
)

from tether.manifests import RenderOptions, render
from tether.sources import Access, ContentKind, Credentials, RepoType, SourceFetcher, SourceRequest
from tether.sources.artifact import pack_folder, push_artifact
from tether.sources.errors import (
    ArchiveError,
    DigestMismatchError,
    SourceAuthError,
    SourceNotFoundError,
    UnsupportedArtifactError,
    VersionNotFoundError,
)
from tether.sources.oci import FLUX_CONFIG, FLUX_LAYER, OciClient, parse_oci_url

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def pushed_chart(
    registry: RegistryServer, home: Path, namespace: str, name: str, version: str
) -> None:
    helm_registry_login(registry, home)
    tgz = package_chart(write_chart(home / "src", name, version), home / "pkg", home)
    helm_push(registry, tgz, namespace, home)


def manifests_folder(root: Path, text: str = "one") -> Path:
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  v: {text}\n"
    )
    (root / "sub" / "other.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n"
    )
    return root


# -- charts ---------------------------------------------------------------------------


def test_helm_pushed_chart_resolves_by_tag_range_and_digest(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    name = unique("chart")
    for version in ("1.0.0", "1.4.0", "2.0.0"):
        pushed_chart(registry, tmp_path / "helm", "charts", name, version)
    base = f"{registry.url}/charts"
    by_tag = fetcher.resolve(SourceRequest(RepoType.OCI, base, name, "1.0.0"), good_access)
    by_range = fetcher.resolve(SourceRequest(RepoType.OCI, base, name, "^1.0"), good_access)
    assert (by_tag.version, by_range.version) == ("1.0.0", "1.4.0")
    assert by_range.kind is ContentKind.CHART
    assert by_range.display == f"1.4.0@{by_range.digest}"
    pinned = fetcher.resolve(SourceRequest(RepoType.OCI, base, name, by_range.digest), good_access)
    assert (pinned.digest, pinned.blob) == (by_range.digest, by_range.blob)
    tree, path = fetcher.tree(pinned)
    [obj] = render(tree, path, RenderOptions(), app_name="rel", cache_key=None).objects
    assert obj["data"]["version"] == "1.4.0"


def test_a_range_over_tags_moves_when_a_version_is_pushed(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    name = unique("moving")
    home = tmp_path / "helm"
    pushed_chart(registry, home, "charts", name, "0.1.0")
    request = SourceRequest(RepoType.OCI, f"{registry.url}/charts", name, ">=0.1.0 <1")
    assert fetcher.resolve(request, good_access).version == "0.1.0"
    pushed_chart(registry, home, "charts", name, "0.2.0")
    assert fetcher.resolve(request, good_access).version == "0.2.0"
    with pytest.raises(VersionNotFoundError):
        fetcher.resolve(replace(request, revision=">=5"), good_access)


def test_an_unknown_digest_or_tag_is_not_found(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    name = unique("missing")
    pushed_chart(registry, tmp_path / "helm", "charts", name, "1.0.0")
    base = f"{registry.url}/charts"
    with pytest.raises(SourceNotFoundError):
        fetcher.resolve(SourceRequest(RepoType.OCI, base, name, "9.9.9"), good_access)
    with pytest.raises(SourceNotFoundError):
        fetcher.resolve(SourceRequest(RepoType.OCI, base, name, "sha256:" + "0" * 64), good_access)


def test_htpasswd_wrong_and_missing_credentials_are_refused(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    name = unique("guarded")
    pushed_chart(registry, tmp_path / "helm", "charts", name, "1.0.0")
    request = SourceRequest(RepoType.OCI, f"{registry.url}/charts", name, "1.0.0")
    for credentials in (Credentials(USER, "nope-pass-xyz"), Credentials()):
        with pytest.raises(SourceAuthError) as caught:
            fetcher.resolve(request, replace(good_access, credentials=credentials))
        assert "nope-pass-xyz" not in str(caught.value)


# -- token auth -----------------------------------------------------------------------


def test_token_auth_exchanges_basic_credentials_for_a_token(
    token_registry: RegistryServer,
    token_service: TokenServer,
    tmp_path: Path,
    fetcher: SourceFetcher,
    good_access: Access,
) -> None:
    url = f"{token_registry.url}/apps/{unique('tok')}:v1"
    pushed = push_artifact(fetcher, manifests_folder(tmp_path / "m"), url, good_access)
    base, _, tag = url.rpartition(":")
    token_service.traffic.reset()
    reader = SourceFetcher(tmp_path / "reader")
    artifact = reader.resolve(SourceRequest(RepoType.OCI, base, "", tag), good_access)
    assert pushed == f"v1@{artifact.digest}"
    assert sum(token_service.traffic.requests.values()) == 1  # one token for the pull scope
    for credentials in (Credentials(USER, "bad-token-pass"), Credentials()):
        with pytest.raises(SourceAuthError) as caught:
            SourceFetcher(tmp_path / "x").resolve(
                SourceRequest(RepoType.OCI, base, "", tag),
                replace(good_access, credentials=credentials),
            )
        assert "bad-token-pass" not in str(caught.value)


# -- artifacts ------------------------------------------------------------------------


def test_pushed_artifact_renders_as_a_plain_folder(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    url = f"{registry.url}/apps/{unique('plain')}"
    push_artifact(fetcher, manifests_folder(tmp_path / "m", "first"), f"{url}:1.0.0", good_access)
    artifact = SourceFetcher(tmp_path / "r").resolve(
        SourceRequest(RepoType.OCI, url, "", "1.0.0"), good_access
    )
    assert artifact.kind is ContentKind.MANIFESTS
    tree, path = SourceFetcher(tmp_path / "r").tree(artifact)
    options = RenderOptions()
    from tether.manifests.options import DirectoryOptions

    flat = render(tree, path, options, app_name="a", cache_key=None)
    deep = render(
        tree,
        path,
        RenderOptions(directory=DirectoryOptions(recurse=True)),
        app_name="a",
        cache_key=None,
    )
    assert [o["metadata"]["name"] for o in flat.objects] == ["plain"]
    assert sorted(o["metadata"]["name"] for o in deep.objects) == ["nested", "plain"]


def test_an_unchanged_tag_costs_one_conditional_request(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    url = f"{registry.url}/apps/{unique('still')}"
    push_artifact(fetcher, manifests_folder(tmp_path / "m"), f"{url}:stable", good_access)
    reader = SourceFetcher(tmp_path / "r")
    request = SourceRequest(RepoType.OCI, url, "", "stable")
    first = reader.resolve(request, good_access)
    client = reader.http(good_access)
    before = (client.counters.requests, client.counters.not_modified)
    assert reader.resolve(request, good_access) == first
    assert (client.counters.requests - before[0], client.counters.not_modified - before[1]) == (
        1,
        1,
    )


def _layer(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in entries:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(buffer.getvalue())


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, b""


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(tarfile.TarInfo("../escape.yaml"), b"a: 1\n")], "must not contain '..'"),
        ([(tarfile.TarInfo("/etc/abs.yaml"), b"a: 1\n")], "absolute path"),
        ([_symlink("link.yaml", "../../etc/passwd")], "links outside the archive"),
        ([_symlink("link.yaml", "/etc/passwd")], "links outside the archive"),
    ],
    ids=["dotdot", "absolute", "symlink-up", "symlink-absolute"],
)
def test_hostile_layers_are_refused(
    registry: RegistryServer,
    tmp_path: Path,
    fetcher: SourceFetcher,
    good_access: Access,
    entries: list[tuple[tarfile.TarInfo, bytes]],
    message: str,
) -> None:
    url = f"{registry.url}/apps/{unique('hostile')}"
    client = OciClient(fetcher.http(good_access), fetcher.cache)
    client.push(
        parse_oci_url(url),
        "bad",
        config=(FLUX_CONFIG, b"{}"),
        layers=[(FLUX_LAYER, _layer(entries))],
        credentials=good_access.credentials,
    )
    artifact = fetcher.resolve(SourceRequest(RepoType.OCI, url, "", "bad"), good_access)
    with pytest.raises(ArchiveError, match=message):
        fetcher.tree(artifact)


def test_a_layer_whose_bytes_differ_from_its_digest_is_refused(
    registry: RegistryServer, tmp_path: Path, fetcher: SourceFetcher, good_access: Access
) -> None:
    url = f"{registry.url}/apps/{unique('mismatch')}"
    push_artifact(fetcher, manifests_folder(tmp_path / "m"), f"{url}:1", good_access)
    probe = SourceFetcher(tmp_path / "probe")
    layer = probe.resolve(SourceRequest(RepoType.OCI, url, "", "1"), good_access).blob
    hexdigest = layer.split(":", 1)[1]
    stored = registry.folder / "data/docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest
    (stored / "data").write_bytes(pack_folder(manifests_folder(tmp_path / "evil", "evil")))
    reader = SourceFetcher(tmp_path / "r")
    with pytest.raises(DigestMismatchError, match="expected sha256:"):
        reader.resolve(SourceRequest(RepoType.OCI, url, "", "1"), good_access)
    assert reader.cache.get(layer) is None  # nothing unverified was kept


def test_an_image_is_not_an_artifact_tether_renders(
    registry: RegistryServer, fetcher: SourceFetcher, good_access: Access
) -> None:
    url = f"{registry.url}/apps/{unique('image')}"
    OciClient(fetcher.http(good_access), fetcher.cache).push(
        parse_oci_url(url),
        "v1",
        config=("application/vnd.oci.image.config.v1+json", b"{}"),
        layers=[
            ("application/vnd.oci.image.layer.v1.tar+gzip", pack_folder(Path(__file__).parent))
        ],
        credentials=good_access.credentials,
    )
    with pytest.raises(UnsupportedArtifactError, match="neither a Helm chart"):
        fetcher.resolve(SourceRequest(RepoType.OCI, url, "", "v1"), good_access)
    assert PASSWORD not in repr(good_access)


@pytest.mark.parametrize("which", ["htpasswd", "token"])
def test_probe_checks_the_registry_and_its_credentials(
    registry: RegistryServer,
    token_registry: RegistryServer,
    fetcher: SourceFetcher,
    good_access: Access,
    which: str,
) -> None:
    server = registry if which == "htpasswd" else token_registry
    request = SourceRequest(RepoType.OCI, f"{server.url}/anything", "", "")
    fetcher.probe(request, good_access)
    with pytest.raises(SourceAuthError):
        SourceFetcher(fetcher.cache.root / "other").probe(
            request, replace(good_access, credentials=Credentials(USER, "wrong-probe"))
        )
