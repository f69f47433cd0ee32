"""URL parsing, the insecure rule, redaction and the cache key."""

from __future__ import annotations

import pytest

from tether.git.errors import InsecureURLError
from tether.git.urls import normalize_url, parse_url, redact


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "user", "path"),
    [
        ("https://github.com/org/repo.git", "https", "github.com", None, None, "/org/repo.git"),
        ("https://u:p@git.example.com:8443/r", "https", "git.example.com", 8443, "u", "/r"),
        ("ssh://git@host:2222/org/repo.git", "ssh", "host", 2222, "git", "/org/repo.git"),
        ("git+ssh://git@host/org/repo", "ssh", "host", None, "git", "/org/repo"),
        ("git@github.com:org/repo.git", "ssh", "github.com", None, "git", "org/repo.git"),
        ("host.example:repo", "ssh", "host.example", None, None, "repo"),
        ("git@host:/abs/repo.git", "ssh", "host", None, "git", "/abs/repo.git"),
    ],
)
def test_parse(
    url: str, scheme: str, host: str, port: int | None, user: str | None, path: str
) -> None:
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.username, parsed.path) == (
        scheme,
        host,
        port,
        user,
        path,
    )


@pytest.mark.parametrize(
    "url", ["http://h/r.git", "git://h/r.git", "file:///srv/r.git", "HTTP://h/r"]
)
def test_insecure_needs_flag(url: str) -> None:
    with pytest.raises(InsecureURLError, match="insecure: true"):
        parse_url(url)
    assert parse_url(url, insecure=True).scheme in ("http", "git", "file")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://h/r",
        "https://",
        "https://h/r?x=1",
        "https://h/r#frag",
        "file://remote/r",
        "just-a-word",
        "https://h:99999/r",
    ],
)
def test_malformed(url: str) -> None:
    with pytest.raises(InsecureURLError):
        parse_url(url, insecure=True)


def test_errors_never_echo_passwords() -> None:
    with pytest.raises(InsecureURLError) as caught:
        parse_url("http://user:hunter2@h/r")
    assert "hunter2" not in str(caught.value)
    assert redact("https://user:hunter2@h/r") == "https://user@h/r"
    assert "hunter2" not in parse_url("https://user:hunter2@h/r").redacted


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://GitHub.com/org/repo.git", "https://github.com/org/repo"),
        ("https://github.com/org/repo/", "https://github.com:443/org/repo.git"),
        ("https://user:pw@github.com/org/repo", "https://github.com/org/repo"),
        ("git@github.com:org/repo.git", "ssh://git@github.com/org/repo"),
        ("ssh://github.com:22/org//repo", "ssh://other@github.com/org/repo.git"),
    ],
)
def test_normalize_equates_spellings(a: str, b: str) -> None:
    assert normalize_url(a) == normalize_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/org/repo", "http://github.com/org/repo"),
        ("https://github.com/org/repo", "https://github.com/org/Repo"),
        ("https://github.com:8443/org/repo", "https://github.com/org/repo"),
        ("ssh://h/org/repo", "https://h/org/repo"),
    ],
)
def test_normalize_keeps_different_repos_apart(a: str, b: str) -> None:
    assert normalize_url(a) != normalize_url(b)


def test_normalized_has_no_credentials() -> None:
    assert normalize_url("https://u:secret@h/r.git") == "https://h/r"
