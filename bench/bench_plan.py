"""Bench the pure planning core: keys + stamping, planning, plan JSON round trip, health.

Run: .venv/bin/python bench/bench_plan.py [objects]

Prints CPU time per stage for an app of N objects (default 1,000: Deployments with three
containers, Services, ConfigMaps over five waves, plus 10% prune candidates), and, side
by side, a baseline doing the least work any planner must do (sort the keys and
serialise the objects once), with the ratio.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from tether.health import CelRule, assess, compile_rules
from tether.identity import BUILTIN_SCOPE, AppRef, resource_key, stamp
from tether.plan import Plan, build_plan

APP = AppRef("bench", "app")


def deployment(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{i}",
            "annotations": {"argocd.argoproj.io/sync-wave": str(i % 5)},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"web-{i}"}},
            "template": {
                "metadata": {"labels": {"app": f"web-{i}"}},
                "spec": {
                    "containers": [
                        {
                            "name": f"c{c}",
                            "image": f"registry.example/img{c}:1.{i}",
                            "env": [{"name": "A", "value": str(i)}],
                            "ports": [{"containerPort": 8080 + c}],
                        }
                        for c in range(3)
                    ]
                },
            },
        },
    }


def objects(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(deployment(i))
        elif i % 3 == 1:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"svc-{i}"},
                    "spec": {"ports": [{"port": 80}]},
                }
            )
        else:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cfg-{i}"},
                    "data": {"k": "v" * 50},
                }
            )
    return out


def cpu(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best * 1000, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    docs = objects(n)
    old = objects(n + n // 10)[n:]

    def key_and_stamp() -> list[tuple[Any, dict[str, Any]]]:
        return [
            (k, stamp(o, APP, k)) for o in docs for k in [resource_key(o, BUILTIN_SCOPE, "prod")]
        ]

    t_stamp, desired = cpu(key_and_stamp)
    live = dict(desired[: n // 2])
    live.update(
        (k, stamp(o, APP, k)) for o in old for k in [resource_key(o, BUILTIN_SCOPE, "prod")]
    )
    inventory = list(live)

    def plan() -> Plan:
        return build_plan(app=APP, revision="abc", desired=desired, live=live, inventory=inventory)

    t_plan, result = cpu(plan)
    t_json, _ = cpu(lambda: Plan.from_dict(json.loads(json.dumps(result.to_dict()))))
    t_base, _ = cpu(lambda: (sorted(k for k, _ in desired), json.dumps([o for _, o in desired])))

    live_deploys = []
    for k, o in desired:
        if k.kind == "Deployment":
            status = {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "availableReplicas": 2,
            }
            live_deploys.append(
                {**o, "metadata": {**o["metadata"], "generation": 1}, "status": status}
            )
    t_health, _ = cpu(lambda: [assess(o) for o in live_deploys])
    rules = compile_rules(
        [CelRule("apps", "Deployment", healthy="obj.status.availableReplicas >= obj.spec.replicas")]
    )
    t_cel, _ = cpu(lambda: [assess(o, rules) for o in live_deploys], repeat=2)

    steps = len(result.steps)
    tasks = sum(len(s.tasks) for s in result.steps)
    print(f"objects: {n} desired, {len(old)} prune candidates -> {steps} steps, {tasks} tasks")
    print(f"key + stamp          {t_stamp:8.1f} ms CPU")
    print(
        f"build_plan           {t_plan:8.1f} ms CPU   baseline (sort + json) {t_base:6.1f} ms   ratio {t_plan / t_base:5.2f}"
    )
    print(f"plan JSON round trip {t_json:8.1f} ms CPU")
    print(f"health, {len(live_deploys)} Deployments (built-in) {t_health:8.1f} ms CPU")
    print(f"health, {len(live_deploys)} Deployments (CEL rule) {t_cel:8.1f} ms CPU")


if __name__ == "__main__":
    main()
