"""Bench: load 1,000 YAML documents with the C loader and with the pure loader.

Target (DESIGN §6): under 0.5 s for 1,000 documents with the C loader. Prints
the best of several runs for each loader, the ratio, and for reference ruamel's
own safe loader (which does not give kubectl's semantics) on the same stream.

    .venv/bin/python bench/bench_yaml.py [--docs N] [--runs N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ruamel.yaml import YAML

from _corpus import best_of, stream
from tether.manifests.yaml import c_loader_available, load_documents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = stream(args.docs)
    print(f"stream: {args.docs} documents, {len(text) / 1e6:.2f} MB")
    if not c_loader_available():
        sys.exit("ruamel.yaml.clib is not installed: no C loader to measure")
    loaded = load_documents(text, file="bench", loader="c")
    assert len(loaded) == args.docs
    assert loaded == load_documents(text, file="bench", loader="pure")

    c = best_of(args.runs, lambda: load_documents(text, file="bench", loader="c"))
    pure = best_of(
        max(1, args.runs // 2), lambda: load_documents(text, file="bench", loader="pure")
    )
    ruamel_c = best_of(args.runs, lambda: list(YAML(typ="safe", pure=False).load_all(text)))
    verdict = "PASS" if c < 0.5 else "FAIL"
    print(
        f"tether C loader:    {c:.3f} s  ({args.docs / c:,.0f} docs/s)  target < 0.5 s: {verdict}"
    )
    print(f"tether pure loader: {pure:.3f} s  ({args.docs / pure:,.0f} docs/s)")
    print(f"ratio pure / C:     {pure / c:.1f}x")
    print(f"baseline ruamel safe C load_all (YAML 1.2, not kubectl semantics): {ruamel_c:.3f} s")
    print(f"tether C / ruamel C: {c / ruamel_c:.2f}x")


if __name__ == "__main__":
    main()
