"""Parse, check and normalize Git remote URLs.

Accepts ``https://``, ``ssh://`` and the scp-like ``user@host:path`` form; the
plain-text and local transports (``http://``, ``git://``, ``file://``) only when
the caller passes ``insecure=True``. ``normalize_url`` gives the cache key, so
that spellings of the same repository share one cache. ``redact`` strips any
password so URLs can go into messages. Nothing here touches the network.

``FileURLPolicy`` is the one rule for ``file://``: which local folders a URL
may name (none in the operator unless configured, any for the CLI) and never
the Git cache itself, after resolving symlinks and the repository's own
redirections (a ``.git`` file, ``commondir``, object alternates).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from tether.git.errors import InsecureURLError
from tether.messages import Hint

SECURE_SCHEMES = frozenset({"https", "ssh"})
INSECURE_SCHEMES = frozenset({"http", "git", "file"})
_SCHEME_ALIASES = {"git+ssh": "ssh", "ssh+git": "ssh"}
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>[^/].*|/.*)$"
)


@dataclass(frozen=True)
class GitURL:
    """A parsed remote. ``path`` is as the transport needs it (scp-like paths stay relative)."""

    scheme: str
    host: str
    port: int | None
    username: str | None
    password: str | None
    path: str
    scp_like: bool = False

    @property
    def redacted(self) -> str:
        """The URL as the user wrote it, minus any password."""
        if self.scp_like:
            user = f"{self.username}@" if self.username else ""
            return f"{user}{self.host}:{self.path}"
        if self.scheme == "file":
            return f"file://{self.path}"
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{user}{self.host}{port}{self.path}"

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]path`` with no credentials, for HTTP clients."""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"


def parse_url(url: str, *, insecure: bool = False) -> GitURL:
    """Parse ``url`` and refuse plain-text/local transports unless ``insecure``."""
    text = url.strip()
    if not text:
        raise InsecureURLError("empty Git URL")
    parsed = _parse_scp_like(text) if "://" not in text else _parse_standard(text)
    if parsed.scheme in INSECURE_SCHEMES and not insecure:
        raise InsecureURLError(
            f"{parsed.scheme}:// is not encrypted or not remote",
            url=parsed.redacted,
            hint=Hint.ALLOW_INSECURE,
        )
    return parsed


def _parse_scp_like(text: str) -> GitURL:
    match = _SCP_LIKE.match(text)
    if match is None:
        raise InsecureURLError(
            "not a Git URL: expected https://, ssh://, user@host:path, "
            "or (when allowed as insecure) http://, git://, file://",
            url=_strip_password(text),
        )
    return GitURL(
        scheme="ssh",
        host=match["host"].strip("[]"),
        port=None,
        username=match["user"],
        password=None,
        path=match["path"],
        scp_like=True,
    )


def _parse_standard(text: str) -> GitURL:
    parts = urlsplit(text)
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in SECURE_SCHEMES | INSECURE_SCHEMES:
        raise InsecureURLError(
            f"unsupported URL scheme {parts.scheme!r}", url=_strip_password(text)
        )
    if parts.query or parts.fragment:
        raise InsecureURLError("Git URLs take no query or fragment", url=_strip_password(text))
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InsecureURLError("file:// URLs must be local", url=text)
        return GitURL("file", "", None, None, None, unquote(parts.path))
    try:
        port = parts.port
    except ValueError as exc:
        raise InsecureURLError("invalid port", url=_strip_password(text)) from exc
    if not parts.hostname:
        raise InsecureURLError("URL has no host", url=_strip_password(text))
    return GitURL(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        path=parts.path or "/",
    )


def _strip_password(text: str) -> str:
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1@", text)


def redact(url: str) -> str:
    """Return ``url`` with any embedded password removed (safe for logs and messages)."""
    return _strip_password(url)


def normalize_url(url: str | GitURL) -> str:
    """The cache key: lower-case scheme and host, no credentials, default port, ``.git`` or ``/``.

    ``git@host:org/repo.git`` and ``ssh://host/org/repo`` normalize alike, as
    hosting services treat them as the same repository.
    """
    parsed = url if isinstance(url, GitURL) else parse_url(url, insecure=True)
    path = re.sub(r"/+", "/", parsed.path).rstrip("/")
    path = path.removesuffix(".git")
    if parsed.scheme == "file":
        return f"file://{path}"
    if not path.startswith("/"):
        path = "/" + path
    port = parsed.port if parsed.port not in (None, _DEFAULT_PORTS.get(parsed.scheme)) else None
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}{f':{port}' if port else ''}{path}"


@dataclass(frozen=True)
class FileURLPolicy:
    """Which local folders ``file://`` URLs may name. The Git cache is never one of them.

    The default allows none (the operator's default). ``anywhere()`` is for the
    CLI, where the user already owns every file the process can read.
    """

    roots: tuple[Path, ...] = ()
    anywhere: bool = False

    @classmethod
    def any_folder(cls) -> FileURLPolicy:
        """Allow any local folder (still never the cache)."""
        return cls(anywhere=True)

    def admit(self, url: GitURL, cache_root: Path) -> GitURL:
        """``url`` to use, with a file:// path resolved; InsecureURLError when not allowed.

        The resolved path is what gets opened, so a symlink swapped after the check
        cannot point the read somewhere else.
        """
        if url.scheme != "file":
            return url
        target = Path(url.path).resolve()
        forbidden = cache_root.resolve()
        if any(place.is_relative_to(forbidden) for place in (target, *_repo_dirs(target))):
            raise InsecureURLError("file:// URLs may not read Tether's Git cache", url=url.redacted)
        if self.anywhere:
            return replace(url, path=str(target))
        allowed = [root.resolve() for root in self.roots]
        if not any(target.is_relative_to(root) for root in allowed):
            where = ", ".join(str(root) for root in allowed) or "none are"
            raise InsecureURLError(
                f"file:// URLs are allowed only under configured folders ({where}); "
                "allow one with tether run --allow-file-urls DIR "
                "(chart value operator.allowFileURLs)",
                url=url.redacted,
            )
        return replace(url, path=str(target))


NO_FILE_URLS = FileURLPolicy()
"""The default: no ``file://`` URL is allowed."""


def _repo_dirs(target: Path) -> Iterator[Path]:
    """The folders a local repository really reads: its control dir, common dir, alternates."""
    with contextlib.suppress(NotGitRepository, OSError, ValueError):
        repo = Repo(str(target))
        with contextlib.closing(repo):
            yield Path(repo.controldir()).resolve()
            yield Path(repo.commondir()).resolve()
            store = repo.object_store
            yield Path(getattr(store, "path", target)).resolve()
            for alternate in getattr(store, "alternates", ()):
                yield Path(getattr(alternate, "path", target)).resolve()
