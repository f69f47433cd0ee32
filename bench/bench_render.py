"""Bench: render a folder of 1,000 manifest files, and a Jsonnet folder of 200 objects.

Renders the same folder with the C and the pure loader, and runs kubectl on
it side by side as a baseline (``kubectl label --local -f DIR -o name``,
which reads and parses every file the way ``kubectl apply`` does, without a
server). Prints best-of-N wall times and ratios.

The Jsonnet folder (20 files of 10 objects each, a shared library, TLAs and
an extVar) is rendered by ``tether.manifests.render`` (worker process, imports
through the FileTree) and, as the baseline, evaluated in-process by the same
``_jsonnet`` binding reading the files from disk, with ``json.loads`` of the
output: what the worker process and the import round trips cost.

    .venv/bin/python bench/bench_render.py [--files N] [--runs N] [--jsonnet-objects N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import best_of, document
from tether.manifests import (
    DirectoryOptions,
    JsonnetOptions,
    JsonnetVar,
    LocalTree,
    RenderOptions,
    render,
)
from tether.tools import find_tool


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jsonnet-objects", type=int, default=200)
    args = parser.parse_args()
    bench_folder(args)
    bench_jsonnet(args.jsonnet_objects, args.runs)


def bench_folder(args: argparse.Namespace) -> None:
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
    import json

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
