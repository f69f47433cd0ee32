"""Kustomize write-back against the real kustomize: only the images:/replicas: entry moves.

The app (tests/writeback_corpus/kustomize) has patches, transformers, a generator,
a component and openapi. For each capture the test checks that the bytes before and
after the ``images:`` (or ``replicas:``) block are unchanged, that the entry equals
what ``kustomize edit set image`` (``set replicas``) writes, and that both files
build to the same objects, with the live image in the container.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from wb_asserts import is_one_insertion

from tether.identity import ResourceKey
from tether.manifests.documents import parse_file
from tether.tools import ToolNotFoundError, find_tool
from tether.writeback.edits import Capture, EditPlan, SourceKind, apply_plan
from tether.writeback.errors import UnsupportedSource, WriteBackReason
from tether.writeback.kustedit import ImageRef
from tether.writeback.pointer import FieldPointer

APP = Path(__file__).resolve().parents[2] / "writeback_corpus" / "kustomize"
KEY = ResourceKey("apps", "Deployment", "demo", "demo-web")
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def kustomize() -> str:
    try:
        return find_tool("kustomize")
    except ToolNotFoundError as exc:
        pytest.fail(str(exc))


def _files() -> dict[str, bytes]:
    return {
        f"app/{p.relative_to(APP).as_posix()}": p.read_bytes()
        for p in APP.rglob("*")
        if p.is_file()
    }


def _plan(*captures: Capture) -> EditPlan:
    return EditPlan(app_path="app", kind=SourceKind.KUSTOMIZE, captures=captures)


def _image(container: str, rendered: str, live: str) -> Capture:
    pointer = FieldPointer.parse(f"/spec/template/spec/containers[name={container}]/image")
    return Capture(KEY, pointer, live, None, git_value=rendered)


def _block(text: bytes, key: bytes) -> tuple[int, int]:
    """Byte span of a top-level ``key:`` block: its line and the lines that continue it."""
    start = text.index(b"\n" + key + b":") + 1
    lines = text[start:].splitlines(keepends=True)
    end = start + len(lines[0])
    for line in lines[1:]:
        if not line.startswith((b"-", b" ")):
            break
        end += len(line)
    return start, end


def _kustomization(data: bytes) -> dict[str, Any]:
    (document,) = parse_file(data, file="kustomization.yaml")
    value: dict[str, Any] = document.value
    return value


def _build(kustomize: str, folder: Path) -> str:
    return subprocess.run(
        [kustomize, "build", str(folder)], check=True, capture_output=True, text=True
    ).stdout


def _copy_app(tmp_path: Path, name: str, kustomization: bytes | None = None) -> Path:
    folder = tmp_path / name
    shutil.copytree(APP, folder)
    if kustomization is not None:
        (folder / "kustomization.yaml").write_bytes(kustomization)
    return folder


IMAGE_CASES = [
    ("web", "nginx:1.25", "nginx:1.26", "nginx:1.26"),
    ("web", "nginx:1.25", "mirror.example/nginx:1.25", "nginx=mirror.example/nginx:1.25"),
    ("cache", "reg/redis:6", "reg/redis:7", "redis=reg/redis:7"),
    ("cache", "reg/redis:6", f"reg/redis@{DIGEST}", f"redis=reg/redis@{DIGEST}"),
    ("cache", "reg/redis:6", "mirror.example:5000/redis:6", "redis=mirror.example:5000/redis:6"),
]


@pytest.mark.parametrize("container,rendered,live,kustomize_arg", IMAGE_CASES)
def test_image_capture_changes_only_its_images_entry(
    kustomize: str, tmp_path: Path, container: str, rendered: str, live: str, kustomize_arg: str
) -> None:
    files = _files()
    original = files["app/kustomization.yaml"]
    changed = apply_plan(_plan(_image(container, rendered, live)), files.get)
    assert set(changed) == {"app/kustomization.yaml"}
    ours = changed["app/kustomization.yaml"]
    start, end = _block(original, b"images")
    assert ours[:start] == original[:start]
    assert ours.endswith(original[end:])

    theirs_folder = _copy_app(tmp_path, "theirs")
    subprocess.run(
        [kustomize, "edit", "set", "image", kustomize_arg], cwd=theirs_folder, check=True
    )
    theirs = (theirs_folder / "kustomization.yaml").read_bytes()
    name = kustomize_arg.split("=")[0].split(":")[0].split("@")[0]
    ours_entries = {e["name"]: e for e in _kustomization(ours)["images"]}
    theirs_entries = {e["name"]: e for e in _kustomization(theirs)["images"]}
    assert ours_entries[name] == theirs_entries[name]
    assert ours_entries == theirs_entries

    ours_build = _build(kustomize, _copy_app(tmp_path, "ours", ours))
    assert ours_build == _build(kustomize, theirs_folder)
    assert f"image: {live}\n" in ours_build


def test_replica_capture_changes_only_the_replicas_entry(kustomize: str, tmp_path: Path) -> None:
    files = _files()
    original = files["app/kustomization.yaml"]
    capture = Capture(KEY, FieldPointer.parse("/spec/replicas"), 5, None, git_value=2)
    ours = apply_plan(_plan(capture), files.get)["app/kustomization.yaml"]
    start, end = _block(original, b"replicas")
    assert ours[:start] == original[:start]
    assert ours.endswith(original[end:])
    theirs_folder = _copy_app(tmp_path, "theirs")
    subprocess.run([kustomize, "edit", "set", "replicas", "web=5"], cwd=theirs_folder, check=True)
    theirs = (theirs_folder / "kustomization.yaml").read_bytes()
    assert _kustomization(ours)["replicas"] == _kustomization(theirs)["replicas"]
    built = _build(kustomize, _copy_app(tmp_path, "ours", ours))
    assert built == _build(kustomize, theirs_folder)
    assert "replicas: 5\n" in built


def test_replicas_for_an_object_without_entry_appends_one(kustomize: str, tmp_path: Path) -> None:
    files = _files()
    original = files["app/kustomization.yaml"]
    files["app/kustomization.yaml"] = original[: original.index(b"\nreplicas:") + 1]
    capture = Capture(KEY, FieldPointer.parse("/spec/replicas"), 4, None, git_value=1)
    ours = apply_plan(_plan(capture), files.get)["app/kustomization.yaml"]
    assert is_one_insertion(files["app/kustomization.yaml"], ours)
    assert _kustomization(ours)["replicas"] == [{"name": "demo-web", "count": 4}]
    assert "replicas: 4\n" in _build(kustomize, _copy_app(tmp_path, "ours", ours))


def test_images_list_is_created_when_absent() -> None:
    data = b"resources:\n- deployment.yaml\n# end\n"
    files = {"app/kustomization.yaml": data}
    changed = apply_plan(_plan(_image("web", "nginx:1.25", "nginx:1.26")), files.get)
    ours = changed["app/kustomization.yaml"]
    assert ours.startswith(b"resources:\n- deployment.yaml")
    assert _kustomization(ours)["images"] == [{"name": "nginx", "newTag": "1.26"}]


def test_other_fields_of_a_kustomize_app_are_unsupported() -> None:
    capture = Capture(KEY, FieldPointer.parse("/spec/paused"), True, None, git_value=False)
    with pytest.raises(UnsupportedSource, match="demo/demo-web /spec/paused") as caught:
        apply_plan(_plan(capture), _files().get)
    assert caught.value.reason is WriteBackReason.UNSUPPORTED_SOURCE


@pytest.mark.parametrize(
    "text,expected",
    [
        ("nginx", ImageRef("nginx")),
        ("nginx:1.25", ImageRef("nginx", "1.25")),
        ("host:5000/a/b", ImageRef("host:5000/a/b")),
        ("host:5000/a/b:v1", ImageRef("host:5000/a/b", "v1")),
        (f"a/b@{DIGEST}", ImageRef("a/b", None, DIGEST)),
        (f"a/b:v1@{DIGEST}", ImageRef("a/b", "v1", DIGEST)),
    ],
)
def test_image_reference_splits_like_kustomize(text: str, expected: ImageRef) -> None:
    assert ImageRef.parse(text) == expected


def test_flow_style_entries_are_edited_in_place() -> None:
    data = b'images:\n- {name: redis, newName: reg/redis, newTag: "6"}  # flow\n- {newTag: "1", name: x}\n'
    files = {"app/kustomization.yaml": data}
    digest = apply_plan(_plan(_image("cache", "reg/redis:6", f"reg/redis@{DIGEST}")), files.get)
    expected = data.replace(b'newTag: "6"}', f"digest: {DIGEST}}}".encode())
    assert digest["app/kustomization.yaml"] == expected
    untagged = apply_plan(_plan(_image("x", "x:1", "x")), files.get)["app/kustomization.yaml"]
    assert untagged == data.replace(b'{newTag: "1", name: x}', b"{name: x}")
