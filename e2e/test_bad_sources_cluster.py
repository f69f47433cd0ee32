"""No traceback for any input: ``tether diff`` and ``tether sync`` over bad sources.

The same catalogue as ``tests/git/test_cli_bad_sources.py`` (render, crds,
version), here against the real control plane: each failure is one line on
stderr with the documented exit code (diff 2; sync 2 for bad input, 1 when the
cluster refuses the objects), and never a Python traceback. Nothing is created
in the namespace by any of them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import PROG, tether

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "git"))

from bad_sources import CM, BadSource, check, git_catalogue, local_catalogue
from git_servers import HttpGitServer, commit_files, git, start_git_daemon, stop

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[BadSource]]:
    base = tmp_path_factory.mktemp("served")
    work = tmp_path_factory.mktemp("catalogue-work")
    git("init", "-q", cwd=work)
    commit_files(work, {"app/cm.yaml": CM.format(name="served")}, "one")
    git("clone", "-q", "--bare", str(work), str(base / "catalogue.git"))
    daemon, port = start_git_daemon(base)
    http = HttpGitServer(base)
    http.start()
    auth = tmp_path_factory.mktemp("auth")
    (auth / "good.yaml").write_text(f"username: {http.username}\npassword: {http.password}\n")
    (auth / "bad.yaml").write_text(f"username: {http.username}\npassword: wrong\n")
    try:
        yield [
            *local_catalogue(tmp_path_factory.mktemp("bad")),
            *git_catalogue(
                f"git://127.0.0.1:{port}/catalogue.git",
                f"{http.url}/catalogue.git",
                auth / "good.yaml",
                auth / "bad.yaml",
            ),
        ]
    finally:
        http.stop()
        stop(daemon)


def test_diff_and_sync_fail_in_one_line_for_every_bad_source(
    cluster: Any, kubectl: Any, namespace: str, catalogue: list[BadSource]
) -> None:
    jobs = [
        (case, command, (command, *case.args, "--app", f"bad-{case.name}", "-n", namespace))
        for case in catalogue
        for command in ("diff", "sync")
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: tether(cluster, *job[2]), jobs))
    problems = [
        p
        for (case, command, _), done in zip(jobs, results, strict=True)
        for p in check(case, command, done)
    ]
    assert not problems, "\n".join(problems)
    left = kubectl.run("get", "configmaps,deployments", "-n", namespace, "-o", "name").stdout
    assert left.split() == ["configmap/kube-root-ca.crt"], left


def test_a_duplicate_only_namespace_defaulting_reveals_is_refused_by_diff_and_sync(
    cluster: Any, kubectl: Any, namespace: str, tmp_path: Path
) -> None:
    """One copy names the destination namespace, the other leaves it to defaulting.

    The render cannot tell (it does not know the kind's scope); the engine's check
    after keying does, with the same error type, naming both files.
    """
    (tmp_path / "named.yaml").write_text(
        CM.format(name="twice").replace("name: twice", f"name: twice\n  namespace: {namespace}")
    )
    (tmp_path / "defaulted.yaml").write_text(CM.format(name="twice"))
    rendered = subprocess.run(
        [*PROG, "render", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    twice = (
        f"ConfigMap {namespace}/twice is declared twice: "
        "defaulted.yaml[doc 0] and named.yaml[doc 0]"
    )
    diffed = tether(cluster, "diff", str(tmp_path), "--app", "mixed", "-n", namespace)
    assert (diffed.returncode, diffed.stderr) == (2, f"error: {twice}\n"), diffed.stdout
    # sync judges it as diff does: bad input (exit 2), found after keying, nothing applied.
    synced = tether(cluster, "sync", str(tmp_path), "--app", "mixed", "-n", namespace)
    assert (synced.returncode, synced.stderr) == (2, f"error: {twice}\n"), synced.stdout
    assert synced.stdout == ""
    listed = kubectl.run("get", "configmap", "twice", "-n", namespace, "--ignore-not-found")
    assert listed.stdout.strip() == ""
