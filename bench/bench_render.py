"""Bench: render a folder of 1,000 manifest files, a Jsonnet folder of 200 objects, and a
Kustomize app in a big repository.

1. Renders the same folder with the C and the pure loader, and runs kubectl
   on it side by side as a baseline (``kubectl label --local -f DIR -o name``,
   which reads and parses every file the way ``kubectl apply`` does, without a
   server).
2. Renders a small Kustomize overlay inside a Git commit of 40,000 small files
   plus one big file (30 MB in all), read through GitTree: Tether's closure
   export against the previous behaviour, which exported the whole commit
   before running the same kustomize (reproduced here as the baseline).

Prints best-of-N wall times and ratios.

    .venv/bin/python bench/bench_render.py [--files N] [--runs N] [--jsonnet-objects N]
        [--repo-files N] [--repo-mb N] [--skip-folder] [--skip-jsonnet] [--skip-repo]

The Jsonnet folder (20 files of 10 objects each, a shared library, TLAs and
an extVar) is rendered by ``tether.manifests.render`` (worker process, imports
through the FileTree) and, as the baseline, evaluated in-process by the same
``_jsonnet`` binding reading the files from disk, with ``json.loads`` of the
output: what the worker process and the import round trips cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from _corpus import best_of, document
from tether.git import GitTree
from tether.manifests import (
    DirectoryOptions,
    JsonnetOptions,
    JsonnetVar,
    LocalTree,
    RenderOptions,
    render,
    toolrun,
)
from tether.tools import find_tool

APP = {
    "apps/web/overlay/kustomization.yaml": b"resources:\n  - ../base\nnamePrefix: prod-\n",
    "apps/web/base/kustomization.yaml": b"resources:\n  - cm.yaml\n",
    "apps/web/base/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repo-files", type=int, default=40_000)
    parser.add_argument("--repo-mb", type=int, default=30)
    parser.add_argument("--jsonnet-objects", type=int, default=200)
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--skip-repo", action="store_true")
    parser.add_argument("--skip-jsonnet", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, repo, commit, runs = args.child
        child(mode, repo, commit, int(runs))
        return
    if not args.skip_folder:
        folder_bench(args)
    if not args.skip_jsonnet:
        bench_jsonnet(args.jsonnet_objects, args.runs)
    if not args.skip_repo:
        repository_bench(args)


def folder_bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        for i in range(args.files):
            (root / f"m{i:05}.yaml").write_text(document(i))
        tree = LocalTree(root)

        def ours(loader: str) -> None:
            result = render(tree, "", app_name="bench", cache_key=None, loader=loader)  # type: ignore[arg-type]
            assert len(result.objects) == args.files

        kubectl = find_tool("kubectl")
        argv = [kubectl, "label", "--local", "-f", str(root), "bench=1", "-o", "name"]

        def baseline() -> None:
            done = subprocess.run(argv, capture_output=True, timeout=300, env={"HOME": temp})
            assert done.returncode == 0, done.stderr
            assert done.stdout.count(b"\n") == args.files

        c = best_of(args.runs, lambda: ours("c"))
        pure = best_of(max(1, args.runs // 2), lambda: ours("pure"))
        kube = best_of(args.runs, baseline)
    print(f"folder: {args.files} files")
    print(f"tether render, C loader:    {c:.3f} s  ({args.files / c:,.0f} files/s)")
    print(f"tether render, pure loader: {pure:.3f} s  (pure / C = {pure / c:.1f}x)")
    print(f"kubectl label --local -f DIR -o name (baseline): {kube:.3f} s")
    print(f"tether C / kubectl: {c / kube:.2f}x")


def big_commit(folder: Path, files: int, megabytes: int) -> tuple[Repo, str]:
    """A bare repository whose one commit holds APP, ``files`` small files in folders of
    500, and one file that brings the total to ``megabytes`` MB."""
    repo = Repo.init_bare(str(folder), mkdir=True)
    small = 256
    blobs: dict[str, Blob] = {name: Blob.from_string(data) for name, data in APP.items()}
    for i in range(files - len(APP) - 1):
        blobs[f"noise/{i // 500}/f{i}.txt"] = Blob.from_string(f"{i}\n".encode().ljust(small))
    rest = max(0, megabytes * 1024 * 1024 - small * files)
    blobs["data/big.bin"] = Blob.from_string(b"\0" * rest)
    trees: dict[str, Tree] = {"": Tree()}
    for path in sorted(blobs):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            trees.setdefault("/".join(parts[:depth]), Tree())
        trees["/".join(parts[:-1])].add(parts[-1].encode(), stat.S_IFREG | 0o644, blobs[path].id)
    for folder_path in sorted(trees, key=lambda p: -p.count("/") if p else 1):
        if folder_path:
            parent, _, name = folder_path.rpartition("/")
            trees[parent].add(name.encode(), stat.S_IFDIR, trees[folder_path].id)
    commit = Commit()
    commit.tree = trees[""].id
    commit.author = commit.committer = b"bench <bench@example.com>"
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"big"
    repo.object_store.add_objects([(o, None) for o in [*blobs.values(), *trees.values(), commit]])
    return repo, commit.id.decode()


def repository_bench(args: argparse.Namespace) -> None:
    """Each variant runs in its own process, so each reports its own peak RSS."""
    with tempfile.TemporaryDirectory() as temp:
        start = time.perf_counter()
        repo, commit = big_commit(Path(temp) / "big.git", args.repo_files, args.repo_mb)
        repo.close()
        built = time.perf_counter() - start
        after = variant("closure", repo.path, commit, args.runs)
        unjailed = variant("closure-nojail", repo.path, commit, args.runs)
        before = variant("whole", repo.path, commit, max(1, args.runs // 3))
    print(
        f"Kustomize app in a {args.repo_files:,}-file, {args.repo_mb} MB commit "
        f"(built in {built:.1f} s), read through GitTree, one process per variant:"
    )
    for label, figures in (
        ("before, whole-repository export + kustomize (baseline)", before),
        ("after, closure export + kustomize", after),
        ("after, without the mount namespace", unjailed),
    ):
        print(f"{label}: {figures['best']:.3f} s, peak RSS {figures['rss_mb']:.0f} MB")
    ratio = after["best"] / before["best"]
    print(f"time after / before: {ratio:.4f}  (before / after = {1 / ratio:,.0f}x)")
    print(f"peak RSS after / before: {after['rss_mb'] / before['rss_mb']:.2f}")
    print(f"mount namespace cost: jail / no jail = {after['best'] / unjailed['best']:.2f}x")


def variant(mode: str, repo: str, commit: str, runs: int) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", mode, repo, commit, str(runs)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=True)
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def child(mode: str, repo_path: str, commit: str, runs: int) -> None:
    """One variant, ``runs`` times: print the best time and this process's peak RSS."""
    kustomize = find_tool("kustomize")
    tree = GitTree(Repo(repo_path), commit)

    def closure() -> None:
        result = render(tree, "apps/web/overlay", app_name="bench", cache_key=None)
        assert [o["metadata"]["name"] for o in result.objects] == ["prod-web"]

    def whole_export() -> None:
        """What Tether did before: export the whole commit, then run kustomize on it."""
        with tempfile.TemporaryDirectory(prefix="bench-whole-") as work:
            tree.export("", Path(work) / "src")
            argv = [kustomize, "build", str(Path(work) / "src/apps/web/overlay")]
            done = subprocess.run(argv, capture_output=True, timeout=600, check=True)
            assert b"prod-web" in done.stdout

    if mode == "closure-nojail":
        toolrun.jail_available = lambda: False  # type: ignore[assignment]
    best = best_of(runs, whole_export if mode == "whole" else closure)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"best": best, "rss_mb": rss_mb}))


JSONNET_LIB = """\
{
  deployment(name, replicas, env):: {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: name, labels: { app: name, env: env } },
    spec: {
      replicas: replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image: 'registry.example.com/%s:1.0' % name,
                               ports: [{ containerPort: 8080 }],
                               env: [{ name: 'ENV', value: env }] }] },
      },
    },
  },
  service(name):: {
    apiVersion: 'v1', kind: 'Service', metadata: { name: name },
    spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
  },
}
"""
JSONNET_FILE = """\
local k = import 'k.libsonnet';
function(replicas=1) std.flattenArrays([
  [k.deployment('app-{file}-%d' % i, replicas, std.extVar('env')), k.service('app-{file}-%d' % i)]
  for i in std.range(1, {pairs})
])
"""


def bench_jsonnet(objects: int, runs: int) -> None:
    import _jsonnet

    files, pairs = max(1, objects // 10), 5
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "lib").mkdir()
        (root / "lib" / "k.libsonnet").write_text(JSONNET_LIB)
        (root / "app").mkdir()
        for f in range(files):
            text = JSONNET_FILE.replace("{file}", str(f)).replace("{pairs}", str(pairs))
            (root / "app" / f"f{f:03}.jsonnet").write_text(text)
        tree = LocalTree(root)
        jsonnet = JsonnetOptions(
            ext_vars=(JsonnetVar("env", "prod"),),
            tlas=(JsonnetVar("replicas", "3", code=True),),
            libs=("lib",),
        )
        options = RenderOptions(directory=DirectoryOptions(jsonnet=jsonnet))
        expected = files * pairs * 2

        def ours() -> None:
            result = render(tree, "app", options, app_name="bench", cache_key=None)
            assert len(result.objects) == expected

        def baseline() -> None:
            count = 0
            for path in sorted((root / "app").glob("*.jsonnet")):
                out = _jsonnet.evaluate_file(
                    str(path),
                    jpathdir=[str(root / "lib")],
                    ext_vars={"env": "prod"},
                    tla_codes={"replicas": "3"},
                )
                count += len(json.loads(out))
            assert count == expected

        tether = best_of(runs, ours)
        direct = best_of(runs, baseline)
    print(f"jsonnet folder: {files} files, {expected} objects")
    print(f"tether render (worker process, FileTree imports): {tether:.3f} s")
    print(f"_jsonnet.evaluate_file in-process (baseline):     {direct:.3f} s")
    print(f"tether / baseline: {tether / direct:.2f}x")


if __name__ == "__main__":
    main()
