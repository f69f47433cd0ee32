"""``RepoPool``: one borrower per repository, bounded idle repositories, the oldest closed first."""

from __future__ import annotations

from pathlib import Path

from dulwich.repo import Repo

from tether.git.repopool import RepoPool


def bare(root: Path, name: str) -> str:
    path = root / name
    Repo.init_bare(str(path), mkdir=True).close()
    return str(path)


def test_a_returned_repository_is_lent_again_and_never_to_two_at_once(tmp_path: Path) -> None:
    pool = RepoPool(per_path=2)
    path = bare(tmp_path, "a")
    first = pool.take(path)
    second = pool.take(path)  # the first is lent: a new one
    assert second is not first
    pool.give(path, first)
    assert pool.take(path) is first


def test_idle_repositories_are_bounded_per_path_and_by_paths(tmp_path: Path) -> None:
    pool = RepoPool(per_path=1, paths=2)
    a, b, c = (bare(tmp_path, n) for n in "abc")
    lent = [pool.take(a), pool.take(a)]
    for repo in lent:
        pool.give(a, repo)
    assert pool.idle(a) == 1  # the surplus one was closed
    pool.give(b, pool.take(b))
    pool.give(c, pool.take(c))  # a third path: the least recently used (a) goes
    assert (pool.idle(a), pool.idle(b), pool.idle(c)) == (0, 1, 1)
    pool.close()
    assert (pool.idle(b), pool.idle(c)) == (0, 0)
