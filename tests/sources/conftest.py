"""Fixtures: a Helm repository over HTTPS with basic auth, and the distribution registry
with htpasswd and with token auth, all on 127.0.0.1 with TLS from a test CA.

A missing registry or helm binary fails the test (it never skips): run
``bash e2e/build-tools.sh registry helm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from source_servers import (
    HELM_BIN,
    PASSWORD,
    USER,
    HelmRepoServer,
    RegistryServer,
    ServerTLS,
    TokenServer,
    make_tls,
    publish,
    serving,
)

from tether.sources import Access, Credentials, SourceFetcher


@pytest.fixture(scope="session")
def source_tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTLS:
    return make_tls(tmp_path_factory.mktemp("source-tls"))


@pytest.fixture(scope="session")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HELM_BIN.exists():
        pytest.fail(f"{HELM_BIN} is missing: run `bash e2e/build-tools.sh helm`")
    return tmp_path_factory.mktemp("helm-home")


@pytest.fixture
def helm_repo(tmp_path: Path, source_tls: ServerTLS, helm_home: Path) -> Iterator[HelmRepoServer]:
    """A fresh repository serving chart ``demo`` 1.0.0 and 1.1.0."""
    folder = tmp_path / "served"
    folder.mkdir()
    publish(folder, "demo", "1.0.0", helm_home)
    publish(folder, "demo", "1.1.0", helm_home)
    with serving(HelmRepoServer(folder, source_tls)) as server:
        yield server


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, source_tls: ServerTLS
) -> Iterator[RegistryServer]:
    """The registry with htpasswd auth."""
    with serving(RegistryServer(tmp_path_factory.mktemp("registry-htpasswd"), source_tls)) as s:
        yield s


@pytest.fixture(scope="session")
def token_service(
    tmp_path_factory: pytest.TempPathFactory, source_tls: ServerTLS
) -> Iterator[TokenServer]:
    with serving(TokenServer(tmp_path_factory.mktemp("token-service"), source_tls)) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, source_tls: ServerTLS, token_service: TokenServer
) -> Iterator[RegistryServer]:
    """The registry with token auth, its tokens signed by ``token_service``."""
    folder = tmp_path_factory.mktemp("registry-token")
    with serving(RegistryServer(folder, source_tls, token=token_service)) as server:
        yield server


@pytest.fixture
def fetcher(tmp_path: Path) -> SourceFetcher:
    return SourceFetcher(tmp_path / "digests")


@pytest.fixture
def good_access(source_tls: ServerTLS) -> Access:
    return Access(Credentials(USER, PASSWORD), ca_pem=source_tls.ca_pem, timeout=20)
