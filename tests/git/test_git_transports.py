"""Each transport against a real server: success, wrong credentials, missing ref and repo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from git_servers import (
    HttpGitServer,
    Remote,
    SampleRepo,
    SSHServer,
    http_remote_for,
    keygen,
    ssh_remote_for,
)

from tether.git import (
    AuthenticationError,
    GitCache,
    HostKeyError,
    RefNotFoundError,
    RepositoryNotFoundError,
)


async def test_fetch_head_succeeds(
    remote: Remote, sample_repo: SampleRepo, cache: GitCache
) -> None:
    snap = await cache.fetch(
        remote.url(sample_repo.bare), auth=remote.auth, insecure=remote.insecure
    )
    assert snap.ref == "refs/heads/main"
    assert snap.commit == sample_repo.shas["main"]
    assert snap.revision == f"refs/heads/main@sha1:{sample_repo.shas['main']}"
    with cache.tree(snap) as tree:
        assert tree.read("manifests/a.yaml") == b"kind: A\n"


async def test_missing_ref_names_url_and_ref(
    remote: Remote, sample_repo: SampleRepo, cache: GitCache
) -> None:
    with pytest.raises(RefNotFoundError) as caught:
        await cache.fetch(
            remote.url(sample_repo.bare), "no-such-branch", remote.auth, insecure=remote.insecure
        )
    assert "no-such-branch" in str(caught.value)
    assert "sample" in str(caught.value)


async def test_missing_repository(remote: Remote, sample_repo: SampleRepo, cache: GitCache) -> None:
    missing = sample_repo.bare.parent / "nope.git"
    with pytest.raises(RepositoryNotFoundError):
        await cache.fetch(remote.url(missing), auth=remote.auth, insecure=remote.insecure)


@pytest.mark.parametrize("transport", ["http", "ssh"])
async def test_wrong_credentials(
    transport: str, request: pytest.FixtureRequest, sample_repo: SampleRepo, cache: GitCache
) -> None:
    remote = _named(request, transport)
    with pytest.raises(AuthenticationError) as caught:
        await cache.fetch(
            remote.url(sample_repo.bare), auth=remote.bad_auth, insecure=remote.insecure
        )
    _assert_no_secrets(str(caught.value), remote.bad_auth)
    assert cache.stats.fetches == 0


def _named(request: pytest.FixtureRequest, name: str) -> Remote:

    base = request.getfixturevalue("git_base")
    if name == "http":
        return http_remote_for(base, request.getfixturevalue("http_server"))
    return ssh_remote_for(request.getfixturevalue("sshd"))


def _assert_no_secrets(message: str, auth: dict[str, str | bytes]) -> None:
    for key, value in auth.items():
        if key in ("password", "bearerToken", "passphrase"):
            assert str(value) not in message
        if key == "identity":
            assert "PRIVATE KEY" not in message


async def test_http_without_credentials_is_auth_error(
    http_server: HttpGitServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    with pytest.raises(AuthenticationError):
        await cache.fetch(f"{http_server.url}/sample.git", insecure=True)


async def test_http_bearer_token(
    http_server: HttpGitServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    url = f"{http_server.url}/sample.git"
    snap = await cache.fetch(url, "dev", {"bearerToken": http_server.token}, insecure=True)
    assert snap.commit == sample_repo.shas["dev"]
    with pytest.raises(AuthenticationError) as caught:
        await GitCache(cache.root / "other").fetch(
            url, "dev", {"bearerToken": "tok-wrong-value"}, insecure=True
        )
    assert "tok-wrong-value" not in str(caught.value)


async def test_http_credentials_in_url_are_redacted(
    http_server: HttpGitServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    url = f"http://alice:bad-password-123@127.0.0.1:{http_server.port}/sample.git"
    with pytest.raises(AuthenticationError) as caught:
        await cache.fetch(url, insecure=True)
    assert "bad-password-123" not in str(caught.value)
    assert "alice@127.0.0.1" in str(caught.value)


async def test_ssh_unknown_host_key(
    sshd: SSHServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    auth = {"identity": sshd.client_key, "known_hosts": ""}
    with pytest.raises(HostKeyError) as caught:
        await cache.fetch(sshd.url(sample_repo.bare), auth=auth)
    assert caught.value.reason == "unknown"


async def test_ssh_known_hosts_for_another_host_is_unknown(
    sshd: SSHServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    auth = {
        "identity": sshd.client_key,
        "known_hosts": f"[127.0.0.9]:{sshd.port} {sshd.host_public}\n",
    }
    with pytest.raises(HostKeyError) as caught:
        await cache.fetch(sshd.url(sample_repo.bare), auth=auth)
    assert caught.value.reason == "unknown"


async def test_ssh_changed_host_key(
    sshd: SSHServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    impostor = sshd.folder / "impostor_host_key"
    if not impostor.exists():
        keygen(impostor)
    other = " ".join(impostor.with_suffix(".pub").read_text().split()[:2])
    auth = {"identity": sshd.client_key, "known_hosts": f"[127.0.0.1]:{sshd.port} {other}\n"}
    with pytest.raises(HostKeyError) as caught:
        await cache.fetch(sshd.url(sample_repo.bare), auth=auth)
    assert caught.value.reason == "changed"


async def test_ssh_passphrase_protected_key(
    sshd: SSHServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    auth = {
        "identity": sshd.encrypted_client_key,
        "passphrase": sshd.passphrase,
        "known_hosts": sshd.known_hosts,
    }
    snap = await cache.fetch(sshd.url(sample_repo.bare), "v1.0.0", auth)
    assert snap.commit == sample_repo.shas["c1"]


@pytest.mark.parametrize("passphrase", [None, "wrong horse"])
async def test_ssh_bad_passphrase(
    passphrase: str | None, sshd: SSHServer, sample_repo: SampleRepo, cache: GitCache
) -> None:
    auth: dict[str, str | bytes] = {
        "identity": sshd.encrypted_client_key,
        "known_hosts": sshd.known_hosts,
    }
    if passphrase:
        auth["passphrase"] = passphrase
    with pytest.raises(AuthenticationError) as caught:
        await cache.fetch(sshd.url(sample_repo.bare), auth=auth)
    assert "wrong horse" not in str(caught.value)
    assert not re.search(r"[A-Za-z0-9+/]{40,}", str(caught.value))


async def test_ssh_key_files_are_removed(
    sshd: SSHServer,
    sample_repo: SampleRepo,
    cache: GitCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    # A private temp root: /tmp is shared with other runs that make their own key folders.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    auth = {"identity": sshd.client_key, "known_hosts": sshd.known_hosts}
    await cache.fetch(sshd.url(sample_repo.bare), "dev", auth)
    with pytest.raises(HostKeyError):
        await cache.fetch(sshd.url(sample_repo.bare), "dev", {"identity": sshd.client_key})
    assert list(tmp_path.glob("tether-ssh-*")) == []
