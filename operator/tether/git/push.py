"""Write access to a remote: fetch a branch tip for a writer, and push one ref update.

Blocking functions for a worker thread (write-back runs in one, not on the event
loop); they share the cache's bare repository, its cross-process lock and its
access proofs with the async read path in ``tether.git.cache``:

* ``fetch_branch`` lists the remote refs (a proof of these credentials, recorded in
  the cache) and makes sure the branch tip is in the cache, shallow.
* ``cached_tip`` is the tip the cache last saw, without network, for callers whose
  credentials were proven within ``max_age`` (the same rule as a cached full SHA).
* ``push_update`` sends one ref update with ``send_pack``: the pack holds the objects
  the remote lacks, and the update names the value the ref must still have
  (``expect``; ``None`` = must not exist). A remote elsewhere raises
  ``StaleRefError`` before anything is sent; a server that moved in between answers
  "failed to update ref", which is the same error. A server that refuses (no write
  access, a hook, a protected branch) raises ``PushRejectedError`` with its own
  words, credentials stripped. After a success the cache's ref points at the new
  commit and the push counts as a proof, so a reader with the same credentials
  syncs to it with no fetch.

Transports and credentials are ``tether.git.transport``'s: ssh with strict
known_hosts, HTTP(S) basic or bearer, git:// (receive-pack must be enabled).
This module never builds commits; that is ``tether.writeback.gitwrite``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dulwich.objects import ObjectID, ShaFile
from dulwich.pack import UnpackedObject, pack_objects_to_data
from dulwich.refs import Ref
from dulwich.repo import Repo

from tether.git.auth import GitAuth
from tether.git.cache import (
    GitCache,
    Snapshot,
    _fetch_into,
    _file_lock,
    _key_files,
    _open_or_init,
    _peel,
    _with_key_hint,
)
from tether.git.errors import (
    GitError,
    GitTimeoutError,
    HostKeyError,
    NetworkUnreachableError,
    PushRejectedError,
    RefNotFoundError,
    StaleRefError,
)
from tether.git.revisions import RemoteRefs, Resolved
from tether.git.transport import Connection, connect, translate_error
from tether.git.urls import GitURL, normalize_url

T = TypeVar("T")
# The remote moved under us: git's words for it in a receive-pack status line.
_STALE_WORDS = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
)
# Failures of the connection itself, not a verdict on the push: passed on unchanged.
_NOT_A_REFUSAL = (GitTimeoutError, NetworkUnreachableError, HostKeyError)


@dataclass(frozen=True)
class RefUpdate:
    """Set ``ref`` (full name) to ``new`` only if the remote has ``expect`` (None: no such ref).

    ``objects``, with ``base``: every object ``new`` adds to commit ``base``. When the
    remote has ``base``, they are the pack, as they are; otherwise (or without them)
    the pack is found by walking from ``new`` to what the remote has.
    """

    ref: str
    new: str
    expect: str | None
    base: str | None = None
    objects: tuple[ShaFile, ...] = ()


def fetch_branch(
    cache: GitCache, url: GitURL, auth: GitAuth, ref: str, *, timeout: float
) -> tuple[Snapshot, RemoteRefs]:
    """Make the tip of ``ref`` (``refs/heads/...``) present in the cache; return it and all refs."""
    grant = cache.grant(url, auth)

    def list_refs(conn: Connection) -> RemoteRefs:
        result = conn.client.get_refs(conn.path.encode())
        return RemoteRefs.from_advertised(result.refs, result.symrefs)

    try:
        remote = run_blocking(url, auth, timeout, ref, list_refs)
    except GitError as exc:
        if not isinstance(exc, _NOT_A_REFUSAL):
            cache.forget_proof(grant)
        raise
    cache.record_proof(grant)
    cache.stats.ls_remotes += 1
    if ref not in remote.refs:
        raise RefNotFoundError("no such branch on the remote", url=url.redacted, ref=ref)
    tip = remote.refs[ref]
    path = cache.repo_path(url)
    resolved = Resolved(ref=ref, want=tip, commit=tip)
    outcome = run_blocking(
        url,
        auth,
        timeout,
        ref,
        lambda conn: _fetch_into(conn, path, resolved, 1, timeout, url, ref),
    )
    if outcome.fetched:
        cache.stats.fetches += 1
        cache.stats.pack_bytes += outcome.pack_bytes
    return Snapshot(normalize_url(url), ref, outcome.commit), remote


def cached_tip(
    cache: GitCache, url: GitURL, auth: GitAuth, ref: str, *, max_age: float
) -> Snapshot | None:
    """The cache's last known tip of ``ref``, if these credentials were proven within ``max_age``.

    No network. A guess for a writer that pushes with this tip as the expected
    value: if the remote moved, the push fails as stale and the writer fetches.
    """
    if not cache.proven(cache.grant(url, auth), max_age):
        return None
    path = cache.repo_path(url)
    if not (path / "objects").is_dir():
        return None
    with contextlib.closing(Repo(str(path))) as repo:
        sha = repo.refs.as_dict().get(Ref(ref.encode()))
        commit = _peel(repo, sha) if sha is not None else None
    return Snapshot(normalize_url(url), ref, commit) if commit is not None else None


def push_update(
    cache: GitCache, url: GitURL, auth: GitAuth, update: RefUpdate, *, timeout: float
) -> None:
    """Push ``update.new`` (already in the cache's store) to ``update.ref``, compare-and-swap."""
    path = cache.repo_path(url)
    said: list[bytes] = []
    if url.scheme == "file":
        _refuse_checked_out(url, update.ref)

    def update_refs(old_refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        actual = old_refs.get(Ref(update.ref.encode()))
        current = actual.decode() if actual is not None else None
        if current != update.expect:
            raise StaleRefError(
                f"the remote has {current or 'no such ref'}, expected {update.expect or 'none'}",
                actual=current,
                url=url.redacted,
                ref=update.ref,
            )
        return {Ref(update.ref.encode()): ObjectID(update.new.encode())}

    def send(conn: Connection) -> Mapping[bytes, str | None] | None:
        with contextlib.closing(Repo(str(path))) as repo:
            shallow = repo.get_shallow()

            def pack(
                have: AbstractSet[ObjectID],
                want: AbstractSet[ObjectID],
                *,
                ofs_delta: bool = True,
                progress: Callable[[bytes], None] | None = None,
            ) -> tuple[int, Iterator[UnpackedObject]]:
                if update.objects and update.base and ObjectID(update.base.encode()) in have:
                    return pack_objects_to_data(list(update.objects), ofs_delta=ofs_delta)
                # The cache is shallow: the walk must stop at its boundary, not look
                # for parents it never fetched.
                return repo.object_store.generate_pack_data(
                    have, want, shallow=shallow, ofs_delta=ofs_delta
                )

            result = conn.client.send_pack(
                conn.path.encode(), update_refs, pack, progress=said.append
            )
        return result.ref_status

    try:
        status = run_blocking(url, auth, timeout, update.ref, send)
    except (StaleRefError, *_NOT_A_REFUSAL):
        raise
    except GitError as exc:
        # The same credentials just read this repository: a failure to open
        # receive-pack (401/403, a read-only key, a daemon without receive-pack)
        # is the server refusing the push.
        raise _rejected(exc.message, said, auth, url, update.ref) from None
    failure = (status or {}).get(update.ref.encode())
    if failure is not None:
        if any(word in failure for word in _STALE_WORDS):
            raise StaleRefError(
                f"the remote moved: {failure}", actual=None, url=url.redacted, ref=update.ref
            )
        raise _rejected(failure, said, auth, url, update.ref)
    _remember_pushed(cache, url, auth, update, timeout)


def _refuse_checked_out(url: GitURL, ref: str) -> None:
    """git's ``receive.denyCurrentBranch``: never move the branch a work tree has checked out.

    A push over ``file://`` is dulwich writing the refs itself, and nothing on the
    other side would refuse; the work tree would then silently disagree with its branch.
    """
    with contextlib.closing(Repo(url.path)) as repo:
        head = repo.refs.read_ref(Ref(b"HEAD")) or b""
        work_tree = not repo.bare or Path(url.path).name == ".git"
        if work_tree and head == b"ref: " + ref.encode():
            words = f"refusing to update the checked-out branch {ref} of a non-bare repository"
            raise PushRejectedError(words, server_says=words, url=url.redacted, ref=ref)


def _remember_pushed(
    cache: GitCache, url: GitURL, auth: GitAuth, update: RefUpdate, timeout: float
) -> None:
    """The cache learns the pushed commit; the accepted push proves these credentials."""
    path = cache.repo_path(url)
    with (
        _file_lock(path.with_suffix(".lock"), timeout),
        contextlib.closing(_open_or_init(path)) as repo,
    ):
        repo.refs[Ref(update.ref.encode())] = ObjectID(update.new.encode())
    cache.record_proof(cache.grant(url, auth))


def _rejected(
    answer: str, said: list[bytes], auth: GitAuth, url: GitURL, ref: str
) -> PushRejectedError:
    hook = [line.strip() for chunk in said for line in _text(chunk).splitlines() if line.strip()]
    words = sanitize("; ".join([*hook[-3:], answer.strip()]), auth)
    return PushRejectedError(
        f"the server refused the push: {words}", server_says=words, url=url.redacted, ref=ref
    )


def _text(chunk: bytes) -> str:
    return chunk.decode("utf-8", "replace").replace("\r", "\n")


def sanitize(text: str, auth: GitAuth) -> str:
    """``text`` without any credential value it might echo (password, token, user:pass@)."""
    import re

    cleaned = re.sub(r"://[^/@\s:]+:[^/@\s]+@", "://***@", text)
    for secret in (auth.password, auth.bearer_token):
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return cleaned[:500]


def run_blocking(
    url: GitURL, auth: GitAuth, timeout: float, ref: str, operation: Callable[[Connection], T]
) -> T:
    """Run ``operation`` on a live connection in this thread, aborted after ``timeout``."""
    connections: list[Connection] = []

    def abort() -> None:
        for conn in connections:
            conn.abort()

    timer = threading.Timer(timeout, abort)
    timer.daemon = True
    timer.start()
    try:
        with _key_files(url, auth) as files:
            conn = connect(url, auth, timeout=timeout, ssh_files=files)
            connections.append(conn)
            return operation(conn)
    except GitError as exc:
        raise _with_key_hint(exc, auth) from None
    except Exception as exc:
        if connections and connections[0].aborted:
            raise GitTimeoutError(
                f"no answer within {timeout:g}s", url=url.redacted, ref=ref
            ) from None
        raise _with_key_hint(translate_error(exc, url=url.redacted, ref=ref), auth) from exc
    finally:
        timer.cancel()
