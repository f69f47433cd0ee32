"""Fixtures for tests against a real control plane.

- ``cluster`` (session): a :class:`ClusterHandle`. It is a fresh
  :class:`tether.localcluster.LocalCluster` started from the binaries of
  ``e2e/build-tools.sh`` in a unique temp folder, or, when
  ``$TETHER_TEST_KUBECONFIG`` is set, the cluster that kubeconfig points at.
- ``namespace`` (function): a fresh namespace, deleted after the test.
- ``kubectl`` (session): :class:`Kubectl`, the pinned kubectl bound to the
  admin kubeconfig.
- ``api_client`` (function, async): a :class:`tether.kube.client.KubeClient` as admin.

When a test that used the cluster fails, the tail of every component log is
attached to its report, and the run folder is kept (its path is printed).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from kubectl_runner import Kubectl
from tether.localcluster import LocalCluster
from tether.localcluster.kubeconfig import Credentials, write_kubeconfig
from tether.tools import find_tool


class ClusterHandle(Protocol):
    """What e2e tests may rely on, for a local or an external cluster."""

    @property
    def kubeconfig(self) -> Path: ...

    @property
    def server(self) -> str: ...

    def mint_sa_kubeconfig(self, namespace: str, name: str, *, create: bool = True) -> Path: ...

    def logs(self, lines: int = 60) -> dict[str, str]: ...


@dataclass
class ExternalCluster:
    """A cluster reached through ``$TETHER_TEST_KUBECONFIG`` (not started by us)."""

    kubeconfig: Path
    kubectl: Kubectl
    _scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tether-ext-")))

    @property
    def server(self) -> str:
        return str(self._raw_config()["clusters"][0]["cluster"]["server"])

    def mint_sa_kubeconfig(self, namespace: str, name: str, *, create: bool = True) -> Path:
        if create:
            self.kubectl.run("create", "serviceaccount", name, "-n", namespace, check=False)
        token = self.kubectl.run("create", "token", name, "-n", namespace).stdout.strip()
        cluster = self._raw_config()["clusters"][0]["cluster"]
        ca_pem = _decode_b64(cluster.get("certificate-authority-data", ""))
        return write_kubeconfig(
            self._scratch / f"sa-{namespace}-{name}.kubeconfig",
            cluster["server"],
            ca_pem,
            f"system:serviceaccount:{namespace}:{name}",
            Credentials(token=token),
            namespace=namespace,
        )

    def logs(self, lines: int = 60) -> dict[str, str]:
        return {}

    def _raw_config(self) -> dict[str, Any]:
        result: dict[str, Any] = self.kubectl.json("config", "view", "--raw", "--minify")
        return result


def _decode_b64(data: str) -> bytes:
    import base64

    return base64.b64decode(data) if data else b""


# -- fixtures ---------------------------------------------------------------

_FAILED_WITH_CLUSTER: list[str] = []


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[ClusterHandle]:
    external = os.environ.get("TETHER_TEST_KUBECONFIG")
    if external:
        path = Path(external).expanduser()
        handle = ExternalCluster(path, Kubectl(find_tool("kubectl"), path))
        try:
            yield handle
        finally:
            shutil.rmtree(handle._scratch, ignore_errors=True)
        return
    run_dir = Path(tempfile.mkdtemp(prefix="tether-e2e-"))
    try:
        local = LocalCluster.start(run_dir, nodes=2, die_with_parent=True)
    except Exception:
        _print_logs(run_dir)
        raise
    print(
        f"\nlocal cluster ready in {local.state.startup_seconds:.1f}s at {local.server} ({run_dir})"
    )
    try:
        yield local
    finally:
        local.stop()
        if _FAILED_WITH_CLUSTER:
            print(f"\ncluster run folder kept for inspection: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kubectl(cluster: ClusterHandle) -> Kubectl:
    return Kubectl(find_tool("kubectl"), cluster.kubeconfig)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
async def api_client(cluster: ClusterHandle) -> AsyncIterator[Any]:
    from tether.kube.client import KubeClient

    client = await KubeClient.connect(str(cluster.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


# -- failure reporting ------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "cluster" not in getattr(item, "fixturenames", ()):
        return
    _FAILED_WITH_CLUSTER.append(item.nodeid)
    handle = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if handle is None:
        return
    for name, tail in handle.logs(lines=40).items():
        report.sections.append((f"component log: {name} (last 40 lines)", tail))


def _print_logs(run_dir: Path) -> None:
    for log in sorted((run_dir / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-60:]
        print(f"\n===== {log.name} (last 60 lines) =====\n" + "\n".join(lines))
