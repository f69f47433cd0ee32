"""Check the shape of a Git URL in a spec: transport, host, no embedded password.

This is validation only, so that a Repository or Application with a bad URL is
refused with a clear message before anything connects. Which local folders a
``file://`` URL may name is an operator setting, not part of the spec: that
rule is ``tether.git.urls.FileURLPolicy``, applied by the Git cache. Parsing a URL for use (host,
port, path, credentials) belongs to ``tether.git``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

Transport = Literal["https", "ssh", "http", "git", "file"]

SECURE_SCHEMES: frozenset[str] = frozenset({"https", "ssh"})
INSECURE_SCHEMES: frozenset[str] = frozenset({"http", "git", "file"})
MAX_URL_LENGTH = 2048

# [user@]host:path, as git itself reads it; "host:" must not be followed by "//".
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s]+$")


def url_transport(url: str) -> Transport:
    """The transport a Git URL uses, or ValueError saying what forms are accepted."""
    if not url:
        raise ValueError("the Git URL is empty: set it, for example https://host/org/repo.git")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the Git URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() for ch in url):
        raise ValueError("the Git URL contains whitespace: remove it")
    if "://" not in url:
        if _SCP_LIKE.match(url):
            return "ssh"
        raise ValueError(
            "not a Git URL: use https://host/org/repo.git, ssh://git@host/org/repo.git "
            "or git@host:org/repo.git"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SECURE_SCHEMES | INSECURE_SCHEMES:
        raise ValueError(
            f"unsupported URL scheme {scheme + '://'!r}: use https://, ssh:// or git@host:path "
            "(http://, git:// and file:// need insecure: true)"
        )
    if scheme == "file":
        if not parts.path:
            raise ValueError("a file:// URL needs a path, for example file:///srv/git/repo.git")
    elif not parts.hostname:
        raise ValueError(f"the {scheme}:// URL has no host")
    if parts.password is not None:
        raise ValueError(
            "the URL contains a password: remove it and put the credentials in a Secret "
            "named by secretRef"
        )
    return scheme  # type: ignore[return-value]


def check_git_url(url: str, insecure: bool) -> str:
    """Return ``url`` when its form is accepted with this ``insecure`` setting."""
    transport = url_transport(url)
    if transport in INSECURE_SCHEMES and not insecure:
        raise ValueError(
            f"{transport}:// URLs are not encrypted or authenticated: use https:// or ssh://, "
            "or set insecure: true to allow it"
        )
    return url


def check_source_url(url: str, repo_type: str, insecure: bool) -> str:
    """Return ``url`` when its form suits a Repository of ``repo_type`` (git, helm or oci)."""
    if repo_type == "git":
        return check_git_url(url, insecure)
    if any(ch.isspace() for ch in url) or len(url) > MAX_URL_LENGTH:
        raise ValueError("the URL contains whitespace or is too long")
    parts = urlsplit(url)
    if parts.password is not None:
        raise ValueError(
            "the URL contains a password: remove it and put the credentials in a Secret "
            "named by secretRef"
        )
    if repo_type == "helm":
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("a helm Repository URL is https://host/path (the index.yaml folder)")
        if parts.scheme == "http" and not insecure:
            raise ValueError("http:// is not encrypted: use https://, or set insecure: true")
        return url
    if parts.scheme != "oci" or not parts.hostname:
        raise ValueError("an oci Repository URL is oci://host/path")
    if "@" in parts.path or ":" in parts.path.rsplit("/", 1)[-1]:
        raise ValueError(
            "an oci Repository URL names a registry path without a tag or digest; "
            "put the tag, range or digest in the Application's revision"
        )
    return url
