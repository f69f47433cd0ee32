"""Time from `LocalCluster.start` to a usable cluster, with per-milestone figures.

Usable means: kube-apiserver /readyz ok, every kwok node Ready and the
``default`` ServiceAccount created by kube-controller-manager. The baseline,
run side by side, is the bare minimum a client can talk to: etcd +
kube-apiserver until /readyz (the first milestones of the same runs). Also
times ``stop`` (until no process is left). Target: start under 30 s.

With ``--real-node`` (root) every run is a pair started one after the other: the
same cluster without and with the real node (kubelet + containerd), and the
extra seconds the real node adds are reported against the kwok-only baseline.

    .venv/bin/python bench/bench_cluster_start.py [--runs N] [--nodes N] [--real-node]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tether.localcluster import LocalCluster


def one_run(nodes: int, real_node: bool = False) -> tuple[float, dict[str, float], float]:
    run_dir = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    try:
        began = time.monotonic()
        cluster = LocalCluster.start(
            run_dir, nodes=nodes, real_node=real_node, die_with_parent=True
        )
        total = time.monotonic() - began
        milestones = dict(cluster.state.milestones)
        stop_began = time.monotonic()
        cluster.stop()
        stop = time.monotonic() - stop_began
        if cluster.is_running():
            raise RuntimeError(f"processes left behind in {run_dir}")
        return total, milestones, stop
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--real-node", action="store_true", help="pairs without/with it")
    args = parser.parse_args()
    if args.real_node:
        compare_real_node(args.runs, args.nodes)
        return

    totals: list[float] = []
    readyz: list[float] = []
    stops: list[float] = []
    for i in range(args.runs):
        total, milestones, stop = one_run(args.nodes)
        totals.append(total)
        readyz.append(milestones["kube-apiserver readyz"])
        stops.append(stop)
        detail = ", ".join(f"{k} {v:.2f}s" for k, v in milestones.items())
        print(f"run {i + 1}: usable in {total:.2f}s ({detail}); stop {stop:.2f}s")

    med_total, med_readyz = statistics.median(totals), statistics.median(readyz)
    print(f"median start to usable:        {med_total:.2f}s  (target < 30s)")
    print(f"median baseline etcd+apiserver readyz: {med_readyz:.2f}s")
    print(f"ratio usable / baseline:        {med_total / med_readyz:.2f}x")
    print(f"median stop (nothing left):     {statistics.median(stops):.2f}s")


def compare_real_node(runs: int, nodes: int) -> None:
    plain: list[float] = []
    real: list[float] = []
    for i in range(runs):
        base, _, _ = one_run(nodes)
        total, milestones, stop = one_run(nodes, real_node=True)
        plain.append(base)
        real.append(total)
        print(
            f"pair {i + 1}: kwok only {base:.2f}s, with the real node {total:.2f}s "
            f"(real node started at {milestones['real node started']:.2f}s); stop {stop:.2f}s"
        )
    med_plain, med_real = statistics.median(plain), statistics.median(real)
    print(f"median kwok only:       {med_plain:.2f}s")
    print(
        f"median with real node:  {med_real:.2f}s  (+{med_real - med_plain:.2f}s, "
        f"{med_real / med_plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
