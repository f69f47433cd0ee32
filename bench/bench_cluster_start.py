"""Time from `LocalCluster.start` to a usable cluster, with per-milestone figures.

Usable means: kube-apiserver /readyz ok, every kwok node Ready and the
``default`` ServiceAccount created by kube-controller-manager. The baseline,
run side by side, is the bare minimum a client can talk to: etcd +
kube-apiserver until /readyz (the first milestones of the same runs). Also
times ``stop`` (until no process is left). Target: start under 30 s.

    .venv/bin/python bench/bench_cluster_start.py [--runs N] [--nodes N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tether.localcluster import LocalCluster


def one_run(nodes: int) -> tuple[float, dict[str, float], float]:
    run_dir = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    try:
        began = time.monotonic()
        cluster = LocalCluster.start(run_dir, nodes=nodes, die_with_parent=True)
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
