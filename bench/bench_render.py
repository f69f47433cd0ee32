"""Bench: render a folder of 1,000 manifest files.

Renders the same folder with the C and the pure loader, and runs kubectl on
it side by side as a baseline (``kubectl label --local -f DIR -o name``,
which reads and parses every file the way ``kubectl apply`` does, without a
server). Prints best-of-N wall times and ratios.

    .venv/bin/python bench/bench_render.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import best_of, document
from tether.manifests import LocalTree, render
from tether.tools import find_tool


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
