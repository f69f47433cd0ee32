"""Write access to a remote: push one ref update decided on the live refs; fetch a tip.

Blocking functions for a worker thread (write-back runs in one, not on the event
loop); they share the cache's bare repository, its cross-process lock and its
access proofs with the async read path in ``tether.git.cache``:

* ``push_update`` opens receive-pack and hands the advertised refs to the caller's
  ``decide``, which builds the commit on the tip it sees there (or asks for a fetch
  first, by raising) and returns the ``RefUpdate``. The update names the value the
  ref must still have (``expect``; ``None`` = must not exist): a remote elsewhere
  raises ``StaleRefError`` before anything is sent, and a server that moved in
  between answers "failed to update ref", which is the same error. One connection
  does it all when the tip is cached, as for ``git push``. A server that refuses
  (no write access, a hook, a protected branch) raises ``PushRejectedError`` with
  its own words, credentials stripped. After a success the cache's ref points at the
  new commit, and the accepted credentials count as a proof, so a reader with the
  same credentials syncs to it with no fetch.
* ``fetch_branch`` lists the remote refs (a proof, recorded in the cache) and makes
  sure the branch tip is in the cache, shallow: for a tip the cache did not have.

Transports and credentials are ``tether.git.transport``'s: ssh with strict
known_hosts, HTTP(S) basic or bearer, git:// (receive-pack must be enabled), and
``file://``, where git's ``receive.denyCurrentBranch`` is applied here. This module
never builds commits; that is ``tether.writeback.gitwrite``.
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
    _REFUSALS,
    GitCache,
    Snapshot,
    _fetch_into,
    _file_lock,
    _key_files,
    _open_or_init,
    _with_key_hint,
)
from tether.git.errors import (
    AuthenticationError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    NetworkUnreachableError,
    PushRejectedError,
    RefNotFoundError,
    RepositoryNotFoundError,
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
# Failures to reach the repository at all, not a verdict on the push: passed on unchanged.
_NOT_A_VERDICT = (GitTimeoutError, NetworkUnreachableError, HostKeyError, RepositoryNotFoundError)


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
        if isinstance(exc, _REFUSALS):
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


Decide = Callable[[Mapping[str, str]], "RefUpdate | None"]


class _Aborted(GitError):
    """``decide`` raised: carried out of dulwich's send_pack, then re-raised as it was."""


def push_update(
    cache: GitCache, url: GitURL, auth: GitAuth, decide: Decide, *, timeout: float
) -> RefUpdate | None:
    """Open receive-pack, let ``decide`` pick the update from the advertised refs, send it.

    ``decide(refs)`` gets the remote's refs (name -> SHA) as the receive-pack
    advertisement lists them, once the server accepted these credentials (recorded
    as a proof in the cache), and returns the update, with its objects already in
    the cache's store, or None to send nothing. Whatever it raises comes out as it
    was, and nothing is sent. The update is a compare-and-swap on ``expect``;
    returns what was pushed.
    """
    path = cache.repo_path(url)
    said: list[bytes] = []
    chosen: list[RefUpdate | None] = []
    raised: list[BaseException] = []

    def update_refs(old_refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        cache.record_proof(cache.grant(url, auth))  # the server let these credentials in
        advertised = {
            name.decode("utf-8", "replace"): sha.decode() for name, sha in old_refs.items()
        }
        try:
            update = decide(advertised)
        except BaseException as exc:
            raised.append(exc)
            raise _Aborted("the change was not built", url=url.redacted) from None
        chosen.append(update)
        if update is None:
            return {}
        if url.scheme == "file":
            _refuse_checked_out(url, update.ref)
        current = advertised.get(update.ref)
        if current != update.expect:
            raise StaleRefError(
                f"the remote has {current or 'no such ref'}, expected {update.expect or 'none'}",
                actual=current,
                url=url.redacted,
                ref=update.ref,
            )
        return {Ref(update.ref.encode()): ObjectID(update.new.encode())}

    def send(conn: Connection) -> Mapping[bytes, str | None] | None:
        opened: list[Repo] = []  # only when the pack must be found by a walk

        def pack(
            have: AbstractSet[ObjectID],
            want: AbstractSet[ObjectID],
            *,
            ofs_delta: bool = True,
            progress: Callable[[bytes], None] | None = None,
        ) -> tuple[int, Iterator[UnpackedObject]]:
            update = chosen[-1]
            assert update is not None
            if update.objects and update.base and ObjectID(update.base.encode()) in have:
                return pack_objects_to_data(list(update.objects), ofs_delta=ofs_delta)
            opened.append(Repo(str(path)))
            # The cache is shallow: the walk must stop at its boundary, not look
            # for parents it never fetched.
            return opened[0].object_store.generate_pack_data(
                have, want, shallow=opened[0].get_shallow(), ofs_delta=ofs_delta
            )

        try:
            result = conn.client.send_pack(
                conn.path.encode(), update_refs, pack, progress=said.append
            )
        finally:
            for repo in opened:
                repo.close()
        return result.ref_status

    try:
        status = run_blocking(url, auth, timeout, "", send)
    except _Aborted:
        raise raised[0] from None
    except (StaleRefError, PushRejectedError, *_NOT_A_VERDICT):
        raise
    except GitError as exc:
        # Not reached, not found, timed out: said above. Anything else that stops
        # receive-pack (401/403, a read-only key, a daemon without receive-pack) is
        # the server refusing the push; refused credentials lose their read proof too
        # (at worst, a read-only credential proves itself again on its next read).
        if isinstance(exc, AuthenticationError):
            cache.forget_proof(cache.grant(url, auth))
        raise _rejected(exc.message, said, auth, url, _branch_of(chosen)) from None
    update = chosen[-1] if chosen else None
    if update is None:
        return None
    failure = (status or {}).get(update.ref.encode())
    if failure is not None:
        if any(word in failure for word in _STALE_WORDS):
            raise StaleRefError(
                f"the remote moved: {failure}", actual=None, url=url.redacted, ref=update.ref
            )
        raise _rejected(failure, said, auth, url, update.ref)
    _remember_pushed(cache, url, auth, update, timeout)
    return update


def _branch_of(chosen: list[RefUpdate | None]) -> str:
    return chosen[-1].ref if chosen and chosen[-1] is not None else ""


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
