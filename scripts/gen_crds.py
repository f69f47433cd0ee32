#!/usr/bin/env python3
"""Regenerate the CRD files from the API models (operator/tether/api).

Writes one file per CRD into crds/ and charts/tether/crds/, and removes stale
``*.tether.dev.yaml`` files there. Run it after changing a model:

    python scripts/gen_crds.py

tests/unit/api/test_crd_files.py fails while the files are out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (ROOT / "crds", ROOT / "charts" / "tether" / "crds")


def expected_files() -> dict[str, str]:
    """File name -> content, for every CRD."""
    from tether.api.crd import crd_filename, crd_manifests, crd_yaml

    return {crd_filename(crd): crd_yaml(crd) for crd in crd_manifests()}


def main() -> int:
    files = expected_files()
    for folder in TARGETS:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.tether.dev.yaml"):
            if old.name not in files:
                old.unlink()
                print(f"removed {old.relative_to(ROOT)}")
        for name, text in files.items():
            path = folder / name
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
