"""Commit and push one write-back change: the conflict loop around ``tether.git.push``.

``push_change`` fetches the branch tip through the shared cache, asks ``build`` for
the changed files given a reader of the tip (``build`` is the edit model's
``apply_plan`` bound to a plan, so a retry re-applies the *edits*, not a textual
patch), writes blobs, trees and a commit straight into the cache's object store
(no working copy, no git CLI), optionally signs it (``signing``), and pushes it:

* to the followed branch only as a fast-forward of the tip it was built on (the
  remote must still have that tip). If another commit landed in between, the loop
  fetches the new tip, calls ``build`` again (which may raise FIELD_MOVED) and
  pushes again, with exponential backoff and jitter, up to ``max_attempts``; then
  CONFLICT. Never a force push.
* to ``push_branch`` (a review branch made from ``branch``) as one commit on the
  branch tip, replacing what was there only if the remote still has ``lease`` (None:
  the review branch must not exist yet); otherwise CONFLICT at once.

An empty change (``build`` returns nothing, or the same bytes) makes no commit and
returns a result with ``pushed=False``. A refusal by the server is PUSH_DENIED with
its own words; any other Git failure is GIT_ERROR. This module stops at the push:
what to change is the edit model's (``edits``), when to push is the controller's.
"""

from __future__ import annotations

import contextlib
import random
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo

from tether.backoff import exponential
from tether.errors import TetherError
from tether.git.auth import GitAuth
from tether.git.cache import GitCache
from tether.git.errors import GitError, PushRejectedError, StaleRefError
from tether.git.push import RefUpdate, fetch_branch, push_update
from tether.git.urls import GitURL
from tether.writeback.errors import WriteBackError, WriteBackReason
from tether.writeback.signing import SigningKeyError, SSHSigner

Reader = Callable[[str], bytes | None]
Build = Callable[[Reader], dict[str, bytes]]

_REGULAR = 0o100644
_EXECUTABLE = 0o100755
# Backoff between attempts: 0.2 s, 0.4 s, ... at most 5 s, plus up to 100% jitter so
# that two writers who collided do not collide again in lockstep.
_BACKOFF_BASE = 0.2
_BACKOFF_FACTOR = 2.0
_BACKOFF_CAP = 5.0


@dataclass(frozen=True)
class PushTarget:
    """Where a change goes: the repository, its credentials, the branch and an optional review branch.

    ``branch`` and ``push_branch`` are branch names (``main``) or full refs
    (``refs/heads/main``). ``lease`` is, for ``push_branch``, the commit Tether last
    saw there (None: it must not exist). ``insecure`` admits http://, git:// and
    file:// as for the Repository. ``timeout`` bounds each network step (None: the
    cache's).
    """

    url: str
    auth: GitAuth
    branch: str
    push_branch: str | None = None
    lease: str | None = None
    insecure: bool = False
    timeout: float | None = None


@dataclass(frozen=True)
class Author:
    """Author and committer of write-back commits."""

    name: str
    email: str


@dataclass(frozen=True)
class PushResult:
    """What a push did.

    ``commit``: the new commit, or the branch tip when nothing was pushed.
    ``parent``: the tip it was built on. ``attempts``: fetch-build-push rounds used.
    ``branch``: the branch written (``push_branch`` if set). ``pushed``: False for an
    empty change (then ``commit == parent``).
    """

    commit: str
    parent: str
    attempts: int
    branch: str
    pushed: bool = True


class PushError(WriteBackError):
    """A write-back push failed; ``reason`` is PUSH_DENIED, CONFLICT or GIT_ERROR."""

    def __init__(self, reason: WriteBackReason, message: str) -> None:
        # Set up here rather than through WriteBackError's constructor, so that this
        # class does not depend on how the base spells its arguments.
        TetherError.__init__(self, message)
        self.reason = reason
        self.message = message


def push_change(
    target: PushTarget,
    build: Build,
    author: Author,
    message: str,
    *,
    signing_key: bytes | None = None,
    max_attempts: int = 5,
    cache: GitCache | None = None,
) -> PushResult:
    """Fetch the tip, build the change on it, commit and push; retry on a moved branch.

    Blocking (run it in a worker thread). Raises ``WriteBackError``: whatever
    ``build`` raises (e.g. FIELD_MOVED), or a ``PushError`` (PUSH_DENIED, CONFLICT,
    GIT_ERROR). Never force-pushes the followed branch.
    """
    cache = cache if cache is not None else GitCache()
    signer = _signer(signing_key)
    url = _parse(cache, target)
    for attempt in range(1, max(1, max_attempts) + 1):
        try:
            return _attempt(cache, url, target, build, author, message, signer, attempt)
        except StaleRefError as exc:
            if target.push_branch is not None or attempt >= max_attempts:
                raise _conflict(target, url, exc, attempt) from None
        time.sleep(_delay(attempt))
    raise AssertionError("unreachable: the loop returns or raises")


def _attempt(
    cache: GitCache,
    url: GitURL,
    target: PushTarget,
    build: Build,
    author: Author,
    message: str,
    signer: SSHSigner | None,
    attempt: int,
) -> PushResult:
    """One round: fetch, build, commit, push. StaleRefError means: go round again."""
    timeout = target.timeout or cache.timeout
    branch_ref, dest_ref = _full_ref(target.branch), _full_ref(target.push_branch or target.branch)
    try:
        tip, remote = fetch_branch(cache, url, target.auth, branch_ref, timeout=timeout)
    except GitError as exc:
        raise _git_failure(url, branch_ref, exc) from None
    if target.push_branch is not None and remote.refs.get(dest_ref) != target.lease:
        raise StaleRefError(
            f"the lease does not hold: the remote has {remote.refs.get(dest_ref) or 'no branch'}, "
            f"expected {target.lease or 'no branch'}",
            actual=remote.refs.get(dest_ref),
            url=url.redacted,
            ref=dest_ref,
        )
    with contextlib.closing(Repo(str(cache.repo_path(url)))) as repo:
        base = _commit(repo, tip.commit)
        changes = build(lambda path: _read(repo, base.tree, path))
        tree = _write_tree(repo, base.tree, _split(changes), "")
        if tree == base.tree:
            return PushResult(tip.commit, tip.commit, attempt, _short(dest_ref), pushed=False)
        commit = _make_commit(repo, tree, base.id, author, message, signer)
    update = RefUpdate(dest_ref, commit, tip.commit if target.push_branch is None else target.lease)
    try:
        push_update(cache, url, target.auth, update, timeout=timeout)
    except StaleRefError:
        raise
    except PushRejectedError as exc:
        raise PushError(
            WriteBackReason.PUSH_DENIED,
            f"push to {_short(dest_ref)} of {url.redacted} refused by the server: {exc.server_says}",
        ) from None
    except GitError as exc:
        raise _git_failure(url, dest_ref, exc) from None
    return PushResult(commit, tip.commit, attempt, _short(dest_ref))


def _parse(cache: GitCache, target: PushTarget) -> GitURL:
    try:
        return cache.parse(target.url, insecure=target.insecure)
    except GitError as exc:
        raise PushError(WriteBackReason.GIT_ERROR, f"cannot push: {exc}") from None


def _signer(signing_key: bytes | None) -> SSHSigner | None:
    if signing_key is None:
        return None
    try:
        return SSHSigner.load(signing_key)
    except SigningKeyError as exc:
        raise PushError(
            WriteBackReason.GIT_ERROR, f"signingKey in the Repository's Secret: {exc}"
        ) from None


def _git_failure(url: GitURL, ref: str, exc: GitError) -> PushError:
    return PushError(
        WriteBackReason.GIT_ERROR, f"write-back to {_short(ref)} of {url.redacted}: {exc}"
    )


def _conflict(target: PushTarget, url: GitURL, exc: StaleRefError, attempts: int) -> PushError:
    if target.push_branch is not None:
        why = f"review branch {target.push_branch} moved: {exc.detail}"
    else:
        why = f"branch {target.branch} kept moving; gave up after {attempts} attempts"
    return PushError(WriteBackReason.CONFLICT, f"write-back to {url.redacted}: {why}")


def _delay(attempt: int) -> float:
    base = exponential(attempt, _BACKOFF_BASE, _BACKOFF_FACTOR, _BACKOFF_CAP)
    return base * (1.0 + random.random())  # jitter, not security


def _full_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _commit(repo: Repo, sha: str) -> Commit:
    obj = repo.object_store[ObjectID(sha.encode())]
    assert isinstance(obj, Commit)
    return obj


def _read(repo: Repo, tree: bytes, path: str) -> bytes | None:
    """The bytes of the regular file at ``path`` (literally, no symlinks followed), or None."""
    store = repo.object_store
    sha = tree
    parts = _parts(path)
    for index, name in enumerate(parts):
        node = store[ObjectID(sha)]
        if not isinstance(node, Tree) or name.encode() not in node:
            return None
        mode, sha = node[name.encode()]
        last = index == len(parts) - 1
        if last and not (stat.S_ISREG(mode)):
            return None
    blob = store[ObjectID(sha)]
    return blob.as_raw_string() if isinstance(blob, Blob) else None


def _parts(path: str) -> list[str]:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise PushError(WriteBackReason.GIT_ERROR, f"{path!r}: not a file path in the repository")
    return parts


def _split(changes: Mapping[str, bytes]) -> dict[str, object]:
    """Nest ``{"a/b/c": data}`` into ``{"a": {"b": {"c": data}}}`` for the tree walk."""
    nested: dict[str, object] = {}
    for path, data in changes.items():
        parts = _parts(path)
        node = nested
        for name in parts[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise PushError(WriteBackReason.GIT_ERROR, f"{path}: a parent is also a file")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise PushError(WriteBackReason.GIT_ERROR, f"{path}: is also a folder")
        node[parts[-1]] = data
    return nested


def _write_tree(repo: Repo, tree_id: bytes | None, changes: dict[str, object], where: str) -> bytes:
    """A copy of ``tree_id`` with ``changes`` applied; new objects go to the store."""
    store = repo.object_store
    tree = Tree()
    if tree_id is not None:
        old = store[ObjectID(tree_id)]
        assert isinstance(old, Tree)
        for entry in old.iteritems():
            tree.add(entry.path, entry.mode, entry.sha)
    for name, change in changes.items():
        key = name.encode()
        path = f"{where}{name}"
        mode, sha = tree[key] if key in tree else (None, None)  # noqa: SIM401 - Tree has no get
        if isinstance(change, dict):
            if mode is not None and not stat.S_ISDIR(mode):
                raise PushError(WriteBackReason.GIT_ERROR, f"{path}: is a file, not a folder")
            tree[key] = (stat.S_IFDIR, ObjectID(_write_tree(repo, sha, change, f"{path}/")))
            continue
        if mode is not None and mode not in (_REGULAR, _EXECUTABLE):
            raise PushError(
                WriteBackReason.GIT_ERROR,
                f"{path}: not a regular file (a folder, link or submodule)",
            )
        assert isinstance(change, bytes)
        blob = Blob.from_string(change)
        store.add_object(blob)
        tree[key] = (mode or _REGULAR, blob.id)
    store.add_object(tree)
    return tree.id


def _make_commit(
    repo: Repo,
    tree: bytes,
    parent: bytes,
    author: Author,
    message: str,
    signer: SSHSigner | None,
) -> str:
    if any(c in f"{author.name}{author.email}" for c in "<>\n\r\0"):
        raise PushError(WriteBackReason.GIT_ERROR, "the author name or email has <, > or a newline")
    commit = Commit()
    commit.tree = ObjectID(tree)
    commit.parents = [ObjectID(parent)]
    person = f"{author.name} <{author.email}>".encode()
    commit.author = commit.committer = person
    now = int(time.time())
    commit.author_time = commit.commit_time = now
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = None
    commit.message = (message if message.endswith("\n") else message + "\n").encode()
    if signer is not None:
        commit.gpgsig = (signer.sign(commit.as_raw_string()) + "\n").encode()
    repo.object_store.add_object(commit)
    return commit.id.decode()
