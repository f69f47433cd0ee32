"""Generate tether's default strategic-merge patch metadata table.

Reads a folder of Kubernetes OpenAPI v3 documents (``api/openapi-spec/v3`` of the
``k8s.io/kubernetes`` Go module) and writes ``operator/tether/diff/data/patchmeta.json``
in compact form. Usage::

    python scripts/gen_patchmeta.py [SPEC_DIR] [OUTPUT]

Without SPEC_DIR it uses the module cache copy of the version pinned in
``e2e/versions.env``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tether.diff.patchmeta import PatchMeta

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "operator" / "tether" / "diff" / "data" / "patchmeta.json"


def default_spec_dir() -> Path:
    """The OpenAPI v3 folder of the pinned Kubernetes module in the Go module cache."""
    version = "v1.35.4"
    env = ROOT / "e2e" / "versions.env"
    if env.exists():
        for line in env.read_text().splitlines():
            if line.startswith("KUBERNETES_VERSION="):
                version = line.split("=", 1)[1].strip()
    return Path.home() / "go/pkg/mod/k8s.io" / f"kubernetes@{version}" / "api/openapi-spec/v3"


def main(argv: list[str]) -> int:
    spec_dir = Path(argv[1]) if len(argv) > 1 else default_spec_dir()
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    files = sorted(spec_dir.glob("*.json"))
    if not files:
        print(f"no OpenAPI v3 documents in {spec_dir}", file=sys.stderr)
        return 1
    docs = [json.loads(path.read_text("utf-8")) for path in files]
    table = PatchMeta.from_openapi_v3(docs).to_json()
    table["source"] = spec_dir.parent.parent.parent.name
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")
    print(f"{output}: {len(table['roots'])} kinds, {len(table['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
