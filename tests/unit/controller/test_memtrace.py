"""The operator's opt-in allocation dump and the modules it leaves unloaded at start."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

from tether.controller.memtrace import dump, format_snapshot


def test_dump_lists_the_allocating_line_and_file(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        held = [bytearray(4096) for _ in range(64)]  # 256 KiB from this very line
        dump(tmp_path / "tm.txt")
    finally:
        tracemalloc.stop()
    text = (tmp_path / "tm.txt").read_text()
    assert text.startswith("traced total: ")
    assert f"{__file__}:" in text.split("-- by file")[0]
    assert __file__ in text.split("-- by file")[1]
    assert not (tmp_path / "tm.txt.partial").exists()
    assert len(held) == 64


def test_format_snapshot_caps_each_group() -> None:
    tracemalloc.start()
    try:
        held = [str(i) * 10 for i in range(1000)]
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert len(held) == 1000
    lines = format_snapshot(snapshot, top=3).splitlines()
    by_line = lines[lines.index("-- by line") + 1 : lines.index("-- by file")]
    by_file = lines[lines.index("-- by file") + 1 :]
    assert 0 < len(by_line) <= 3
    assert 0 < len(by_file) <= 3


HEAVY = ("celpy", "lark", "cryptography", "kubernetes_asyncio", "kubernetes")


def test_operator_start_leaves_heavy_packages_unloaded() -> None:
    # cel-python (custom health rules) and cryptography (commit signing) cost ~17 MiB
    # resident together; an operator that uses neither must not load them. A kubernetes
    # client package costs 38 MiB (its __init__ loads every generated model): Tether
    # loads credentials itself (tether.kube.kubeconfig) and kopf imports the package
    # whenever it is importable, so it must not be installed at all (specs/design.md).
    code = (
        "import importlib.util, sys, kopf, tether.controller.main, tether.cli\n"
        "from tether.cli import main\n"
        "try:\n"
        "    main(['run', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "kopf.OperatorRegistry()\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "installed = [m for m in heavy[3:] if importlib.util.find_spec(m) is not None]\n"
        "print('RESULT', loaded, installed)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: " in out  # the CLI really parsed `run --help`
    assert out.splitlines()[-1] == "RESULT [] []"


def test_deep_tracing_adds_the_call_chains() -> None:
    tracemalloc.start(5)
    try:
        held = [bytearray(4096) for _ in range(64)]
        text = format_snapshot(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert len(held) == 64
    chains = text.split("-- chain ")[1:]
    assert any(f"{__file__}:" in chain for chain in chains)


def _allocate_through_the_stdlib() -> list[object]:
    import json

    return [json.loads('{"a": [1, 2, 3], "b": {"c": "d"}}') for _ in range(2000)]


def test_deep_tracing_groups_by_the_holding_line() -> None:
    # json's decoder allocates; the holder is the line here that called it.
    tracemalloc.start(8)
    try:
        held = _allocate_through_the_stdlib()
        text = format_snapshot(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert len(held) == 2000
    holders = text.split("-- by holder\n")[1].split("-- chain")[0].splitlines()
    top = holders[0].split()[-1]
    assert top.startswith(f"{__file__}:")
