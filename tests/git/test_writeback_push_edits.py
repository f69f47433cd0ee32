"""push_change with the real edit model (``apply_plan``) against a real git daemon.

The conflict loop re-applies the *edits* to whatever the new tip holds: a competing
commit that changed other lines of the same file keeps them, and one that moved the
field away ends in FieldMoved with nothing of ours on the branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from git_servers import git, push_commit, start_git_daemon, stop

from tether.git import GitAuth, GitCache
from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.edits import Capture, EditPlan, SourceKind, apply_plan
from tether.writeback.errors import FieldMoved
from tether.writeback.gitwrite import Author, Build, PushTarget, Reader, push_change
from tether.writeback.pointer import FieldPointer

DEPLOY = """\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep this comment
  namespace: demo
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
"""


@pytest.fixture
def served(git_base: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A repository with one Deployment, behind a git daemon that takes pushes."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    manifest = work / "apps" / "web" / "deploy.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(DEPLOY)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "web", cwd=work)
    bare = git_base / f"edits-{tmp_path.name}.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    git("remote", "add", "origin", str(bare), cwd=work)
    process, port = start_git_daemon(git_base, receive_pack=True)
    yield f"git://127.0.0.1:{port}/{bare.name}", bare, work
    stop(process)


def replicas_plan(value: int) -> EditPlan:
    capture = Capture(
        key=ResourceKey("apps", "Deployment", "demo", "web"),
        pointer=FieldPointer.parse("/spec/replicas"),
        value=value,
        origin=ObjectSource("apps/web/deploy.yaml", 0),
        git_value=2,
    )
    return EditPlan(app_path="apps/web", kind=SourceKind.PLAIN, captures=(capture,))


def racing(plan: EditPlan, work: Path, files: dict[str, str]) -> Build:
    """apply_plan, after pushing a competing commit the first time it is called."""
    calls: list[int] = []

    def build(read: Reader) -> dict[str, bytes]:
        if not calls:
            push_commit(work, files, "someone else")
        calls.append(1)
        return apply_plan(plan, read)

    return build


def test_the_edit_is_re_applied_on_the_new_tip(
    served: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, bare, work = served
    theirs = DEPLOY.replace("image: nginx:1.25", "image: nginx:1.27  # bumped by CI")
    result = push_change(
        PushTarget(url, GitAuth(), "main", insecure=True),
        racing(replicas_plan(5), work, {"apps/web/deploy.yaml": theirs}),
        Author("Tether", "tether@example.invalid"),
        "scale web to 5",
        cache=GitCache(tmp_path / "cache"),
    )
    assert result.attempts == 2
    assert git("show", "main:apps/web/deploy.yaml", cwd=bare) + "\n" == theirs.replace(
        "replicas: 2", "replicas: 5"
    )
    assert git("log", "--format=%s", "main", cwd=bare).splitlines() == [
        "scale web to 5",
        "someone else",
        "web",
    ]


def test_a_field_moved_upstream_ends_in_field_moved(
    served: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, bare, work = served
    moved = DEPLOY.replace("  replicas: 2\n", "")  # an HPA owns the count now
    with pytest.raises(FieldMoved):
        push_change(
            PushTarget(url, GitAuth(), "main", insecure=True),
            racing(replicas_plan(5), work, {"apps/web/deploy.yaml": moved}),
            Author("Tether", "tether@example.invalid"),
            "scale web to 5",
            cache=GitCache(tmp_path / "cache"),
        )
    assert git("log", "-1", "--format=%s", "main", cwd=bare) == "someone else"
