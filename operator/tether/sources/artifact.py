"""Make and push a plain-manifests OCI artifact in Flux's ``flux push artifact`` layout.

``pack_folder`` writes a folder's regular files into a reproducible tar+gzip
(sorted names, zero times and owners, mode 0644/0755), skipping ``.git`` and
refusing symlinks that leave the folder. ``push_artifact`` uploads it as one
``application/vnd.cncf.flux.content.v1.tar+gzip`` layer with an
``application/vnd.cncf.flux.config.v1+json`` config, tagged as the URL says.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from tether.sources.errors import ArchiveError, InsecureSourceError
from tether.sources.fetch import Access, SourceFetcher
from tether.sources.oci import FLUX_CONFIG, FLUX_LAYER, OciClient, parse_oci_url


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    raise ArchiveError(f"{path.relative_to(root)} is a symlink out of the folder")
            elif not path.is_file():
                continue
            out.append(path)
    return out


def pack_folder(folder: Path) -> bytes:
    """A reproducible tar+gzip of the folder's files (see the module docstring)."""
    root = folder.resolve()
    if not root.is_dir():
        raise ArchiveError(f"{folder} is not a folder")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(root):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size = len(data)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def push_artifact(
    fetcher: SourceFetcher, folder: Path, url: str, access: Access, *, source: str = ""
) -> str:
    """Push ``folder`` to ``oci://host/repo:tag``; returns ``tag@sha256:<manifest digest>``."""
    ref = parse_oci_url(url)
    if ref.digest or not ref.tag:
        raise InsecureSourceError("push to a tag: oci://host/repo:tag", url=url)
    client = OciClient(fetcher.http(access), fetcher.cache, insecure=access.insecure)
    annotations = {"org.opencontainers.image.created": datetime.now(UTC).isoformat()}
    if source:
        annotations["org.opencontainers.image.source"] = source
    digest = client.push(
        ref,
        ref.tag,
        config=(FLUX_CONFIG, b"{}"),
        layers=[(FLUX_LAYER, pack_folder(folder))],
        credentials=access.credentials,
        annotations=annotations,
    )
    return f"{ref.tag}@{digest}"
