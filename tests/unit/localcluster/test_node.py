"""The real node's configs: tainted, loopback-only where it can be, cgroup v1 said aloud."""

from __future__ import annotations

import json
from pathlib import Path

from tether.localcluster import node

LAYOUT = node.NodeLayout(Path("/run/x/node"))
PORTS = node.NodePorts(kubelet=10250, healthz=10248)


def _kubelet(*, v1: bool, swap: bool = False) -> dict[str, object]:
    text = node.kubelet_config(
        LAYOUT,
        PORTS,
        client_ca=Path("/ca.crt"),
        serving_cert=Path("/k.crt"),
        serving_key=Path("/k.key"),
        cgroup_v1_host=v1,
        swap=swap,
    )
    data: dict[str, object] = json.loads(text)
    return data


def test_kubelet_registers_tainted_and_authenticates_every_caller() -> None:
    config = _kubelet(v1=False)
    assert config["registerWithTaints"] == [
        {"key": node.TAINT_KEY, "value": "true", "effect": "NoSchedule"}
    ]
    assert config["readOnlyPort"] == 0
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/ca.crt"},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["containerRuntimeEndpoint"] == f"unix://{LAYOUT.containerd_socket}"


def test_cgroup_v1_and_swap_are_allowed_only_where_the_host_has_them() -> None:
    assert _kubelet(v1=True)["failCgroupV1"] is False
    assert _kubelet(v1=False)["failCgroupV1"] is True
    assert _kubelet(v1=False, swap=True)["failSwapOn"] is False
    assert _kubelet(v1=False, swap=False)["failSwapOn"] is True


def test_everything_the_node_writes_stays_in_its_folder() -> None:
    config = _kubelet(v1=True)
    assert str(config["podLogsDir"]).startswith("/run/x/node/")
    argv = node.kubelet_argv("kubelet", LAYOUT)
    assert "--root-dir=/run/x/node/kubelet" in argv
    assert f"--hostname-override={node.NODE_NAME}" in argv
    toml = node.containerd_config(LAYOUT)
    assert 'root = "/run/x/node/containerd/root"' in toml
    assert 'address = "/run/x/node/containerd.sock"' in toml
    assert f'sandbox_image = "{node.PAUSE_IMAGE}"' in toml
    cni = json.loads(node.cni_conflist(LAYOUT))
    ipam = cni["plugins"][0]["ipam"]
    assert ipam["dataDir"] == "/run/x/node/ipam"
    assert cni["plugins"][0]["ipMasq"] is False


def test_service_rule_sends_the_kubernetes_service_to_the_loopback_apiserver() -> None:
    rules = node.nat_rules(6443, "10.96.0.1")
    dnat = next(r for r in rules if "DNAT" in r)
    assert dnat[dnat.index("-d") + 1] == "10.96.0.1/32"
    assert dnat[dnat.index("--to-destination") + 1] == "127.0.0.1:6443"
    jumps = {r[3] for r in rules if r[2] == "-A" and r[-1] != "127.0.0.1:6443"}
    assert jumps == {"PREROUTING", "OUTPUT"}


def test_cgroup_version_comes_from_the_mount_at_sys_fs_cgroup() -> None:
    v1 = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"
    assert node.cgroup_v1(v1) is True
    assert node.cgroup_v1(v2) is False


def test_oom_scores_are_clamped_only_without_cap_sys_resource() -> None:
    without = "Name:\tx\nCapEff:\t000001fffeffffff\n"
    full = "Name:\tx\nCapEff:\t000001ffffffffff\n"
    assert node.has_cap_sys_resource(without) is False
    assert node.has_cap_sys_resource(full) is True
    assert "restrict_oom_score_adj = true" in node.containerd_config(
        LAYOUT, restrict_oom_score=True
    )
    assert "restrict_oom_score_adj = false" in node.containerd_config(LAYOUT)
