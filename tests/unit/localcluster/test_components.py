"""Component command lines listen on loopback only and wire the shared certificates."""

from __future__ import annotations

import re
from pathlib import Path

from tether.localcluster import components as comp

LAYOUT = comp.RunLayout(Path("/run/x"))
PORTS = comp.Ports(etcd_client=2379, etcd_peer=2380, apiserver=6443)


def _all_argv() -> list[list[str]]:
    return [
        comp.etcd_argv("etcd", LAYOUT, PORTS),
        comp.apiserver_argv("kube-apiserver", LAYOUT, PORTS),
        comp.controller_manager_argv("kcm", LAYOUT),
        comp.scheduler_argv("sched", LAYOUT),
        comp.kwok_argv("kwok", LAYOUT, Path("/stages.yaml")),
    ]


def test_every_url_and_bind_address_is_loopback() -> None:
    for argv in _all_argv():
        for arg in argv:
            for host in re.findall(r"https?://([^:/]+)", arg):
                assert host == "127.0.0.1", arg
            if arg.startswith(("--bind-address=", "--advertise-address=")):
                assert arg.endswith("=127.0.0.1"), arg


def test_every_component_argv_names_the_run_folder() -> None:
    # `tether cluster down` finds its processes by the run folder on their command line.
    for argv in _all_argv():
        assert any(str(LAYOUT.root) in a for a in argv), argv[0]


def test_apiserver_uses_rbac_client_ca_and_service_account_keys() -> None:
    argv = comp.apiserver_argv("kube-apiserver", LAYOUT, PORTS)
    assert "--authorization-mode=Node,RBAC" in argv
    assert f"--client-ca-file={LAYOUT.cert('ca')}" in argv
    assert f"--service-account-signing-key-file={LAYOUT.pki / 'sa.key'}" in argv
    assert "--etcd-servers=http://127.0.0.1:2379" in argv


def test_node_manifest_is_a_named_node() -> None:
    node = comp.node_manifest("kwok-node-0")
    assert node["kind"] == "Node"
    assert node["metadata"]["name"] == "kwok-node-0"  # type: ignore[index]
