"""Random (original, modified, current) Deployment triples for merge tests.

Small value pools make the three documents collide often, so the generated triples
exercise additions, deletions, reorders, retainKeys switches and primitive merge lists.
Shared by the kubectl-oracle test and the e2e differential test.
"""

from __future__ import annotations

import copy
import random
from typing import Any

NAME = "web"


def _pick_unique(rng: random.Random, pool: list[str], lo: int, hi: int) -> list[str]:
    return rng.sample(pool, rng.randint(lo, min(hi, len(pool))))


def container(rng: random.Random, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "image": rng.choice(["nginx:1.25", "nginx:1.27", "busybox:1.36"]),
    }
    if rng.random() < 0.6:
        out["env"] = [
            {"name": n, "value": rng.choice(["1", "2"])}
            for n in _pick_unique(rng, ["A", "B", "C", "D", "E"], 0, 4)
        ]
    if rng.random() < 0.4:
        out["ports"] = [
            {"containerPort": p, "protocol": "TCP"}
            for p in rng.sample([80, 443, 8080], rng.randint(1, 2))
        ]
    if rng.random() < 0.3:
        out["args"] = _pick_unique(rng, ["--a", "--b", "--c"], 1, 3)
    if rng.random() < 0.4:
        out["resources"] = {"limits": {"cpu": rng.choice(["100m", "200m"])}}
    if rng.random() < 0.3:
        out["volumeMounts"] = [
            {"name": v, "mountPath": f"/mnt/{v}"} for v in _pick_unique(rng, ["v1", "v2"], 1, 2)
        ]
    return out


def volume(rng: random.Random, name: str) -> dict[str, Any]:
    source = rng.choice(["configMap", "secret", "emptyDir"])
    if source == "configMap":
        return {"name": name, "configMap": {"name": rng.choice(["cm1", "cm2"])}}
    if source == "secret":
        return {"name": name, "secret": {"secretName": rng.choice(["s1", "s2"])}}
    return {"name": name, "emptyDir": {}}


def deployment(rng: random.Random, namespace: str = "default") -> dict[str, Any]:
    labels = {"app": NAME}
    metadata: dict[str, Any] = {"name": NAME, "namespace": namespace}
    if rng.random() < 0.6:
        metadata["labels"] = {
            k: rng.choice(["x", "y"]) for k in _pick_unique(rng, ["tier", "team", "env"], 0, 3)
        }
    if rng.random() < 0.5:
        metadata["annotations"] = {
            f"example.com/{k}": rng.choice(["1", "2"])
            for k in _pick_unique(rng, ["a", "b", "c"], 0, 3)
        }
    if rng.random() < 0.3:
        metadata["finalizers"] = _pick_unique(
            rng, ["example.com/a", "example.com/b", "example.com/c"], 1, 3
        )
    pod: dict[str, Any] = {
        "containers": [container(rng, n) for n in _pick_unique(rng, ["app", "side", "log"], 1, 3)]
    }
    if rng.random() < 0.5:
        pod["volumes"] = [volume(rng, v) for v in _pick_unique(rng, ["v1", "v2"], 1, 2)]
    if rng.random() < 0.3:
        pod["tolerations"] = [{"key": rng.choice(["k1", "k2"]), "operator": "Exists"}]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if rng.random() < 0.6:
        spec["replicas"] = rng.randint(0, 3)
    if rng.random() < 0.4:
        spec["strategy"] = rng.choice(
            [
                {"type": "Recreate"},
                {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": rng.choice(["25%", 1])}},
            ]
        )
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def mutate(rng: random.Random, obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with a few random edits (what another actor might do)."""
    out = copy.deepcopy(obj)
    pod = out["spec"]["template"]["spec"]
    for _ in range(rng.randint(1, 3)):
        choice = rng.randint(0, 6)
        if choice == 0:
            pod["containers"].reverse()
        elif choice == 1:
            c = rng.choice(pod["containers"])
            c["image"] = "nginx:edited"
        elif choice == 2:
            out["metadata"].setdefault("labels", {})["added-by"] = "controller"
        elif choice == 3 and "env" in pod["containers"][0] and pod["containers"][0]["env"]:
            pod["containers"][0]["env"].pop(rng.randrange(len(pod["containers"][0]["env"])))
        elif choice == 4:
            out["spec"]["replicas"] = 5
        elif choice == 5:
            volumes = pod.setdefault("volumes", [])
            if all(v["name"] != "extra" for v in volumes):
                volumes.append({"name": "extra", "emptyDir": {}})
        else:
            out["metadata"].setdefault("annotations", {})["example.com/other"] = "z"
    return out


def triple(
    rng: random.Random, namespace: str = "default"
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(original, modified, current) with a mix of independent and related documents."""
    original = deployment(rng, namespace)
    shape = rng.randint(0, 3)
    if shape == 0:
        return original, deployment(rng, namespace), deployment(rng, namespace)
    if shape == 1:
        return original, mutate(rng, original), mutate(rng, original)
    if shape == 2:
        modified = deployment(rng, namespace)
        return original, modified, mutate(rng, modified)
    return original, deployment(rng, namespace), mutate(rng, original)
