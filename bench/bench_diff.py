"""Bench: diff 1,000 in-sync Deployments (3 containers each), first pass and memoized.

Prints CPU seconds (time.process_time) for: the first pass (full three-way tree walk
via compare()), the memoized pass with digests precomputed at render time, and the
memoized pass hashing desired objects on the fly. Targets: memoized < 50 ms total,
first pass < 1 s. Run: .venv/bin/python bench/bench_diff.py
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tether.diff import VerdictCache, compare, desired_hash, last_applied_from, with_last_applied

N = 1000


def desired(i: int) -> dict[str, Any]:
    containers = [
        {
            "name": f"c{j}",
            "image": f"registry.example.com/app{j}:1.{i % 7}",
            "args": ["--port", str(8080 + j), "--verbose"],
            "env": [{"name": f"VAR_{k}", "value": str(k * i)} for k in range(4)],
            "ports": [{"containerPort": 8080 + j, "name": f"http{j}"}],
            "resources": {
                "limits": {"cpu": "500m", "memory": "256Mi"},
                "requests": {"cpu": "100m"},
            },
            "volumeMounts": [{"name": "cfg", "mountPath": f"/etc/c{j}"}],
        }
        for j in range(3)
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"app-{i}",
            "namespace": "bench",
            "labels": {"app": f"app-{i}", "tier": "web"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"app-{i}"}},
            "template": {
                "metadata": {"labels": {"app": f"app-{i}"}},
                "spec": {
                    "containers": containers,
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                },
            },
        },
    }


def live_of(obj: dict[str, Any], i: int) -> dict[str, Any]:
    live = copy.deepcopy(with_last_applied(obj))
    live["metadata"] |= {
        "uid": f"uid-{i}",
        "resourceVersion": str(1000 + i),
        "generation": 1,
        "creationTimestamp": "2024-01-01T00:00:00Z",
    }
    spec = live["spec"]
    spec |= {
        "progressDeadlineSeconds": 600,
        "revisionHistoryLimit": 10,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
    }
    pod = spec["template"]["spec"]
    pod |= {
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
    }
    for c in pod["containers"]:
        c |= {
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        c["ports"][0]["protocol"] = "TCP"
        c["resources"]["limits"]["cpu"] = "500m"
    pod["volumes"][0]["configMap"]["defaultMode"] = 420
    live["status"] = {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1}
    return live


def main() -> None:
    desireds = [desired(i) for i in range(N)]
    lives = [live_of(d, i) for i, d in enumerate(desireds)]

    t0 = time.process_time()
    first = [
        compare(d, lv, last_applied_from(lv), strategic=True)
        for d, lv in zip(desireds, lives, strict=True)
    ]
    first_cpu = time.process_time() - t0
    assert all(r.in_sync for r in first), "bench objects must be in sync"

    t0 = time.process_time()
    digests = [desired_hash(d) for d in desireds]
    hash_cpu = time.process_time() - t0

    cache = VerdictCache()
    for d, lv, h in zip(desireds, lives, digests, strict=True):
        cache.compare(d, lv, strategic=True, digest=h)
    t0 = time.process_time()
    for d, lv, h in zip(desireds, lives, digests, strict=True):
        cache.compare(d, lv, strategic=True, digest=h)
    memo_cpu = time.process_time() - t0

    t0 = time.process_time()
    for d, lv in zip(desireds, lives, strict=True):
        cache.compare(d, lv, strategic=True)
    memo_hash_cpu = time.process_time() - t0
    assert cache.misses == N

    print(f"objects: {N} in-sync Deployments x 3 containers")
    print(
        f"first pass (full three-way walk):    {first_cpu * 1000:8.1f} ms CPU  (target < 1000 ms)"
    )
    print(f"memoized, digests from render:       {memo_cpu * 1000:8.1f} ms CPU  (target < 50 ms)")
    print(f"memoized, hashing desired each time: {memo_hash_cpu * 1000:8.1f} ms CPU")
    print(f"desired_hash of all objects:         {hash_cpu * 1000:8.1f} ms CPU")
    print(f"ratio first/memoized: {first_cpu / max(memo_cpu, 1e-9):.0f}x")


if __name__ == "__main__":
    main()
