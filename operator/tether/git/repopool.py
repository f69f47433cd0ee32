"""Open dulwich repositories kept between renders, each lent to one tree at a time.

Opening a ``Repo`` reads its config, checks a dozen paths and scans the pack
folder; closing it drops the packs' mapped indexes, which the next render of the
next app maps again. At 200 apps of one repository that was a tenth of the
operator's time while converging. ``RepoPool`` keeps a few open repositories per
path and lends each to one ``GitTree`` at a time, so nothing is shared between
threads (dulwich's pack readers are not thread-safe); packs fetched later are
found by dulwich's own rescan of the pack folder on a miss.

Bounded: at most ``per_path`` idle repositories per path and ``paths`` paths,
least recently used closed first. Stops at lending; reading is ``git.tree``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from dulwich.repo import Repo


class RepoPool:
    """Idle open ``Repo`` objects by path; ``take`` one, ``give`` it back when done."""

    def __init__(self, *, per_path: int = 4, paths: int = 16) -> None:
        self.per_path = per_path
        self.paths = paths
        self._lock = threading.Lock()  # trees are closed in worker threads
        self._idle: OrderedDict[str, list[Repo]] = OrderedDict()

    def take(self, path: str) -> Repo:
        with self._lock:
            idle = self._idle.get(path)
            if idle:
                self._idle.move_to_end(path)
                return idle.pop()
        return Repo(path)

    def give(self, path: str, repo: Repo) -> None:
        surplus: list[Repo] = []
        with self._lock:
            idle = self._idle.setdefault(path, [])
            self._idle.move_to_end(path)
            (idle if len(idle) < self.per_path else surplus).append(repo)
            while len(self._idle) > self.paths:
                surplus += self._idle.popitem(last=False)[1]
        for extra in surplus:
            extra.close()

    def close(self) -> None:
        with self._lock:
            idle = [repo for repos in self._idle.values() for repo in repos]
            self._idle.clear()
        for repo in idle:
            repo.close()

    def idle(self, path: str) -> int:
        with self._lock:
            return len(self._idle.get(path, ()))


__all__ = ["RepoPool"]
