"""Command lines of the control-plane components, as pure functions of a layout.

``RunLayout`` names every file of a run folder; each ``*_argv`` function turns a
layout plus ports into the argv of one component. Nothing here starts anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.1/16"
NODE_LEASE_SECONDS = 40

# Started in this order, stopped in the reverse.
START_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
# The real node's processes (``--real-node``), started after the control plane.
NODE_ORDER = ("containerd", "kubelet")


@dataclass(frozen=True)
class Ports:
    """The loopback ports one run uses."""

    etcd_client: int
    etcd_peer: int
    apiserver: int


@dataclass(frozen=True)
class RunLayout:
    """Where everything of one run lives, below ``root``."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def cert(self, stem: str) -> Path:
        return self.pki / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.pki / f"{stem}.key"

    def component_kubeconfig(self, name: str) -> Path:
        return self.kubeconfigs / f"{name}.kubeconfig"

    def make_dirs(self) -> None:
        for folder in (self.root, self.pki, self.etcd_data, self.kubeconfigs, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.etcd_data.chmod(0o700)


def etcd_argv(binary: str, layout: RunLayout, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        binary,
        "--name=tether",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=tether={peer}",
        "--initial-cluster-state=new",
        # Throw-away data: durability buys nothing and fsync costs seconds.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(binary: str, layout: RunLayout, ports: Ports) -> list[str]:
    server = f"https://127.0.0.1:{ports.apiserver}"
    return [
        binary,
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.pki}",
        f"--tls-cert-file={layout.cert('apiserver')}",
        f"--tls-private-key-file={layout.key('apiserver')}",
        f"--client-ca-file={layout.cert('ca')}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={server}",
        f"--service-account-key-file={layout.pki / 'sa.pub'}",
        f"--service-account-signing-key-file={layout.pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # exec, logs and port-forward reach the real node's kubelet with this identity.
        f"--kubelet-client-certificate={layout.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={layout.key('apiserver-kubelet-client')}",
        "--kubelet-preferred-address-types=InternalIP",
        # 127.0.0.1 is not a valid Endpoints address; nothing in-cluster dials it anyway.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(binary: str, layout: RunLayout) -> list[str]:
    kubeconfig = layout.component_kubeconfig("kube-controller-manager")
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        "--secure-port=0",
        "--leader-elect=false",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={layout.pki / 'sa.key'}",
        f"--root-ca-file={layout.cert('ca')}",
        f"--cluster-signing-cert-file={layout.cert('ca')}",
        f"--cluster-signing-key-file={layout.key('ca')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--v=1",
    ]


def scheduler_argv(binary: str, layout: RunLayout) -> list[str]:
    return [
        binary,
        f"--kubeconfig={layout.component_kubeconfig('kube-scheduler')}",
        "--secure-port=0",
        "--leader-elect=false",
        "--v=1",
    ]


def kwok_argv(binary: str, layout: RunLayout, stages: Path) -> list[str]:
    return [
        binary,
        f"--kubeconfig={layout.component_kubeconfig('kwok')}",
        f"--config={stages}",
        # Only the fake nodes: a real node in the same cluster runs its own kubelet.
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
    ]


def node_manifest(name: str) -> dict[str, object]:
    """A fake Node that kwok takes over (it fills in status and heartbeats)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }
