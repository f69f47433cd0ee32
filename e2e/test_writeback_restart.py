"""Write-back across an operator restart: a held capture is not lost to Git.

The operator runs as its own process (``own_operator``), so it can be killed. A
``kubectl scale`` is captured and held for a long debounce; a selfHeal sync of
another field then writes the held (live) count into the kubectl last-applied
annotation, which is exactly what made a restarted operator take the live value for
Tether's own and revert it. The operator is killed with SIGKILL inside the window
and started again: a raw watch shows the count never goes back, and the commit
lands after the restart.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from operator_helpers import (
    NotYet,
    Operator,
    app_status,
    deployment,
    installed,
    own_operator,
    start_operator,
    synced_healthy,
    wait_for,
)
from test_writeback import (
    REPLICAS,
    PushServer,
    push_server,
    synced_at,
    watcher,
    write_back_app,
)

pytestmark = pytest.mark.cluster

__all__ = ["installed", "own_operator", "push_server", "watcher"]  # fixtures used here

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def test_a_capture_held_across_a_sigkill_is_restored_and_pushed(
    own_operator: list[Operator],
    installed: Any,
    push_server: PushServer,
    kubectl: Any,
    namespace: str,
    watcher: Any,
) -> None:
    path = f"{namespace}/web"
    file = f"{path}/deploy.yaml"
    text = deployment("web", 3).replace("  name: web\n", "  name: web\n  labels: {tier: web}\n", 1)
    seed = push_server.push({file: text}, message="web")
    write_back_app(
        kubectl,
        namespace,
        push_server.url(),
        path,
        write_back={"capture": {"fields": [REPLICAS]}, "debounce": "30s"},
    )
    wait_for("Synced and Healthy", synced_healthy(kubectl, namespace), timeout=90)
    watch = watcher("deployment", "web", namespace)
    kubectl.run("scale", "deploy", "web", "-n", namespace, "--replicas", "5")

    def held() -> Any:
        block = app_status(kubectl, namespace).get("writeBack") or {}
        pointers = [h.get("pointer") for h in block.get("held") or []]
        return block if "/spec/replicas" in pointers else NotYet(block)

    block = wait_for("the capture to be held in the status", held, timeout=60)
    assert set(block["held"][0]) == {"group", "kind", "namespace", "name", "pointer", "gitDigest"}

    # selfHeal reverts a label: its sync applies the masked object, so last-applied
    # now says 5, the state in which a restart used to lose the capture.
    kubectl.run("label", "deploy", "web", "-n", namespace, "tier=edited", "--overwrite")

    def masked_sync() -> Any:
        live = kubectl.json("get", "deploy", "web", "-n", namespace)
        applied = json.loads(live["metadata"]["annotations"][LAST_APPLIED])
        ok = live["metadata"]["labels"].get("tier") == "web" and applied["spec"]["replicas"] == 5
        return live if ok else NotYet(live["metadata"])

    wait_for("selfHeal to apply the masked object", masked_sync, timeout=60)
    assert push_server.commits_since(seed) == [], "pushed before the kill: debounce too short"

    op = own_operator[0]
    op.process.send_signal(signal.SIGKILL)
    op.process.wait(10)
    own_operator.append(start_operator(installed, op.log.parent))

    def pushed() -> Any:
        commits = push_server.commits_since(seed)
        return commits if commits else NotYet(app_status(kubectl, namespace))

    [commit] = wait_for("the commit after the restart", pushed, timeout=120)
    assert push_server.show(commit, file) == text.replace("replicas: 3", "replicas: 5")
    status = wait_for("Synced at the new commit", synced_at(kubectl, namespace, commit), 90)
    assert status["writeBack"]["lastCommit"] == commit and status["writeBack"]["held"] == []
    assert kubectl.json("get", "deploy", "web", "-n", namespace)["spec"]["replicas"] == 5
    counts = watch.replicas()
    assert counts[0] == 3 and 5 in counts
    assert 3 not in counts[counts.index(5) :], f"the Deployment went back: {counts}"
