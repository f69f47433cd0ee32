"""Chart pull bench: tether's fetch layer against ``helm pull`` of the same chart, same run.

Serves a Helm repository over HTTPS with basic auth (``tests/sources``'s static
server: it counts requests and bytes) holding ``--charts`` charts with
``--versions`` versions each (so the index has a realistic size), each chart
with ``--templates`` templates, and the CNCF distribution registry (htpasswd)
with the same chart pushed by ``helm push``. Cases, each the median of
``--rounds``:

* helm cold   - empty cache: tether resolves a range and downloads the chart;
                helm: ``helm pull --repo ... --version`` with fresh homes.
* helm cached - the same again: tether sends one conditional index request (304)
                and takes the chart from its digest cache; helm pulls again.
* oci cold / oci cached - the same through the registry (a tag, then a range over
                tags); helm: ``helm pull oci://...``.

It also prints what an unchanged index or tag list costs on the wire: requests
and response bytes per resolve, tether against helm.
Usage: ``.venv/bin/python bench/bench_chart_pull.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sources"))

from source_servers import (
    HELM_BIN,
    PASSWORD,
    USER,
    HelmRepoServer,
    RegistryServer,
    ServerTLS,
    helm,
    helm_env,
    helm_push,
    helm_registry_login,
    make_tls,
    package_chart,
)

from tether.sources import Access, Credentials, RepoType, SourceFetcher, SourceRequest


def write_big_chart(root: Path, name: str, version: str, templates: int) -> Path:
    chart = root / f"src-{name}-{version}" / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "values.yaml").write_text("replicas: 1\nimage: nginx:1.27\n")
    for index in range(templates):
        (chart / "templates" / f"cm-{index:03d}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{index}\n"
            "data:\n" + "".join(f"  key{k}: {{{{ .Values.image | quote }}}}\n" for k in range(20))
        )
    return chart


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_helm(home: Path, *args: str) -> None:
    done = subprocess.run(
        [str(HELM_BIN), *args], env=helm_env(home), check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"helm {args[0]} failed: {done.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--charts", type=int, default=20)
    parser.add_argument("--versions", type=int, default=30)
    parser.add_argument("--templates", type=int, default=100)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-chart-"))
    tls = make_tls(base / "tls")
    home = base / "helm-home"
    served = base / "served"
    served.mkdir()
    for chart_index in range(args.charts):
        name = "app" if chart_index == 0 else f"filler{chart_index}"
        for minor in range(args.versions):
            templates = args.templates if name == "app" else 2
            chart = write_big_chart(home / "src", name, f"1.{minor}.0", templates)
            package_chart(chart, served, home)
    helm("repo", "index", str(served), home=home)
    index_bytes = (served / "index.yaml").stat().st_size
    chart_bytes = (served / f"app-1.{args.versions - 1}.0.tgz").stat().st_size
    repo = HelmRepoServer(served, tls)
    repo.start()
    registry = RegistryServer(base / "registry", tls)
    registry.start()
    try:
        helm_registry_login(registry, home)
        helm_push(registry, served / f"app-1.{args.versions - 1}.0.tgz", "charts", home)
        report(args, base, tls, home, repo, registry, index_bytes, chart_bytes)
    finally:
        repo.stop()
        registry.stop()


def report(
    args: argparse.Namespace,
    base: Path,
    tls: ServerTLS,
    home: Path,
    repo: HelmRepoServer,
    registry: RegistryServer,
    index_bytes: int,
    chart_bytes: int,
) -> None:
    access = Access(Credentials(USER, PASSWORD), ca_pem=tls.ca_pem)
    ca_file = str(tls.ca_file)
    version = f"1.{args.versions - 1}.0"
    counter = iter(range(10_000))

    def tether_cold_helm() -> None:
        SourceFetcher(base / f"cold-{next(counter)}").resolve(
            SourceRequest(RepoType.HELM, repo.url, "app", "^1.0.0"), access
        )

    warm = SourceFetcher(base / "warm")

    def tether_warm_helm() -> None:
        warm.resolve(SourceRequest(RepoType.HELM, repo.url, "app", "^1.0.0"), access)

    def helm_pull_repo(fresh: bool) -> Callable[[], None]:
        def pull() -> None:
            where = base / f"helm-{next(counter)}"
            homes = where if fresh else base / "helm-warm"
            (where / "out").mkdir(parents=True)
            run_helm(
                homes,
                "pull",
                "app",
                "--repo",
                repo.url,
                "--version",
                version,
                "--username",
                USER,
                "--password",
                PASSWORD,
                "--ca-file",
                ca_file,
                "--destination",
                str(where / "out"),
            )

        return pull

    tether_warm_helm()  # fill the cache
    rows = [
        (
            "helm repo cold",
            median_seconds(tether_cold_helm, args.rounds),
            median_seconds(helm_pull_repo(True), args.rounds),
        ),
        (
            "helm repo cached",
            median_seconds(tether_warm_helm, args.rounds),
            median_seconds(helm_pull_repo(False), args.rounds),
        ),
    ]
    # Wire cost of one resolve when nothing changed.
    repo.traffic.reset()
    tether_warm_helm()
    tether_cost = repo.traffic.snapshot()
    repo.traffic.reset()
    helm_pull_repo(False)()
    helm_cost = repo.traffic.snapshot()

    oci_base = f"{registry.url}/charts"

    def tether_cold_oci() -> None:
        SourceFetcher(base / f"ocold-{next(counter)}").resolve(
            SourceRequest(RepoType.OCI, oci_base, "app", version), access
        )

    oci_warm = SourceFetcher(base / "owarm")

    def tether_warm_oci(revision: str = version) -> Callable[[], None]:
        def go() -> None:
            oci_warm.resolve(SourceRequest(RepoType.OCI, oci_base, "app", revision), access)

        return go

    def helm_pull_oci() -> None:
        where = base / f"ohelm-{next(counter)}"
        where.mkdir()
        run_helm(
            home,
            "pull",
            f"{oci_base}/app",
            "--version",
            version,
            "--ca-file",
            ca_file,
            "--destination",
            str(where),
        )

    tether_warm_oci()()
    tether_warm_oci("^1.0.0")()
    rows += [
        (
            "oci cold (tag)",
            median_seconds(tether_cold_oci, args.rounds),
            median_seconds(helm_pull_oci, args.rounds),
        ),
        (
            "oci cached (tag)",
            median_seconds(tether_warm_oci(), args.rounds),
            median_seconds(helm_pull_oci, args.rounds),
        ),
        (
            "oci cached (range)",
            median_seconds(tether_warm_oci("^1.0.0"), args.rounds),
            median_seconds(helm_pull_oci, args.rounds),
        ),
    ]
    client = oci_warm.http(access)
    wire = {}
    for label, revision in (("tag", version), ("range", "^1.0.0")):
        before = (client.counters.requests, client.counters.bytes_in, client.counters.not_modified)
        tether_warm_oci(revision)()
        wire[label] = (
            client.counters.requests - before[0],
            client.counters.bytes_in - before[1],
            client.counters.not_modified - before[2],
        )

    print(
        f"index.yaml {index_bytes} bytes ({args.charts} charts x {args.versions} versions); "
        f"chart {chart_bytes} bytes ({args.templates} templates); rounds {args.rounds}"
    )
    print(f"{'case':22} {'tether':>10} {'helm pull':>10} {'ratio':>7}")
    for label, ours, theirs in rows:
        print(f"{label:22} {ours * 1000:9.1f}ms {theirs * 1000:9.1f}ms {ours / theirs:7.2f}")
    print(
        f"unchanged helm index, one resolve: tether {tether_cost[0]} request(s), "
        f"{tether_cost[1]} bytes; helm pull {helm_cost[0]} request(s), {helm_cost[1]} bytes"
    )
    for label, (requests, size, not_modified) in wire.items():
        print(
            f"unchanged oci {label}, one resolve: tether {requests} request(s) "
            f"({not_modified} answered 304), {size} bytes"
        )


if __name__ == "__main__":
    main()
