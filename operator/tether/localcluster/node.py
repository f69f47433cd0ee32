"""The real node of the local cluster: containerd, runc, the CNI bridge and a kubelet.

``tether cluster up --real-node`` adds one node that runs containers beside the kwok
fake nodes. This module holds what that node is made of, as pure functions of a
``NodeLayout`` (the containerd config, the CNI network, the kubelet config and argv,
the host network rules) plus the few steps that change the host: the ``tether0``
bridge, the iptables rules that stand in for kube-proxy for the ``kubernetes``
Service, importing OCI archives into containerd, and tearing all of it down.
Starting and waiting is :mod:`tether.localcluster.cluster`'s job.

Why each setting: see specs/real-node.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tether.localcluster.errors import ClusterToolMissingError, RealNodeError

NODE_NAME = "real-node"
TAINT_KEY = "tether.dev/real-node"
NODE_LABEL = "tether.dev/real-node"
BRIDGE = "tether0"
BRIDGE_IP = "10.88.0.1"
POD_SUBNET = "10.88.0.0/16"
PAUSE_IMAGE = "localhost/tether-pause:1"
CONTAINERD_NAMESPACE = "k8s.io"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
_NAT_CHAIN = "TETHER-SERVICES"


@dataclass(frozen=True)
class NodePorts:
    """The kubelet's serving port (for exec/logs from the API server) and healthz port."""

    kubelet: int
    healthz: int


@dataclass(frozen=True)
class NodeLayout:
    """Where the real node keeps its files, below ``<run>/node``."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def ipam_dir(self) -> Path:
        return self.root / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def pause_archive(self) -> Path:
        return self.root / "pause.tar"

    def make_dirs(self) -> None:
        for folder in (
            self.root,
            self.containerd_root,
            self.containerd_state,
            self.cni_conf_dir,
            self.ipam_dir,
            self.kubelet_root,
            self.pod_logs,
        ):
            folder.mkdir(parents=True, exist_ok=True)


def cgroup_v1(mounts: str | None = None) -> bool:
    """True unless /sys/fs/cgroup is a cgroup2 mount (v1: a tmpfs of controller mounts).

    The same test as ``stat -fc %T /sys/fs/cgroup`` printing ``cgroup2fs`` or not.
    """
    if mounts is None:
        mounts = Path("/proc/self/mounts").read_text()
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == "/sys/fs/cgroup":
            return fields[2] != "cgroup2"
    return True


def swap_on() -> bool:
    try:
        lines = Path("/proc/swaps").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > 1


_CAP_SYS_RESOURCE = 24


def has_cap_sys_resource(status: str | None = None) -> bool:
    """Whether this process may lower OOM scores (CAP_SYS_RESOURCE in /proc/self/status)."""
    if status is None:
        status = Path("/proc/self/status").read_text()
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> _CAP_SYS_RESOURCE & 1)
    return False


def containerd_config(layout: NodeLayout, *, restrict_oom_score: bool = False) -> str:
    """containerd 1.6/1.7 config (version 2): our own root, socket, CNI folder and pause.

    ``restrict_oom_score`` clamps the OOM score adjustments the kubelet asks for (-998
    for sandboxes) to containerd's own: without CAP_SYS_RESOURCE runc cannot lower them
    and every pod fails with "failed to update /proc/self/oom_score_adj".
    """
    cni_bin = next((d for d in CNI_BIN_DIRS if Path(d, "bridge").exists()), CNI_BIN_DIRS[0])
    return f"""version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.root / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_cdi = false
  restrict_oom_score_adj = {"true" if restrict_oom_score else "false"}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{layout.cni_conf_dir}"
"""


def cni_conflist(layout: NodeLayout) -> str:
    """The pod network: one Linux bridge with host-local addresses, no masquerading."""
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "tether",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(layout.ipam_dir),
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": BRIDGE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        },
        indent=2,
    )


def kubelet_config(
    layout: NodeLayout,
    ports: NodePorts,
    *,
    client_ca: Path,
    serving_cert: Path,
    serving_key: Path,
    cgroup_v1_host: bool,
    swap: bool,
) -> str:
    """The KubeletConfiguration, as JSON (a YAML subset the kubelet reads)."""
    config: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": BRIDGE_IP,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.healthz,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # kubelet 1.35 refuses cgroup v1 unless told; this kernel may only have v1.
        "failCgroupV1": not cgroup_v1_host,
        "failSwapOn": not swap,
        "podLogsDir": str(layout.pod_logs),
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        "resolvConf": "/etc/resolv.conf",
        # A shared dev machine's disk is not ours to guard: never evict or GC for it.
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
    }
    return json.dumps(config, indent=2)


def kubelet_argv(binary: str, layout: NodeLayout) -> list[str]:
    return [
        binary,
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.kubelet_kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.root / 'kubelet-pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={BRIDGE_IP}",
        f"--node-labels={NODE_LABEL}=true",
        "--v=1",
    ]


def containerd_argv(binary: str, layout: NodeLayout) -> list[str]:
    return [binary, f"--config={layout.containerd_config}", "--log-level=warn"]


def ctr_argv(layout: NodeLayout, *args: str) -> list[str]:
    return [
        host_binary("ctr"),
        f"--address={layout.containerd_socket}",
        f"--namespace={CONTAINERD_NAMESPACE}",
        *args,
    ]


def nat_rules(apiserver_port: int, service_ip: str) -> list[list[str]]:
    """iptables commands that send the ``kubernetes`` Service to the loopback API server.

    kube-proxy would do this from the Service's endpoints, but the API server here
    listens on 127.0.0.1 only and Endpoints may not hold a loopback address. One DNAT
    rule, reached from pods (PREROUTING, with route_localnet on the bridge) and from
    host-network pods (OUTPUT), is all the local cluster needs.
    """
    target = f"127.0.0.1:{apiserver_port}"
    return [
        ["-t", "nat", "-N", _NAT_CHAIN],
        [
            "-t",
            "nat",
            "-A",
            _NAT_CHAIN,
            "-d",
            f"{service_ip}/32",
            "-p",
            "tcp",
            "--dport",
            "443",
            "-j",
            "DNAT",
            "--to-destination",
            target,
        ],
        ["-t", "nat", "-A", "PREROUTING", "-j", _NAT_CHAIN],
        ["-t", "nat", "-A", "OUTPUT", "-j", _NAT_CHAIN],
    ]


def host_binary(name: str) -> str:
    """A binary from the host's packages (containerd, ctr, runc, ip, iptables)."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        raise ClusterToolMissingError(
            f"{name} is missing for the real node: run scripts/install-system-deps.sh"
        )
    return found


def _run(argv: list[str], step: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RealNodeError(f"{step}: {' '.join(argv[:3])}... failed: {done.stderr.strip()[:500]}")
    return done


def check_host() -> None:
    """Fail early, with the reason, where the real node cannot run."""
    if os.geteuid() != 0:
        raise RealNodeError("--real-node needs root (containerd, runc, bridges, iptables)")
    for name in ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "ip", "iptables"):
        host_binary(name)
    if not any(Path(d, "bridge").exists() for d in CNI_BIN_DIRS):
        raise ClusterToolMissingError(
            "CNI plugins are missing for the real node: run scripts/install-system-deps.sh"
        )


def setup_host_network(apiserver_port: int, service_ip: str) -> None:
    """The pod bridge with the node address, and the Service rule (replaces stale ones)."""
    teardown_host_network()
    ip = host_binary("ip")
    _run([ip, "link", "add", BRIDGE, "type", "bridge"], "create the pod bridge")
    _run([ip, "addr", "add", f"{BRIDGE_IP}/16", "dev", BRIDGE], "address the pod bridge")
    _run([ip, "link", "set", BRIDGE, "up"], "bring up the pod bridge")
    # Let packets from pods be routed to 127.0.0.1 after the DNAT below.
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet").write_text("1\n")
    iptables = host_binary("iptables")
    for rule in nat_rules(apiserver_port, service_ip):
        _run([iptables, "-w", *rule], "install the kubernetes Service rule")


def teardown_host_network() -> None:
    """Remove the bridge and the Service rules; absent ones are fine."""
    with contextlib.suppress(ClusterToolMissingError):
        iptables = host_binary("iptables")
        for chain in ("PREROUTING", "OUTPUT"):
            _quiet([iptables, "-w", "-t", "nat", "-D", chain, "-j", _NAT_CHAIN])
        _quiet([iptables, "-w", "-t", "nat", "-F", _NAT_CHAIN])
        _quiet([iptables, "-w", "-t", "nat", "-X", _NAT_CHAIN])
    with contextlib.suppress(ClusterToolMissingError):
        _quiet([host_binary("ip"), "link", "del", BRIDGE])


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, timeout=60, check=False)


def import_image(layout: NodeLayout, archive: Path) -> str:
    """Import an OCI or Docker image archive into the node's containerd; return its output."""
    if not archive.is_file():
        raise RealNodeError(f"image archive {archive} does not exist")
    done = _run(ctr_argv(layout, "images", "import", str(archive)), f"import {archive.name}")
    return done.stdout.strip()


def kill_containers(layout: NodeLayout) -> None:
    """SIGKILL every container task of the node (containerd does not stop them itself)."""
    if not layout.containerd_socket.exists():
        return
    listed = subprocess.run(
        ctr_argv(layout, "tasks", "ls", "-q"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    for task in listed.stdout.split():
        _quiet(ctr_argv(layout, "tasks", "kill", "-a", "-s", "SIGKILL", task))
        _quiet(ctr_argv(layout, "tasks", "delete", "--force", task))


def kill_shims(layout: NodeLayout) -> None:
    """SIGKILL any runtime shim still serving this node (its command line names our socket)."""
    needle = str(layout.containerd_socket).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)


def unmount_below(folder: Path) -> None:
    """Lazily unmount everything mounted below ``folder`` (pod volumes, rootfs overlays)."""
    prefix = str(folder.resolve()) + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    for point in sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True):
        _quiet(["umount", "-l", point])
