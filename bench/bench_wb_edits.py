"""Bench: write 100 captured fields back into one multi-document file.

Measures ``edits.apply_plan`` (all captures of a file spliced and verified in one
pass) against two baselines run side by side on the same file: the same edits one
at a time (``yamledit.set_field`` per field: parse, splice, verify for each), and a
re-dumping editor (ruamel.yaml round-trip ``load_all``, set the values, ``dump_all``),
which is what byte-preserving splicing replaces; the bench also reports whether each
result keeps every byte outside the edited scalars.

    .venv/bin/python bench/bench_wb_edits.py [--fields N] [--runs N]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ruamel.yaml import YAML

from _corpus import best_of, stream
from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.edits import Capture, EditPlan, SourceKind, apply_plan
from tether.writeback.pointer import FieldPointer
from tether.writeback.yamledit import set_field

FILE = "apps/shop/all.yaml"
IMAGE = FieldPointer.parse("/spec/template/spec/containers[name=web]/image")


def _plan(fields: int) -> EditPlan:
    # The corpus stream is Deployment, Service, ConfigMap in turn: every third is captured.
    captures = tuple(
        Capture(
            ResourceKey("apps", "Deployment", f"team-{i % 7}", f"web-{i}"),
            IMAGE,
            f"registry.example.com/shop/web:2.{i}.0",
            ObjectSource(FILE, i),
            git_value=f"registry.example.com/shop/web:1.{i}.0",
        )
        for i in range(0, 3 * fields, 3)
    )
    return EditPlan("apps/shop", SourceKind.PLAIN, captures)


def _one_by_one(data: bytes, plan: EditPlan) -> bytes:
    for capture in plan.captures:
        assert capture.origin is not None
        data = set_field(
            data,
            file=FILE,
            doc=capture.origin.doc,
            steps=capture.pointer.steps,
            value=capture.value,
            create=False,
            what=capture.label,
        )
    return data


def _redump(data: bytes, plan: EditPlan) -> bytes:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    documents: list[Any] = list(yaml.load_all(data.decode()))
    for capture in plan.captures:
        assert capture.origin is not None
        document = documents[capture.origin.doc]
        for container in document["spec"]["template"]["spec"]["containers"]:
            if container["name"] == "web":
                container["image"] = capture.value
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue().encode()


def _kept(original: bytes, result: bytes, plan: EditPlan) -> bool:
    expected = original
    for capture in plan.captures:
        expected = expected.replace(
            f"image: {capture.git_value}\n".encode(), f"image: {capture.value}\n".encode(), 1
        )
    return result == expected


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fields", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--single", type=int, default=10, help="fields to time one at a time (it is slow)"
    )
    args = parser.parse_args()
    data = stream(3 * args.fields).encode()
    plan = _plan(args.fields)
    files = {FILE: data}
    print(
        f"file: {3 * args.fields} documents, {len(data) / 1e3:.0f} kB; {args.fields} captured images"
    )

    batched = apply_plan(plan, files.get)[FILE]
    redumped = _redump(data, plan)
    few = EditPlan(plan.app_path, plan.kind, plan.captures[: args.single])
    assert _one_by_one(data, few) == apply_plan(few, files.get)[FILE]
    t_batched = best_of(args.runs, lambda: apply_plan(plan, files.get))
    t_single = best_of(1, lambda: _one_by_one(data, few)) / len(few.captures) * args.fields
    t_redump = best_of(args.runs, lambda: _redump(data, plan))
    kept = _kept(data, batched, plan)
    print(f"apply_plan, one pass:        {t_batched:.3f} s  bytes kept: {kept}")
    print(
        f"set_field per field:         {t_single:.3f} s  ({t_single / t_batched:.1f}x;"
        f" {args.single} fields timed, scaled to {args.fields})"
    )
    print(
        f"baseline ruamel load + dump: {t_redump:.3f} s  ({t_redump / t_batched:.2f}x)"
        f"  bytes kept: {_kept(data, redumped, plan)}"
    )


if __name__ == "__main__":
    main()
