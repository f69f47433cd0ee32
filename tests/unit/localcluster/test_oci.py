"""The OCI archive writer: a readable layout, and the same bytes for the same input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tether.localcluster import oci

CONFIG = oci.ImageConfig(entrypoint=("/bin/app",), cmd=("run",), user="10001:10001")
EPOCH = 1_700_000_000


def _rootfs(root: Path, mtime: int) -> Path:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "usr" / "bin" / "app").write_text("#!/bin/sh\necho hi\n")
    (root / "usr" / "bin" / "app").chmod(0o755)
    (root / "usr" / "bin" / "b-link").symlink_to("app")
    os.link(root / "usr" / "bin" / "app", root / "usr" / "bin" / "hard")
    (root / "a.txt").write_text("a")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _blob(files: dict[str, bytes], digest: str) -> bytes:
    return files["blobs/sha256/" + digest.split(":", 1)[1]]


def test_archive_is_an_oci_layout_whose_digests_match_their_blobs(tmp_path: Path) -> None:
    root = _rootfs(tmp_path / "root", EPOCH + 500)
    built = oci.write_image_archive(
        root, tmp_path / "img.tar", name="localhost/app:1", config=CONFIG, epoch=EPOCH
    )
    files = _read(built.archive)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    entry = index["manifests"][0]
    assert entry["digest"] == built.manifest_digest
    assert entry["annotations"][oci.CONTAINERD_NAME] == "localhost/app:1"
    assert entry["annotations"][oci.REF_NAME] == "1"
    manifest = json.loads(_blob(files, built.manifest_digest))
    config = json.loads(_blob(files, manifest["config"]["digest"]))
    assert config["config"]["User"] == "10001:10001"
    assert config["config"]["Entrypoint"] == ["/bin/app"]
    layer = _blob(files, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as tar:
        members = tar.getmembers()
        raw_data = {m.name: m for m in members}
    assert [m.name for m in members] == [
        "a.txt",
        "tmp",
        "usr",
        "usr/bin",
        "usr/bin/app",
        "usr/bin/b-link",
        "usr/bin/hard",
    ]
    assert raw_data["usr/bin/app"].mode & 0o777 == 0o755
    assert raw_data["usr/bin/b-link"].issym() and raw_data["usr/bin/b-link"].linkname == "app"
    assert raw_data["usr/bin/hard"].islnk() and raw_data["usr/bin/hard"].linkname == "usr/bin/app"
    assert {m.mtime for m in members} == {EPOCH}  # newer files clamped to the epoch
    assert {m.uname for m in members} == {""}


def test_same_tree_gives_same_digest_and_a_change_gives_another(tmp_path: Path) -> None:
    first = _rootfs(tmp_path / "one", EPOCH + 10)
    second = _rootfs(tmp_path / "two", EPOCH + 99)  # other mtimes, both after the epoch
    a = oci.write_image_archive(first, tmp_path / "a.tar", name="x:1", config=CONFIG, epoch=EPOCH)
    b = oci.write_image_archive(second, tmp_path / "b.tar", name="x:1", config=CONFIG, epoch=EPOCH)
    assert a.manifest_digest == b.manifest_digest
    assert a.archive.read_bytes() == b.archive.read_bytes()
    (second / "a.txt").write_text("b")
    c = oci.write_image_archive(second, tmp_path / "c.tar", name="x:1", config=CONFIG, epoch=EPOCH)
    assert c.manifest_digest != a.manifest_digest


def test_cli_refuses_device_files_and_sockets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    root = tmp_path / "r"
    root.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "s"))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"entrypoint": ["/x"]}))
    try:
        code = oci.main([str(root), str(tmp_path / "o.tar"), "--name", "x:1", "--config", str(cfg)])
    finally:
        sock.close()
    assert code == 2
    assert "is a device, FIFO or socket" in capsys.readouterr().err
    assert not (tmp_path / "o.tar").exists()
