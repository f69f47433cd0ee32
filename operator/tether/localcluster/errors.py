"""Errors raised while starting, using or stopping the local control plane.

Hierarchy::

    LocalClusterError                 anything this package raises on purpose
    +-- ClusterToolMissingError       a pinned binary (etcd, kube-apiserver, ...) is absent
    +-- ComponentExitedError          a component process died while we waited on it
    +-- ClusterStartTimeoutError      the control plane did not become ready in time
    +-- ClusterNotRunningError        a run folder has no live cluster in it
    +-- ClusterRequestError           an admin API request got an unexpected answer
    +-- RealNodeError                 the real node (--real-node) could not be set up or used
"""

from __future__ import annotations

from tether.errors import TetherError


class LocalClusterError(TetherError, RuntimeError):
    """Base class of every error of the local control plane."""


class ClusterToolMissingError(LocalClusterError):
    """A binary the control plane needs is not built; e2e/build-tools.sh builds it."""


class ComponentExitedError(LocalClusterError):
    """A component process exited; the message carries the tail of its log."""

    def __init__(self, component: str, returncode: int | None, log_tail: str) -> None:
        self.component = component
        self.returncode = returncode
        self.log_tail = log_tail
        super().__init__(f"{component} exited with code {returncode}; last log lines:\n{log_tail}")


class ClusterStartTimeoutError(LocalClusterError):
    """The control plane did not reach the awaited state before the deadline."""


class ClusterNotRunningError(LocalClusterError):
    """No running cluster is recorded in the given run folder."""


class ClusterRequestError(LocalClusterError):
    """An admin request to the API server was answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(f"{method} {path} -> HTTP {status}: {reason}")


class RealNodeError(LocalClusterError):
    """The real node could not be set up or used; the message names the step."""
