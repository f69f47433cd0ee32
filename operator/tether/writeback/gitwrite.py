"""Commit and push one write-back change: the conflict loop around ``tether.git.push``.

``push_change`` opens receive-pack with the Repository's credentials and, on the tip
the server advertises, asks ``build`` for the changed files given a reader of that
tip (``build`` is the edit model's ``apply_plan`` bound to a plan, so a retry
re-applies the *edits*, not a textual patch). It writes blobs, trees and a commit
straight into the shared cache's object store (no working copy, no git CLI),
optionally signs it (``signing``), and pushes on the same connection, as ``git
push`` does. A tip the cache does not have yet is fetched first (then a new round).

* The followed branch moves only as a fast-forward of the tip the commit was built
  on (the remote must still have that tip). If another commit landed in between,
  the next round builds again on the new tip (``build`` may raise ``FieldMoved``),
  with exponential backoff and jitter, up to ``max_attempts``; then
  ``PushConflict``. Never a force push.
* ``push_branch`` (a review branch made from ``branch``) gets one commit on the
  branch tip, replacing what was there only if the remote still has ``lease``
  (None: the review branch must not exist yet); otherwise ``PushConflict`` at once.

An empty change (``build`` returns nothing, or the same bytes) makes no commit and
returns a result with ``pushed=False``. A refusal by the server is ``PushDenied``
with its own words; any other Git failure ``GitWriteError`` (all
``WriteBackError``). This module stops at the push: what to change is the edit
model's (``edits``), when to push is the controller's.
"""

from __future__ import annotations

import contextlib
import random
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.repo import Repo

from tether.backoff import exponential
from tether.git.auth import GitAuth
from tether.git.cache import GitCache, _peel
from tether.git.errors import GitError, PushRejectedError, StaleRefError
from tether.git.push import RefUpdate, fetch_branch, push_update
from tether.git.urls import GitURL
from tether.writeback.errors import (
    GitWriteError,
    PushConflict,
    PushDenied,
)
from tether.writeback.signing import SigningKeyError, SSHSigner

Reader = Callable[[str], bytes | None]
Build = Callable[[Reader], dict[str, bytes]]

# The key of the Repository's Secret that holds the commit signing key (OpenSSH private key).
SIGNING_KEY_FIELD = "signingKey"
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
    ``parent``: the tip it was built on. ``attempts``: the changes built and pushed,
    1 unless the branch moved under a push (a fetch of a tip the cache lacked is
    not an attempt).
    ``branch``: the branch written (``push_branch`` if set). ``pushed``: False for an
    empty change (then ``commit == parent``).
    """

    commit: str
    parent: str
    attempts: int
    branch: str
    pushed: bool = True


def signing_key_of(secret: Mapping[str, str | bytes] | None) -> bytes | None:
    """The commit signing key in a Repository's (decoded) Secret data, or None."""
    value = (secret or {}).get(SIGNING_KEY_FIELD)
    if value in (None, "", b""):
        return None
    return value.encode() if isinstance(value, str) else value


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
    """Build the change on the remote's tip, commit and push; go round again if it moved.

    Blocking (run it in a worker thread). Raises ``WriteBackError``: whatever
    ``build`` raises (e.g. ``FieldMoved``), ``PushDenied``, ``PushConflict`` or
    ``GitWriteError``. Never force-pushes the followed branch.
    """
    _check_author(author)
    cache = cache if cache is not None else GitCache()
    job = _Job(cache, _parse(cache, target), target, build, author, message, _signer(signing_key))
    stale = fetched = 0
    while True:
        try:
            return _round(job, stale + 1)
        except _NotCached as missing:
            fetched += 1
            if fetched > max(1, max_attempts):  # the tip moves faster than we can fetch it
                raise _conflict(target, job.url, missing.stale, fetched) from None
            _fetch(job)
        except StaleRefError as exc:
            stale += 1
            if target.push_branch is not None or stale >= max_attempts:
                raise _conflict(target, job.url, exc, stale) from None
            time.sleep(_delay(stale))


@dataclass(frozen=True)
class _Job:
    """Everything one push_change call works with, for its rounds."""

    cache: GitCache
    url: GitURL
    target: PushTarget
    build: Build
    author: Author
    message: str
    signer: SSHSigner | None

    @property
    def timeout(self) -> float:
        return self.target.timeout or self.cache.timeout

    @property
    def branch_ref(self) -> str:
        return _full_ref(self.target.branch)

    @property
    def dest_ref(self) -> str:
        return _full_ref(self.target.push_branch or self.target.branch)


class _NotCached(Exception):
    """The remote's tip is not in the cache yet: fetch it, then go round again."""

    def __init__(self, job: _Job, tip: str) -> None:
        super().__init__(tip)
        self.stale = StaleRefError(
            f"the branch tip {tip} is not cached", actual=tip, url=job.url.redacted
        )


def _round(job: _Job, attempt: int) -> PushResult:
    """One receive-pack connection: build on the tip it advertises, commit, push.

    Raises ``_NotCached`` (fetch first) or ``StaleRefError`` (go round again).
    """
    dest = _short(job.dest_ref)
    outcome: list[PushResult] = []

    def decide(refs: Mapping[str, str]) -> RefUpdate | None:
        tip = refs.get(job.branch_ref)
        if tip is None:
            raise GitWriteError(
                f"write-back to {job.target.branch} of {job.url.redacted}: "
                "no such branch on the remote"
            )
        lease, there = job.target.lease, refs.get(job.dest_ref)
        if job.target.push_branch is not None and there != lease:
            raise StaleRefError(
                f"the lease does not hold: the remote has {there or 'no branch'}, "
                f"expected {lease or 'no branch'}",
                actual=there,
                url=job.url.redacted,
                ref=job.dest_ref,
            )
        update, result = _commit_on(job, tip, attempt)
        outcome.append(result)
        return update

    try:
        push_update(job.cache, job.url, job.target.auth, decide, timeout=job.timeout)
    except PushRejectedError as exc:
        raise PushDenied(
            f"push to {dest} of {job.url.redacted} refused by the server: {exc.server_says}"
        ) from None
    except StaleRefError:
        raise
    except GitError as exc:
        raise _git_failure(job.url, job.dest_ref, exc) from None
    return outcome[-1]


def _commit_on(job: _Job, tip: str, attempt: int) -> tuple[RefUpdate | None, PushResult]:
    """Build the change on ``tip`` (from the cache) and write its commit; None if empty."""
    dest = _short(job.dest_ref)
    path = job.cache.repo_path(job.url)
    if not (path / "objects").is_dir():
        raise _NotCached(job, tip)
    with contextlib.closing(Repo(str(path))) as repo:
        if _peel(repo, tip.encode()) != tip:
            raise _NotCached(job, tip)
        base = _commit(repo, tip)
        changes = job.build(_TipReader(repo, base.tree))
        new = _NewObjects(repo)
        tree = _write_tree(new, base.tree, _split(changes), "")
        if tree == base.tree:
            return None, PushResult(tip, tip, attempt, dest, pushed=False)
        commit = _make_commit(new, tree, base.id, job.author, job.message, job.signer)
    expect = tip if job.target.push_branch is None else job.target.lease
    update = RefUpdate(job.dest_ref, commit, expect, base=tip, objects=tuple(new.written))
    return update, PushResult(commit, tip, attempt, dest)


def _fetch(job: _Job) -> None:
    """Bring the branch tip into the cache (a tip the last round did not find there)."""
    try:
        fetch_branch(job.cache, job.url, job.target.auth, job.branch_ref, timeout=job.timeout)
    except GitError as exc:
        raise _git_failure(job.url, job.branch_ref, exc) from None


def _parse(cache: GitCache, target: PushTarget) -> GitURL:
    try:
        return cache.parse(target.url, insecure=target.insecure)
    except GitError as exc:
        raise GitWriteError(f"cannot push: {exc}") from None


def _signer(signing_key: bytes | None) -> SSHSigner | None:
    if signing_key is None:
        return None
    try:
        return SSHSigner.load(signing_key)
    except SigningKeyError as exc:
        raise GitWriteError(f"signingKey in the Repository's Secret: {exc}") from None


def _git_failure(url: GitURL, ref: str, exc: GitError) -> GitWriteError:
    return GitWriteError(f"write-back to {_short(ref)} of {url.redacted}: {exc}")


def _conflict(target: PushTarget, url: GitURL, exc: StaleRefError, attempts: int) -> PushConflict:
    if target.push_branch is not None:
        why = f"review branch {target.push_branch} moved: {exc.detail}"
    else:
        why = f"branch {target.branch} kept moving; gave up after {attempts} attempts"
    return PushConflict(f"write-back to {url.redacted}: {why}")


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


class _TipReader:
    """``read(path)``: the bytes of the regular file at ``path`` in a tree, or None.

    Paths are taken literally (no symlink is followed: a write goes to that very
    path). Trees are parsed once per round, however many files ``build`` reads.
    """

    def __init__(self, repo: Repo, tree: bytes) -> None:
        self._store = repo.object_store
        self._root = tree
        self._trees: dict[bytes, Tree] = {}

    def __call__(self, path: str) -> bytes | None:
        mode, sha = stat.S_IFDIR, self._root
        for name in _parts(path):
            if not stat.S_ISDIR(mode):
                return None
            node = self._tree(sha)
            if name.encode() not in node:
                return None
            mode, sha = node[name.encode()]
        if not stat.S_ISREG(mode):
            return None
        blob = self._store[ObjectID(sha)]
        return blob.as_raw_string() if isinstance(blob, Blob) else None

    def _tree(self, sha: bytes) -> Tree:
        tree = self._trees.get(sha)
        if tree is None:
            obj = self._store[ObjectID(sha)]
            assert isinstance(obj, Tree)
            tree = self._trees[sha] = obj
        return tree


def _parts(path: str) -> list[str]:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise GitWriteError(f"{path!r}: not a file path in the repository")
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
                raise GitWriteError(f"{path}: a parent is also a file")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise GitWriteError(f"{path}: is also a folder")
        node[parts[-1]] = data
    return nested


class _NewObjects:
    """The objects one commit adds: written to the cache's store, and kept for the pack."""

    def __init__(self, repo: Repo) -> None:
        self.store = repo.object_store
        self.written: list[ShaFile] = []

    def add(self, obj: ShaFile) -> bytes:
        self.store.add_object(obj)
        self.written.append(obj)
        return obj.id


def _write_tree(
    new: _NewObjects, tree_id: bytes | None, changes: dict[str, object], where: str
) -> bytes:
    """A copy of ``tree_id`` with ``changes`` applied; returns the new tree's id."""
    tree = Tree()
    if tree_id is not None:
        old = new.store[ObjectID(tree_id)]
        assert isinstance(old, Tree)
        for entry in old.iteritems():
            tree.add(entry.path, entry.mode, entry.sha)
    for name, change in changes.items():
        key = name.encode()
        path = f"{where}{name}"
        mode, sha = tree[key] if key in tree else (None, None)  # noqa: SIM401 - Tree has no get
        if isinstance(change, dict):
            if mode is not None and not stat.S_ISDIR(mode):
                raise GitWriteError(f"{path}: is a file, not a folder")
            tree[key] = (stat.S_IFDIR, ObjectID(_write_tree(new, sha, change, f"{path}/")))
            continue
        if mode is not None and mode not in (_REGULAR, _EXECUTABLE):
            raise GitWriteError(
                f"{path}: not a regular file (a folder, link or submodule)",
            )
        assert isinstance(change, bytes)
        tree[key] = (mode or _REGULAR, ObjectID(new.add(Blob.from_string(change))))
    return new.add(tree)


def _check_author(author: Author) -> None:
    if any(c in f"{author.name}{author.email}" for c in "<>\n\r\0"):
        raise GitWriteError("the write-back author's name or email has <, > or a newline")


def _make_commit(
    new: _NewObjects,
    tree: bytes,
    parent: bytes,
    author: Author,
    message: str,
    signer: SSHSigner | None,
) -> str:
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
    return new.add(commit).decode()
