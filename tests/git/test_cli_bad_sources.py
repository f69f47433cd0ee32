"""No traceback for any input: ``tether render``, ``crds`` and ``version`` over bad sources.

Every command runs as a real process over the catalogue in ``bad_sources``; each
failure is exactly one line on stderr that says what is wrong, with the
documented exit code, and never a Python traceback. ``crds`` and ``version``
take no SOURCE, so for them every case is a usage error (exit 2). ``diff`` and
``sync`` run over the same catalogue against a cluster in
``e2e/test_bad_sources_cluster.py``.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bad_sources import CM, BadSource, check, git_catalogue, local_catalogue
from git_servers import HttpGitServer, commit_files, git

PROG = [sys.executable, "-c", "from tether.cli import main; main()"]


@pytest.fixture(scope="module")
def catalogue(
    tmp_path_factory: pytest.TempPathFactory,
    git_base: Path,
    git_daemon: int,
    http_server: HttpGitServer,
) -> list[BadSource]:
    work = tmp_path_factory.mktemp("catalogue-work")
    git("init", "-q", cwd=work)
    commit_files(work, {"app/cm.yaml": CM.format(name="served")}, "one")
    bare = git_base / "catalogue.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    auth = tmp_path_factory.mktemp("auth")
    (auth / "good.yaml").write_text(
        f"username: {http_server.username}\npassword: {http_server.password}\n"
    )
    (auth / "bad.yaml").write_text(f"username: {http_server.username}\npassword: wrong\n")
    return [
        *local_catalogue(tmp_path_factory.mktemp("bad")),
        *git_catalogue(
            f"git://127.0.0.1:{git_daemon}/catalogue.git",
            f"{http_server.url}/catalogue.git",
            auth / "good.yaml",
            auth / "bad.yaml",
        ),
    ]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROG, *args], capture_output=True, text=True, timeout=120, check=False)


def test_render_crds_and_version_fail_in_one_line_for_every_bad_source(
    catalogue: list[BadSource],
) -> None:
    jobs = [
        (case, command, (command, *case.args) if command == "render" else (command, case.args[0]))
        for case in catalogue
        for command in ("render", "crds", "version")
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: run(*job[2]), jobs))
    problems = [
        p
        for (case, command, _), done in zip(jobs, results, strict=True)
        for p in check(case, command, done)
    ]
    assert not problems, "\n".join(problems)
    assert len(catalogue) >= 20


def test_the_served_repository_itself_renders(catalogue: list[BadSource], git_daemon: int) -> None:
    """The Git cases fail for their stated reason, not because the server is down."""
    done = run(
        "render", f"git://127.0.0.1:{git_daemon}/catalogue.git", "--insecure", "--path", "app"
    )
    assert done.returncode == 0, done.stderr
    assert "name: served" in done.stdout
