"""Pack a root filesystem folder into a one-layer OCI image archive, reproducibly.

``write_image_archive`` turns a folder into the tar of an OCI image layout
(``oci-layout``, ``index.json``, ``blobs/sha256/...``) that ``ctr images import``,
``podman load``, ``skopeo copy oci-archive:`` and ``kind load image-archive`` read.
The same folder, config and epoch always give the same bytes, hence the same
digest: entries are sorted, owners are numeric, every mtime is clamped to the
epoch (``SOURCE_DATE_EPOCH``) and gzip carries no name or time. It stops at
writing the file: building the folder is ``image/build.sh``'s job.

Run as ``python -m tether.localcluster.oci ROOTFS OUT --name REF --config CONFIG.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
# containerd names an imported image after this annotation; OCI tools use ref.name.
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an OCI image config (what a container starts with)."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/bin:/bin",)
    user: str = ""
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageConfig:
        return cls(
            entrypoint=tuple(data["entrypoint"]),
            cmd=tuple(data.get("cmd", ())),
            env=tuple(data.get("env", cls.env)),
            user=str(data.get("user", "")),
            workdir=str(data.get("workdir", "/")),
            labels=dict(data.get("labels", {})),
            exposed_ports=tuple(data.get("exposed_ports", ())),
        )


@dataclass(frozen=True)
class Blob:
    """Bytes stored under their sha256 digest."""

    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, media_type: str, **extra: Any) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": self.digest, "size": len(self.data), **extra}


@dataclass(frozen=True)
class BuiltImage:
    """What was written: the manifest digest (the image's identity) and sizes."""

    manifest_digest: str
    layer_bytes: int
    layer_tar_bytes: int
    archive: Path


def walk_sorted(root: Path) -> Iterator[Path]:
    """Every path below ``root`` (not ``root`` itself), parents first, names sorted."""
    for name in sorted(os.listdir(root)):
        path = root / name
        yield path
        if path.is_dir() and not path.is_symlink():
            yield from walk_sorted(path)


def _normalise(info: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info.mtime = min(int(info.mtime), epoch)
    info.uname = ""
    info.gname = ""
    return info


def layer_tar(root: Path, epoch: int) -> bytes:
    """The uncompressed layer: every file of ``root`` with numeric owners, clamped mtimes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in walk_sorted(root):
            arcname = path.relative_to(root).as_posix()
            info = _normalise(tar.gettarinfo(str(path), arcname), epoch)
            if info.isreg():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip without a file name or timestamp, so equal input gives equal output."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_blob(doc: dict[str, Any]) -> Blob:
    return Blob(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())


def config_blob(config: ImageConfig, diff_id: str, epoch: int, created_by: str) -> Blob:
    """The OCI image config document for one layer."""
    runtime: dict[str, Any] = {
        "Entrypoint": list(config.entrypoint),
        "Env": list(config.env),
        "WorkingDir": config.workdir,
    }
    if config.cmd:
        runtime["Cmd"] = list(config.cmd)
    if config.user:
        runtime["User"] = config.user
    if config.labels:
        runtime["Labels"] = dict(config.labels)
    if config.exposed_ports:
        runtime["ExposedPorts"] = {p: {} for p in config.exposed_ports}
    return _json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": _iso(epoch),
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": _iso(epoch), "created_by": created_by}],
        }
    )


def _archive_entry(tar: tarfile.TarFile, name: str, data: bytes, epoch: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = epoch
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_image_archive(
    root: Path,
    out: Path,
    *,
    name: str,
    config: ImageConfig,
    epoch: int,
    created_by: str = "tether image build",
) -> BuiltImage:
    """Write ``root`` as a one-layer image named ``name`` into the OCI archive ``out``."""
    raw = layer_tar(root, epoch)
    layer = Blob(gzip_bytes(raw))
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    cfg = config_blob(config, diff_id, epoch, created_by)
    manifest = _json_blob(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": cfg.descriptor(CONFIG_TYPE),
            "layers": [layer.descriptor(LAYER_TYPE)],
        }
    )
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = _json_blob(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                manifest.descriptor(
                    MANIFEST_TYPE,
                    annotations={CONTAINERD_NAME: name, REF_NAME: tag},
                    platform={"architecture": "amd64", "os": "linux"},
                )
            ],
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _archive_entry(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', epoch)
        _archive_entry(tar, "index.json", index.data, epoch)
        for blob in sorted((layer, cfg, manifest), key=lambda b: b.digest):
            _archive_entry(tar, f"blobs/sha256/{blob.digest.split(':', 1)[1]}", blob.data, epoch)
    tmp.replace(out)
    return BuiltImage(manifest.digest, len(layer.data), len(raw), out)


def _is_special(path: Path) -> bool:
    mode = path.lstat().st_mode
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def special_files(root: Path) -> list[Path]:
    """Device nodes, FIFOs and sockets below ``root``: a runtime makes those, not images."""
    return [p for p in walk_sorted(root) if _is_special(p)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tether.localcluster.oci", description=__doc__)
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--name", required=True, help="image reference, e.g. localhost/x:1")
    parser.add_argument("--config", type=Path, required=True, help="ImageConfig as JSON")
    parser.add_argument("--epoch", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", 0)))
    args = parser.parse_args(argv)
    if not args.rootfs.is_dir():
        print(f"oci: {args.rootfs} is not a folder", file=sys.stderr)
        return 2
    special = special_files(args.rootfs)
    if special:
        print(f"oci: {special[0]} is a device, FIFO or socket; remove it", file=sys.stderr)
        return 2
    config = ImageConfig.from_json(json.loads(args.config.read_text()))
    built = write_image_archive(
        args.rootfs, args.out, name=args.name, config=config, epoch=args.epoch
    )
    print(
        f"oci: {args.name} {built.manifest_digest} layer {built.layer_bytes} bytes "
        f"({built.layer_tar_bytes} unpacked) -> {built.archive}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
