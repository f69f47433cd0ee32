"""The local control plane as one object: start, attach, stop, logs, SA kubeconfigs.

``LocalCluster.start(run_dir)`` makes certificates, starts etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok from the pinned binaries in
``~/.cache/tether/bin``, registers fake nodes and waits until the cluster is
usable: ``/readyz`` is ok, every node is Ready, and the ``default``
ServiceAccount exists (proof that the controller manager works).
``LocalCluster.attach(run_dir)`` reopens a cluster started by another process.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.localcluster import components as comp
from tether.localcluster import node, oci, pki, procs
from tether.localcluster.api import AdminClient
from tether.localcluster.errors import (
    ClusterNotRunningError,
    ClusterRequestError,
    ClusterStartTimeoutError,
    ClusterToolMissingError,
    RealNodeError,
)
from tether.localcluster.kubeconfig import Credentials, write_kubeconfig
from tether.tools import ToolNotFoundError, cache_dir, find_tool

ADMIN_USER = "tether-admin"
DEFAULT_START_TIMEOUT = 90.0
_POLL = 0.1

# Client identities of the components (CN, groups); RBAC bootstrap knows the first two.
_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": (ADMIN_USER, ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    "kwok": ("tether-kwok", ("system:masters",)),
    # The API server's identity towards the real node's kubelet (exec, logs).
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
    "kubelet": (f"system:node:{node.NODE_NAME}", ("system:nodes",)),
}


def default_run_dir() -> Path:
    """The folder ``tether cluster up`` uses without ``--dir``: ``~/.cache/tether/cluster``."""
    return cache_dir() / "cluster"


def kwok_stages_file() -> Path:
    """The kwok stage policies rendered by e2e/build-tools.sh."""
    path = cache_dir() / "kwok" / "stages.yaml"
    if not path.is_file():
        raise ClusterToolMissingError(f"{path} is missing: run `bash e2e/build-tools.sh kwok`")
    return path


@dataclass(frozen=True)
class ClusterState:
    """What ``cluster.json`` records about a run."""

    server: str
    ports: comp.Ports
    nodes: tuple[str, ...]
    startup_seconds: float
    # (milestone, seconds since start) in the order reached.
    milestones: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "server": self.server,
                "ports": self.ports.__dict__,
                "nodes": list(self.nodes),
                "startup_seconds": self.startup_seconds,
                "milestones": [list(m) for m in self.milestones],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        data = json.loads(text)
        return cls(
            server=data["server"],
            ports=comp.Ports(**data["ports"]),
            nodes=tuple(data["nodes"]),
            startup_seconds=float(data["startup_seconds"]),
            milestones=tuple((str(n), float(t)) for n, t in data.get("milestones", [])),
        )


@dataclass
class LocalCluster:
    """A running local control plane rooted at ``run_dir``."""

    run_dir: Path
    state: ClusterState
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    _milestones: list[tuple[str, float]] = field(default_factory=list, repr=False)

    # -- construction -------------------------------------------------------

    @classmethod
    def start(
        cls,
        run_dir: Path,
        *,
        nodes: int = 1,
        real_node: bool = False,
        die_with_parent: bool = False,
        timeout: float = DEFAULT_START_TIMEOUT,
    ) -> LocalCluster:
        """Start a fresh cluster in ``run_dir`` (made if missing; must not hold a live one).

        With ``real_node`` a kubelet with containerd joins beside the kwok nodes
        (root only; see :mod:`tether.localcluster.node`). With ``die_with_parent``
        the components get SIGTERM when this process dies (for test sessions). On
        any failure everything started is stopped and the error is raised; the
        logs stay in ``run_dir/logs``.
        """
        if not 1 <= nodes <= 3:
            raise ValueError(f"nodes must be 1..3, got {nodes}")
        run_dir = run_dir.resolve()
        if _live_components(run_dir):
            raise FileExistsError(f"a cluster is already running in {run_dir}")
        binaries = _binaries()
        if real_node:
            node.check_host()
            binaries["kubelet"] = _node_binary("kubelet")
            binaries["pause"] = _node_binary("pause")
            binaries["containerd"] = node.host_binary("containerd")
        stages = kwok_stages_file()
        layout = comp.RunLayout(run_dir)
        began = time.monotonic()
        _reset_run_dir(layout)
        ports = comp.Ports(procs.free_port(), procs.free_port(), procs.free_port())
        server = f"https://127.0.0.1:{ports.apiserver}"
        _write_pki(layout, server)
        node_names = tuple(f"kwok-node-{i}" for i in range(nodes))
        if real_node:
            node_names += (node.NODE_NAME,)
        state = ClusterState(server, ports, node_names, 0.0)
        cluster = cls(run_dir=run_dir, state=state)
        try:
            cluster._boot(layout, binaries, stages, die_with_parent, began, timeout)
        except BaseException:
            cluster.stop()
            raise
        cluster.state = ClusterState(
            server, ports, node_names, time.monotonic() - began, tuple(cluster._milestones)
        )
        layout.state_file.write_text(cluster.state.to_json())
        return cluster

    @classmethod
    def attach(cls, run_dir: Path) -> LocalCluster:
        """Reopen a cluster another process started in ``run_dir``."""
        run_dir = run_dir.resolve()
        layout = comp.RunLayout(run_dir)
        if not layout.state_file.is_file() or not _live_components(run_dir):
            raise ClusterNotRunningError(f"no running cluster in {run_dir}")
        return cls(run_dir=run_dir, state=ClusterState.from_json(layout.state_file.read_text()))

    # -- public properties --------------------------------------------------

    @property
    def layout(self) -> comp.RunLayout:
        return comp.RunLayout(self.run_dir)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (user ``tether-admin`` in ``system:masters``)."""
        return self.layout.admin_kubeconfig

    @property
    def server(self) -> str:
        return self.state.server

    @property
    def ca_file(self) -> Path:
        return self.layout.cert("ca")

    @property
    def node_names(self) -> tuple[str, ...]:
        return self.state.nodes

    @property
    def node_layout(self) -> node.NodeLayout:
        return node.NodeLayout(self.run_dir / "node")

    @property
    def has_real_node(self) -> bool:
        return node.NODE_NAME in self.state.nodes

    def load_image(self, archive: Path) -> str:
        """Import an OCI/Docker image archive into the real node's containerd."""
        if not self.has_real_node:
            raise RealNodeError(
                f"the cluster in {self.run_dir} has no real node (start it with --real-node)"
            )
        return node.import_image(self.node_layout, archive)

    def admin_client(self) -> AdminClient:
        layout = self.layout
        return AdminClient(
            self.server, layout.cert("ca"), layout.cert("admin"), layout.key("admin")
        )

    # -- operations ---------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop every component (SIGTERM, then SIGKILL); return the names stopped."""
        stopped = stop_run_dir(self.run_dir)
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._procs.clear()
        return stopped

    # -- faults, for tests ---------------------------------------------------------

    def kill_apiserver(self) -> None:
        """SIGKILL the kube-apiserver, as a crash would; etcd and the rest keep running."""
        pid = procs.recorded_pids(self.run_dir).get("kube-apiserver")
        if pid is None or not procs.is_ours(pid, self.run_dir):
            raise ClusterNotRunningError(f"no kube-apiserver running in {self.run_dir}")
        procs.kill_group(pid, self.run_dir)
        proc = self._procs.pop("kube-apiserver", None)
        if proc is not None:
            proc.wait()

    def start_apiserver(self, *, die_with_parent: bool = True, timeout: float = 60.0) -> float:
        """Start the kube-apiserver again on the same port, certificates and etcd, and
        wait for /readyz; returns the seconds that took."""
        began = time.monotonic()
        binary = find_tool("kube-apiserver")
        self._launch(
            "kube-apiserver",
            comp.apiserver_argv(binary, self.layout, self.state.ports),
            die_with_parent,
        )
        self._wait_readyz(began + timeout)
        return time.monotonic() - began

    def is_running(self) -> bool:
        return bool(_live_components(self.run_dir))

    def logs(self, lines: int = 60) -> dict[str, str]:
        """The last ``lines`` lines of each component's log, by component name."""
        return {
            log.stem: procs.log_tail(log, lines) for log in sorted(self.layout.logs.glob("*.log"))
        }

    def mint_sa_kubeconfig(
        self,
        namespace: str,
        name: str,
        *,
        create: bool = True,
        expiration_seconds: int = 3600,
    ) -> Path:
        """Write a kubeconfig that authenticates as ServiceAccount ``namespace/name``.

        The token comes from the TokenRequest API, so the API server treats it
        exactly as a pod's projected token. With ``create`` the ServiceAccount
        is made if absent (the namespace must exist).
        """
        client = self.admin_client()
        base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
        if create:
            client.create(
                base, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
            )
        path = f"{base}/{name}/token"
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        }
        status, data = client.request("POST", path, body)
        if status != 201 or not isinstance(data, dict):
            raise ClusterRequestError("POST", path, status, str(data)[:300])
        token = data["status"]["token"]
        out = self.layout.kubeconfigs / f"sa-{namespace}-{name}.kubeconfig"
        return write_kubeconfig(
            out,
            self.server,
            self.ca_file.read_bytes(),
            f"system:serviceaccount:{namespace}:{name}",
            Credentials(token=token),
            namespace=namespace,
        )

    def _boot(
        self,
        layout: comp.RunLayout,
        binaries: dict[str, str],
        stages: Path,
        die_with_parent: bool,
        began: float,
        timeout: float,
    ) -> None:
        deadline = began + timeout

        def reached(milestone: str) -> None:
            self._milestones.append((milestone, round(time.monotonic() - began, 3)))

        reached("certificates")
        ports = self.state.ports
        self._launch("etcd", comp.etcd_argv(binaries["etcd"], layout, ports), die_with_parent)
        self._wait_etcd(deadline)
        reached("etcd healthy")
        argv = comp.apiserver_argv(binaries["kube-apiserver"], layout, ports)
        self._launch("kube-apiserver", argv, die_with_parent)
        self._wait_readyz(deadline)
        reached("kube-apiserver readyz")
        self._launch(
            "kube-controller-manager",
            comp.controller_manager_argv(binaries["kube-controller-manager"], layout),
            die_with_parent,
        )
        self._launch(
            "kube-scheduler",
            comp.scheduler_argv(binaries["kube-scheduler"], layout),
            die_with_parent,
        )
        self._launch("kwok", comp.kwok_argv(binaries["kwok"], layout, stages), die_with_parent)
        client = self.admin_client()
        for name in self.state.nodes:
            if name != node.NODE_NAME:
                client.create("/api/v1/nodes", comp.node_manifest(name))
        if self.has_real_node:
            self._boot_real_node(binaries, die_with_parent, deadline)
            reached("real node started")
        self._wait_until(deadline, "nodes Ready", self._nodes_ready)
        reached("nodes ready")
        self._wait_until(deadline, "default ServiceAccount", self._default_sa_exists)
        reached("default serviceaccount")

    def _boot_real_node(
        self, binaries: dict[str, str], die_with_parent: bool, deadline: float
    ) -> None:
        """Host network, containerd with the pause image, then the kubelet."""
        layout, nl = self.layout, self.node_layout
        nl.make_dirs()
        node.setup_host_network(self.state.ports.apiserver, comp.SERVICE_IP)
        nl.containerd_config.write_text(
            node.containerd_config(nl, restrict_oom_score=not node.has_cap_sys_resource())
        )
        (nl.cni_conf_dir / "10-tether.conflist").write_text(node.cni_conflist(nl))
        self._launch(
            "containerd", node.containerd_argv(binaries["containerd"], nl), die_with_parent
        )
        self._wait_until(deadline, "containerd socket", nl.containerd_socket.exists)
        _write_pause_image(Path(binaries["pause"]), nl.pause_archive)
        node.import_image(nl, nl.pause_archive)
        ca = pki.load_ca(layout.cert("ca"), layout.key("ca"))
        serving = ca.issue_server(node.NODE_NAME, [node.NODE_NAME], [node.BRIDGE_IP])
        cert, key = serving.write(layout.pki, "kubelet-serving")
        ports = node.NodePorts(procs.free_port(), procs.free_port())
        nl.kubelet_config.write_text(
            node.kubelet_config(
                nl,
                ports,
                client_ca=layout.cert("ca"),
                serving_cert=cert,
                serving_key=key,
                cgroup_v1_host=node.cgroup_v1(),
                swap=node.swap_on(),
            )
        )
        shutil.copyfile(layout.component_kubeconfig("kubelet"), nl.kubelet_kubeconfig)
        self._launch("kubelet", node.kubelet_argv(binaries["kubelet"], nl), die_with_parent)

    def _launch(self, name: str, argv: list[str], die_with_parent: bool) -> None:
        _, proc = procs.start_component(self.run_dir, name, argv, die_with_parent=die_with_parent)
        self._procs[name] = proc

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            procs.check_running(
                procs.Component(name, proc.pid, self.layout.logs / f"{name}.log"), proc
            )

    def _wait_until(self, deadline: float, what: str, probe: Callable[[], bool]) -> None:
        while True:
            self._check_alive()
            try:
                if probe():
                    return
            except (OSError, ClusterRequestError):
                pass
            if time.monotonic() > deadline:
                raise ClusterStartTimeoutError(
                    f"timed out waiting for {what}; logs in {self.layout.logs}"
                )
            time.sleep(_POLL)

    def _wait_etcd(self, deadline: float) -> None:
        def healthy() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", self.state.ports.etcd_client, timeout=2)
            try:
                conn.request("GET", "/health")
                return b'"health":"true"' in conn.getresponse().read()
            finally:
                conn.close()

        self._wait_until(deadline, "etcd /health", healthy)

    def _wait_readyz(self, deadline: float) -> None:
        client = self.admin_client()
        self._wait_until(
            deadline, "kube-apiserver /readyz", lambda: client.request("GET", "/readyz")[0] == 200
        )

    def _nodes_ready(self) -> bool:
        items = self.admin_client().get("/api/v1/nodes").get("items", [])
        ready = {
            n["metadata"]["name"]
            for n in items
            for c in n.get("status", {}).get("conditions", [])
            if c.get("type") == "Ready" and c.get("status") == "True"
        }
        return set(self.state.nodes) <= ready

    def _default_sa_exists(self) -> bool:
        status, _ = self.admin_client().request(
            "GET", "/api/v1/namespaces/default/serviceaccounts/default"
        )
        return status == 200


def stop_run_dir(run_dir: Path) -> list[str]:
    """Stop every component recorded in ``run_dir``; return the names stopped.

    Works without the process that started them; a folder without a cluster
    is fine (nothing is stopped). The folder itself is kept.
    """
    run_dir = run_dir.resolve()
    node_layout = node.NodeLayout(run_dir / "node")
    # The kubelet first, so it restarts nothing; then the containers, which outlive
    # containerd unless killed through it; then everything else.
    stopped = procs.stop_components(run_dir, ("kubelet",), only=True)
    if "containerd" in _live_components(run_dir):
        node.kill_containers(node_layout)
    order = tuple(reversed(comp.START_ORDER + comp.NODE_ORDER))
    stopped += procs.stop_components(run_dir, order)
    if node_layout.root.is_dir():
        node.kill_shims(node_layout)
        node.unmount_below(node_layout.root)
        node.teardown_host_network()
    comp.RunLayout(run_dir).state_file.unlink(missing_ok=True)
    return stopped


def _node_binary(name: str) -> str:
    try:
        return find_tool(name)
    except ToolNotFoundError as exc:
        raise ClusterToolMissingError(
            f"{name} is missing in {cache_dir() / 'bin'}: run `bash e2e/build-tools.sh {name}`"
        ) from exc


def _write_pause_image(binary: Path, archive: Path) -> None:
    """The sandbox image: the pause binary alone in one layer, under the name containerd wants."""
    staging = archive.with_suffix(".rootfs")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy2(binary, staging / "pause")
    (staging / "pause").chmod(0o755)
    oci.write_image_archive(
        staging,
        archive,
        name=node.PAUSE_IMAGE,
        config=oci.ImageConfig(entrypoint=("/pause",), env=(), user="65535:65535"),
        epoch=0,
        created_by="tether localcluster pause",
    )
    shutil.rmtree(staging)


def _binaries() -> dict[str, str]:
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in comp.START_ORDER:
        try:
            found[name] = find_tool(name)
        except ToolNotFoundError:
            missing.append(name)
    if missing:
        raise ClusterToolMissingError(
            f"missing {', '.join(missing)} in {cache_dir() / 'bin'}: run `bash e2e/build-tools.sh`"
        )
    return found


def _live_components(run_dir: Path) -> list[str]:
    return [n for n, pid in procs.recorded_pids(run_dir).items() if procs.is_ours(pid, run_dir)]


def _reset_run_dir(layout: comp.RunLayout) -> None:
    # A previous run's data would make etcd refuse the new cluster; keep nothing.
    node.unmount_below(layout.root / "node")
    for stale in (
        layout.root / "node",
        layout.etcd_data,
        layout.pki,
        layout.kubeconfigs,
        layout.logs,
        layout.root / "pids",
    ):
        if stale.exists():
            shutil.rmtree(stale)
    layout.state_file.unlink(missing_ok=True)
    layout.make_dirs()


def _write_pki(layout: comp.RunLayout, server: str) -> None:
    ca = pki.new_ca()
    ca.pair.write(layout.pki, "ca")
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    dns.append("kubernetes.default.svc.cluster.local")
    ca.issue_server("kube-apiserver", dns, ["127.0.0.1", comp.SERVICE_IP]).write(
        layout.pki, "apiserver"
    )
    pki.write_service_account_keys(layout.pki)
    ca_pem = ca.pair.cert_pem
    for stem, (user, groups) in _IDENTITIES.items():
        pair = ca.issue_client(user, groups)
        pair.write(layout.pki, stem)
        target = layout.admin_kubeconfig if stem == "admin" else layout.component_kubeconfig(stem)
        write_kubeconfig(target, server, ca_pem, user, Credentials(pair.cert_pem, pair.key_pem))


def describe(cluster: LocalCluster) -> dict[str, Any]:
    """A small summary for CLIs and logs (no secrets)."""
    return {
        "server": cluster.server,
        "kubeconfig": str(cluster.kubeconfig),
        "run_dir": str(cluster.run_dir),
        "nodes": list(cluster.node_names),
        "startup_seconds": round(cluster.state.startup_seconds, 2),
    }
