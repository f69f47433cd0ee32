"""Push -> Synced latency through a webhook, against polling at the interval floor.

Two Git repositories on one ``git daemon``, each followed by one Repository and one
automated Application of one ConfigMap:

- ``hooked``: interval 10m, refreshed by a signed GitHub-style webhook posted right
  after each push;
- ``polled``: interval 10s (the floor), no webhook: the baseline.

Each round waits a random part of the polling interval (seeded), then pushes a new
commit to both with the git CLI at the same moment, posts the
webhook for ``hooked``, and times until each Application's status shows Synced at its
new commit. Prints p50 and p95 of both over N rounds, and their ratio.

    .venv/bin/python bench/bench_webhook.py [--pushes 20] [--kubeconfig FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "git"))

from git_servers import free_port, git, push_commit  # noqa: E402

from bench_operator import DEFAULT_PROJECT, bench_world, kubectl, pct, stop_operator  # noqa: E402
from tether.webhook.providers import sign  # noqa: E402

NS = "bench-webhook"
SECRET = b"bench-webhook-secret"
POLL_INTERVAL = 10.0  # seconds: the Repository interval floor


def configmap(name: str, value: str) -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: "{value}"\n'


def make_repo(base: Path, name: str) -> Path:
    bare = base / f"{name}.git"
    git("init", "-q", "--bare", str(bare))
    work = base / f"{name}-work"
    git("clone", "-q", str(bare), str(work))
    push_commit(work, {"app/cm.yaml": configmap(name, "0")}, "start")
    return work


def objects(url: str, name: str, interval: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Repository",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"url": url, "insecure": True, "interval": interval},
        },
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "source": {"repositoryRef": {"name": name}, "revision": "main", "path": "app"},
                "destination": {"namespace": NS},
                "syncPolicy": {"automated": {"prune": True}},
                "interval": "10m",
            },
        },
    ]


def post_webhook(port: int, url: str) -> int:
    body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": url}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/github",
        data=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(body, SECRET)},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return int(r.status)


async def synced_at(client: Any, name: str, commit: str) -> bool:
    from tether.controller.kubeio import APPLICATIONS

    status = (await client.get(APPLICATIONS, name, NS)).get("status") or {}
    sync = status.get("sync") or {}
    return sync.get("status") == "Synced" and str(sync.get("revision", "")).endswith(commit)


async def rounds(
    kubeconfig: Path, works: dict[str, Path], urls: dict[str, str], port: int, pushes: int
) -> dict[str, list[float]]:
    from tether.kube.client import KubeClient

    client = await KubeClient.connect(str(kubeconfig))
    out: dict[str, list[float]] = {name: [] for name in works}
    try:
        rng = random.Random(13)
        for i in range(1, pushes + 1):
            # A push lands at a random point of the polling interval, as real pushes do;
            # without this every round would start just after the previous poll.
            await asyncio.sleep(rng.uniform(0.0, POLL_INTERVAL))
            commits = {
                name: push_commit(work, {"app/cm.yaml": configmap(name, str(i))}, f"round {i}")
                for name, work in works.items()
            }
            pushed = time.perf_counter()
            assert post_webhook(port, urls["hooked"]) == 202
            waiting = set(works)
            while waiting:
                for name in sorted(waiting):
                    if await synced_at(client, name, commits[name]):
                        out[name].append(time.perf_counter() - pushed)
                        waiting.discard(name)
                if time.perf_counter() - pushed > 120:
                    raise SystemExit(f"round {i}: {sorted(waiting)} not Synced in 120 s")
                await asyncio.sleep(0.02)
            print(
                f"round {i:2d}: hooked {out['hooked'][-1]:6.2f} s  polled {out['polled'][-1]:6.2f} s"
            )
    finally:
        await client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--kubeconfig", type=Path, default=None)
    args = parser.parse_args()

    operator = None
    with bench_world("tether-bench-webhook-", args.kubeconfig) as world:
        tmp, kubeconfig, git_port = world.tmp, world.kubeconfig, world.git_port
        try:
            works = {name: make_repo(tmp / "git", name) for name in ("hooked", "polled")}
            urls = {name: f"git://127.0.0.1:{git_port}/{name}.git" for name in works}
            kubectl(kubeconfig, "create", "namespace", NS)
            kubectl(kubeconfig, "apply", "-f", "-", input=DEFAULT_PROJECT)

            metrics_port, hook_port = free_port(), free_port()
            log = open(tmp / "operator.log", "wb")  # noqa: SIM115
            operator = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("tether")),
                    "run",
                    "--all-namespaces",
                    f"--kubeconfig={kubeconfig}",
                    "--metrics-host=127.0.0.1",
                    f"--metrics-port={metrics_port}",
                    f"--webhook-port={hook_port}",
                    "--webhook-host=127.0.0.1",
                    f"--cache-dir={tmp / 'cache'}",
                    "--log-level=warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TETHER_WEBHOOK_SECRET": SECRET.decode()},
            )
            deadline = time.monotonic() + 240
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{metrics_port}/readyz", timeout=1
                    ):
                        break
                except OSError:
                    if time.monotonic() > deadline or operator.poll() is not None:
                        raise SystemExit(
                            f"operator not ready; see {tmp / 'operator.log'}"
                        ) from None
                    time.sleep(0.2)
            items = objects(urls["hooked"], "hooked", "10m") + objects(
                urls["polled"], "polled", f"{POLL_INTERVAL:g}s"
            )
            kubectl(
                kubeconfig,
                "apply",
                "-f",
                "-",
                input=json.dumps({"kind": "List", "apiVersion": "v1", "items": items}),
            )
            kubectl(
                kubeconfig, "wait", "--for=condition=Ready", "applications.tether.dev", "--all",
                "-n", NS, "--timeout=120s",
            )  # fmt: skip

            lat = asyncio.run(rounds(kubeconfig, works, urls, hook_port, args.pushes))
            hooked, polled = lat["hooked"], lat["polled"]
            print(f"\npushes={args.pushes}  push -> Synced (s)")
            print(f"{'':28s} {'p50':>7s} {'p95':>7s}")
            print(
                f"{'webhook (interval 10m)':28s} {pct(hooked, 0.5):7.2f} {pct(hooked, 0.95):7.2f}"
            )
            print(
                f"{'polling (interval 10s)':28s} {pct(polled, 0.5):7.2f} {pct(polled, 0.95):7.2f}"
            )
            print(
                f"ratio webhook/polling: p50 {pct(hooked, 0.5) / pct(polled, 0.5):.2f}, "
                f"p95 {pct(hooked, 0.95) / pct(polled, 0.95):.2f}; target p50 < 2 s: "
                f"{'met' if pct(hooked, 0.5) < 2 else 'NOT met'}"
            )
        finally:
            stop_operator(operator)


if __name__ == "__main__":
    main()
