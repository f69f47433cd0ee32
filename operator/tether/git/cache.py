"""The shared Git cache: resolve revisions, fetch only what moved, hand out trees.

``GitCache`` keeps one bare repository per normalized URL under its root
(default ``tether.tools.cache_dir() / "git"``, made 0700). A fetch first lists
the remote refs; when the resolved commit is already in the cache nothing else
goes over the wire. Otherwise it fetches just the wanted object, shallow
(depth 1) by default.

Who may read what: the cache is shared by every caller, so a commit in it is
served only after the server accepted *this caller's* credentials for that URL
(anonymous access for a caller with none). Each ls-remote that succeeds is such
a proof and is recorded in memory under (normalized URL, credential identity),
where the identity is an HMAC of the credential material with the
installation's salt, never the secret itself. A full commit SHA that is cached
costs no network only while its caller's proof is younger than ``max_age``
(the Repository's interval); otherwise one ls-remote proves it again first. A
refused login drops the record at once and is never answered from the cache.

Paths are not predictable from the URL: the folder name ends with an HMAC of the
URL keyed with a random per-installation salt kept in ``<root>/.salt`` (0600).
``file://`` URLs are checked against a ``FileURLPolicy`` (see ``tether.git.urls``).

Concurrency: callers asking for the same (URL, identity, revision, depth, max_age)
share one in-flight task; writes to one repository are serialised by an asyncio
lock per URL and, across processes, by an ``flock`` on ``<repo>.lock``.
Different repositories fetch in parallel. dulwich is blocking, so every
network step runs in a worker thread under ``asyncio.wait_for``; on timeout the
connection is aborted (ssh killed; sockets carry the same timeout). Those
threads come from the cache's own pool, not asyncio's default one: a server
that stops answering holds a thread until the timeout, and many Repositories on
it must not hold up renders and local reads that use the default pool.

This module stops at the commit: reading files is ``tether.git.tree``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dulwich.errors import GitProtocolError
from dulwich.objects import Commit, ObjectID, Tag
from dulwich.refs import Ref
from dulwich.repo import Repo

from tether.git.auth import GitAuth, SSHFiles, ssh_key_files
from tether.git.errors import (
    AuthenticationError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    RefNotFoundError,
    RepositoryNotFoundError,
)
from tether.git.repopool import RepoPool
from tether.git.revisions import RemoteRefs, Resolved, resolve_revision
from tether.git.transport import Connection, connect, translate_error
from tether.git.tree import GitTree, TreeMemo
from tether.git.urls import NO_FILE_URLS, FileURLPolicy, GitURL, normalize_url, parse_url
from tether.tools import cache_dir

DEFAULT_TIMEOUT = 60.0
# Network steps wait on sockets, not the CPU; enough threads that servers which
# hang (each holding one until its timeout) leave room for the ones that answer.
NETWORK_THREADS = 64
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_PIN_REF = "refs/tether/commits/"
_SALT_FILE = ".salt"
_SALT_BYTES = 32
# Failures that say these credentials may not read this URL (now): forget any proof.
_REFUSALS = (AuthenticationError, RepositoryNotFoundError, HostKeyError)
T = TypeVar("T")
AuthLike = GitAuth | Mapping[str, str | bytes] | None


@dataclass(frozen=True)
class Snapshot:
    """A resolved revision of a repository: normalized URL, ref ('' for a pinned commit), commit."""

    url: str
    ref: str
    commit: str

    @property
    def revision(self) -> str:
        """``<ref>@sha1:<commit>``, or ``sha1:<commit>`` when a commit was pinned directly."""
        return f"{self.ref}@sha1:{self.commit}" if self.ref else f"sha1:{self.commit}"


@dataclass
class GitStats:
    """Counters for tests and metrics."""

    ls_remotes: int = 0
    fetches: int = 0
    packs: int = 0
    pack_bytes: int = 0
    cache_hits: int = 0
    proofs: int = 0  # ls-remotes made only to prove access to a cached commit


@dataclass(frozen=True)
class Grant:
    """Whom a request is for: the normalized URL and the caller's credential identity."""

    url: str
    identity: str


@dataclass(frozen=True)
class _FetchOutcome:
    commit: str
    fetched: bool
    pack_bytes: int


class GitCache:
    """One bare repository per URL under ``root``; safe for concurrent async callers."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        file_urls: FileURLPolicy = NO_FILE_URLS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "git"
        self.timeout = timeout
        self.file_urls = file_urls
        self.stats = GitStats()
        self._clock = clock
        self._salt: bytes | None = None
        self._proofs: dict[Grant, float] = {}
        self.trees = TreeMemo()  # parsed trees shared by every app's renders
        self.repos = RepoPool()  # open repositories lent to one tree at a time
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[tuple[object, ...], asyncio.Future[Snapshot]] = {}
        self._network_pool = ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="tether-git")

    def repo_path(self, url: str | GitURL) -> Path:
        """Where the bare cache for ``url`` lives: a readable slug, then a salted HMAC."""
        key = normalize_url(url)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", key.split("://", 1)[1]).strip("-")[-60:]
        digest = hmac.new(self._installation_salt(), key.encode(), hashlib.sha256).hexdigest()
        return self.root / f"{slug}-{digest[:32]}.git"

    def grant(self, url: str | GitURL, auth: AuthLike = None) -> Grant:
        """The (URL, credential identity) a request with ``auth`` is made as."""
        parsed = url if isinstance(url, GitURL) else parse_url(url, insecure=True)
        identity = _as_auth(auth).fingerprint(
            self._installation_salt(), parsed.username, parsed.password
        )
        return Grant(normalize_url(parsed), identity)

    async def ls_remote(
        self,
        url: str,
        auth: AuthLike = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
    ) -> RemoteRefs:
        """List the remote's refs (one round trip, no pack)."""
        parsed = self._parse(url, insecure)
        creds = _as_auth(auth)
        return await self._ls_remote(parsed, creds, timeout or self.timeout, "")

    async def resolve(
        self,
        url: str,
        revision: str = "HEAD",
        auth: AuthLike = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
        allow_prerelease: bool = False,
    ) -> Snapshot:
        """Resolve ``revision`` to a commit from the advertised refs, without fetching objects."""
        parsed = self._parse(url, insecure)
        creds = _as_auth(auth)
        resolved = await self._resolve(
            parsed, revision, creds, timeout or self.timeout, allow_prerelease
        )
        commit = resolved.commit or await asyncio.to_thread(
            _local_commit, self.repo_path(parsed), resolved.want
        )
        if commit is None:
            raise RefNotFoundError(
                "annotated tag not peeled by the server; fetch it",
                url=parsed.redacted,
                ref=revision,
            )
        return Snapshot(normalize_url(parsed), resolved.ref, commit)

    async def fetch(
        self,
        url: str,
        revision: str = "HEAD",
        auth: AuthLike = None,
        *,
        insecure: bool = False,
        timeout: float | None = None,
        depth: int | None = 1,
        allow_prerelease: bool = False,
        max_age: float = 0.0,
    ) -> Snapshot:
        """Resolve ``revision`` and make sure its commit is in the cache; fetch only if it is not.

        Every form but a full commit SHA lists the remote refs first, which also
        proves the credentials. A cached full SHA (commits are immutable) needs no
        network while these credentials were accepted for this URL less than
        ``max_age`` seconds ago; otherwise one ls-remote proves them first. The
        default, 0, proves on every call.
        """
        parsed = self._parse(url, insecure)
        creds = _as_auth(auth)
        grant = self.grant(parsed, creds)
        key = (grant, revision.strip() or "HEAD", depth, allow_prerelease, max_age)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(
                self._fetch(
                    parsed,
                    revision,
                    creds,
                    timeout or self.timeout,
                    depth,
                    allow_prerelease,
                    max_age,
                )
            )
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def tree(self, snapshot: Snapshot) -> GitTree:
        """A read-only tree of the snapshot's commit, straight from the object store.

        Only ``fetch``/``resolve`` make snapshots after a proof of access; callers
        keep each snapshot with the credentials it was fetched for.
        """
        path = str(self.repo_path(snapshot.url))
        repo = self.repos.take(path)
        return GitTree(
            repo,
            snapshot.commit,
            memo=self.trees,
            release=lambda done: self.repos.give(path, done),
        )

    def proven(self, grant: Grant, max_age: float) -> bool:
        """Whether the server accepted ``grant`` less than ``max_age`` seconds ago."""
        when = self._proofs.get(grant)
        return when is not None and max_age > 0 and self._clock() - when < max_age

    def parse(self, url: str, *, insecure: bool = False) -> GitURL:
        """Parse ``url`` under the cache's rules (insecure schemes, ``file://`` policy)."""
        return self._parse(url, insecure)

    def record_proof(self, grant: Grant) -> None:
        """Note that the server accepted ``grant`` just now (a blocking ls-remote or a push)."""
        self._proofs[grant] = self._clock()

    def forget_proof(self, grant: Grant) -> None:
        """The server refused ``grant``: its cached commits are no longer served to it."""
        self._proofs.pop(grant, None)

    def _parse(self, url: str, insecure: bool) -> GitURL:
        return self.file_urls.admit(parse_url(url, insecure=insecure), self.root)

    def _installation_salt(self) -> bytes:
        if self._salt is None:
            self._salt = _read_or_make_salt(self.root)
        return self._salt

    def _forget(self, key: tuple[object, ...], done: asyncio.Future[Snapshot]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # mark retrieved: callers may all have gone

    async def _fetch(
        self,
        url: GitURL,
        revision: str,
        auth: GitAuth,
        timeout: float,
        depth: int | None,
        prerelease: bool,
        max_age: float,
    ) -> Snapshot:
        path = self.repo_path(url)
        rev = revision.strip() or "HEAD"
        if _FULL_SHA.match(rev):
            cached = await asyncio.to_thread(_local_commit, path, rev)
            if cached is not None:
                if not self.proven(self.grant(url, auth), max_age):
                    await self._ls_remote(url, auth, timeout, rev)
                    self.stats.proofs += 1
                self.stats.cache_hits += 1
                return Snapshot(normalize_url(url), "", cached)
        resolved = await self._resolve(url, rev, auth, timeout, prerelease)
        lock = self._locks.setdefault(normalize_url(url), asyncio.Lock())
        async with lock:
            outcome = await self._network(
                url,
                auth,
                timeout,
                rev,
                lambda conn: _fetch_into(conn, path, resolved, depth, timeout, url, rev),
            )
        if outcome.fetched:
            self.stats.fetches += 1
            self.stats.packs += 1 if outcome.pack_bytes > 0 else 0
            self.stats.pack_bytes += outcome.pack_bytes
        else:
            self.stats.cache_hits += 1
        return Snapshot(normalize_url(url), resolved.ref, outcome.commit)

    async def _resolve(
        self, url: GitURL, revision: str, auth: GitAuth, timeout: float, prerelease: bool
    ) -> Resolved:
        remote = await self._ls_remote(url, auth, timeout, revision)
        path = self.repo_path(url)
        return await asyncio.to_thread(
            resolve_revision,
            revision,
            remote,
            cached_prefix=lambda prefix: _cached_prefix(path, prefix),
            allow_prerelease=prerelease,
            url=url.redacted,
        )

    async def _ls_remote(self, url: GitURL, auth: GitAuth, timeout: float, ref: str) -> RemoteRefs:
        """List refs; a success proves ``auth`` for ``url`` now, a refusal revokes any proof."""

        def list_refs(conn: Connection) -> RemoteRefs:
            result = conn.client.get_refs(conn.path.encode())
            return RemoteRefs.from_advertised(result.refs, result.symrefs)

        grant = self.grant(url, auth)
        try:
            remote = await self._network(url, auth, timeout, ref, list_refs)
        except _REFUSALS:
            self._proofs.pop(grant, None)
            raise
        self._proofs[grant] = self._clock()
        self.stats.ls_remotes += 1
        return remote

    async def _network(
        self,
        url: GitURL,
        auth: GitAuth,
        timeout: float,
        ref: str,
        operation: Callable[[Connection], T],
    ) -> T:
        """Run ``operation`` in a thread with a live connection and an overall deadline."""
        connections: list[Connection] = []

        def work() -> T:
            with _key_files(url, auth) as files:
                conn = connect(url, auth, timeout=timeout, ssh_files=files)
                connections.append(conn)
                return operation(conn)

        silent = GitTimeoutError(f"no answer within {timeout:g}s", url=url.redacted, ref=ref)
        try:
            loop = asyncio.get_running_loop()
            return await asyncio.wait_for(loop.run_in_executor(self._network_pool, work), timeout)
        except TimeoutError:
            for conn in connections:
                conn.abort()
            raise silent from None
        except AuthenticationError as exc:
            raise _with_key_hint(exc, auth) from None
        except GitError:
            raise
        except Exception as exc:
            error = translate_error(exc, url=url.redacted, ref=ref)
            # A socket read that timed out is the same silence as the overall deadline.
            raise (
                silent if isinstance(error, GitTimeoutError) else _with_key_hint(error, auth)
            ) from exc


def _as_auth(auth: AuthLike) -> GitAuth:
    return auth if isinstance(auth, GitAuth) else GitAuth.from_mapping(auth)


def _with_key_hint(error: GitError, auth: GitAuth) -> GitError:
    """A refused login also names Secret keys that Tether did not read (names only)."""
    hint = auth.unused_keys_hint()
    if not hint or not isinstance(error, AuthenticationError):
        return error
    return AuthenticationError(error.message + hint, url=error.url, ref=error.ref)


def _read_or_make_salt(root: Path) -> bytes:
    """The installation's salt: random, made once, 0600 in a 0700 root; safe across processes."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_uid == os.getuid():
        os.chmod(root, 0o700)
    path = root / _SALT_FILE
    if not path.exists():
        fd, temp = _private_temp(root)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_SALT_BYTES))
        try:
            os.link(temp, path)  # atomic: a peer's complete salt wins, never a partial one
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    salt = path.read_bytes()
    if len(salt) < _SALT_BYTES:
        raise GitError(f"the cache salt {path} is damaged; remove it (the cache is rebuilt)")
    return salt


def _private_temp(root: Path) -> tuple[int, str]:
    temp = root / f"{_SALT_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(temp)


@contextlib.contextmanager
def _key_files(url: GitURL, auth: GitAuth) -> Iterator[SSHFiles | None]:
    if url.scheme != "ssh":
        yield None
        return
    with ssh_key_files(auth, url=url.redacted) as files:
        yield files


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Cross-process exclusive lock; polls so a stuck peer cannot hang us past ``timeout``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitTimeoutError(
                        f"cache {path.name} stayed locked for {timeout:g}s"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _open_or_init(path: Path) -> Repo:
    if (path / "objects").is_dir():
        return Repo(str(path))
    path.mkdir(parents=True, exist_ok=True)
    return Repo.init_bare(str(path))


def _peel(repo: Repo, sha: bytes) -> str | None:
    """The commit ``sha`` leads to, if it and its root tree are in the store."""
    store = repo.object_store
    current = ObjectID(sha)
    for _ in range(10):
        if current not in store:
            return None
        obj = store[current]
        if isinstance(obj, Tag):
            current = obj.object[1]
            continue
        if isinstance(obj, Commit):
            return current.decode() if obj.tree in store else None
        return None
    return None


def _local_commit(path: Path, want: str) -> str | None:
    if not (path / "objects").is_dir():
        return None
    with contextlib.closing(Repo(str(path))) as repo:
        return _peel(repo, want.encode())


def _cached_prefix(path: Path, prefix: str) -> set[str]:
    if not (path / "objects").is_dir():
        return set()
    with contextlib.closing(Repo(str(path))) as repo:
        found = set()
        for sha in repo.object_store.iter_prefix(prefix.encode()):
            if isinstance(repo.object_store[ObjectID(sha)], Commit | Tag):
                found.add(sha.decode())
        return found


def _pack_size(repo: Repo) -> int:
    pack_dir = Path(repo.path) / "objects" / "pack"
    return (
        sum(entry.stat().st_size for entry in pack_dir.glob("*.pack")) if pack_dir.is_dir() else 0
    )


def _fetch_into(
    conn: Connection,
    path: Path,
    resolved: Resolved,
    depth: int | None,
    timeout: float,
    url: GitURL,
    rev: str,
) -> _FetchOutcome:
    """Under the cross-process lock: use the cache if it has the commit, else fetch it."""
    with (
        _file_lock(path.with_suffix(".lock"), timeout),
        contextlib.closing(_open_or_init(path)) as repo,
    ):
        want = resolved.want.encode()
        commit = _peel(repo, want)
        if commit is not None:
            _remember(repo, resolved)
            return _FetchOutcome(commit, False, 0)
        before = _pack_size(repo)
        if resolved.ref:
            _fetch_wants(conn, repo, [want], resolved.ref, depth)
        else:
            _fetch_pinned(conn, repo, want, depth)
        commit = _peel(repo, want)
        if commit is None:
            raise RefNotFoundError("the server did not send this commit", url=url.redacted, ref=rev)
        _remember(repo, resolved)
        return _FetchOutcome(commit, True, _pack_size(repo) - before)


def _fetch_wants(
    conn: Connection, repo: Repo, wants: list[bytes] | None, ref: str, depth: int | None
) -> None:
    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        if wants is not None:
            return [ObjectID(want) for want in wants]
        return [sha for name, sha in refs.items() if name.startswith(b"refs/heads/")]

    conn.client.fetch(
        conn.path.encode(),
        repo,
        determine_wants=determine_wants,
        depth=depth or None,
        ref_prefix=[ref.encode()] if ref.startswith("refs/") else None,
    )


def _fetch_pinned(conn: Connection, repo: Repo, want: bytes, depth: int | None) -> None:
    """Ask for the commit itself; a server that refuses non-tip SHAs gets asked for its branches."""
    with contextlib.suppress(GitProtocolError, OSError):
        _fetch_wants(conn, repo, [want], "", depth)
    if _peel(repo, want) is None:
        _fetch_wants(conn, repo, None, "", None)


def _remember(repo: Repo, resolved: Resolved) -> None:
    """Point a local ref at what we fetched so later fetches negotiate from it."""
    name = resolved.ref if resolved.ref.startswith("refs/") else _PIN_REF + resolved.want
    repo.refs[Ref(name.encode())] = ObjectID(resolved.want.encode())
