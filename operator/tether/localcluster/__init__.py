"""A real Kubernetes control plane on 127.0.0.1 for tests and the local demo.

Built from the pinned binaries of ``e2e/build-tools.sh``: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (fake nodes), and optionally one
real node (kubelet + containerd, :mod:`tether.localcluster.node`). Use
``LocalCluster.start(run_dir)`` to start one and ``LocalCluster.attach(run_dir)``
to reopen one another process started; ``tether cluster up|down|env`` wraps it.
"""

from tether.localcluster.cluster import LocalCluster, default_run_dir, describe, stop_run_dir
from tether.localcluster.errors import (
    ClusterNotRunningError,
    ClusterRequestError,
    ClusterStartTimeoutError,
    ClusterToolMissingError,
    ComponentExitedError,
    LocalClusterError,
    RealNodeError,
)

__all__ = [
    "ClusterNotRunningError",
    "ClusterRequestError",
    "ClusterStartTimeoutError",
    "ClusterToolMissingError",
    "ComponentExitedError",
    "LocalCluster",
    "LocalClusterError",
    "RealNodeError",
    "default_run_dir",
    "describe",
    "stop_run_dir",
]
