"""Field pointers: parsing, printing, reading and setting, with [key=value] selectors."""

from __future__ import annotations

import pytest

from tether.writeback.errors import FieldMoved, InvalidPointer, WriteBackReason
from tether.writeback.pointer import MISSING, FieldPointer

DEPLOYMENT = {
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "side", "image": "busybox", "ports": [{"port": 80}]},
                    {"name": "web", "image": "nginx:1.25"},
                ]
            }
        },
    },
    "metadata": {"annotations": {"a/b": "slash", "t~x": "tilde", "0": "zero-key"}},
}


@pytest.mark.parametrize(
    "text,steps",
    [
        ("/spec/replicas", ("spec", "replicas")),
        (
            "/spec/template/spec/containers[name=web]/image",
            ("spec", "template", "spec", "containers", ("name", "web"), "image"),
        ),
        (
            "/spec/template/spec/containers/0/image",
            ("spec", "template", "spec", "containers", 0, "image"),
        ),
        ("/metadata/annotations/a~1b", ("metadata", "annotations", "a/b")),
        ("/metadata/annotations/t~0x", ("metadata", "annotations", "t~x")),
        ("/a[k=v~1w]", ("a", ("k", "v/w"))),
        ("/a/01", ("a", "01")),  # not an index: a leading zero keeps it a key
        ("/a[k=]", ("a", ("k", ""))),
    ],
)
def test_parse_and_print_round_trip(text: str, steps: tuple[object, ...]) -> None:
    pointer = FieldPointer.parse(text)
    assert pointer.steps == steps
    assert str(pointer) == text
    assert FieldPointer.parse(str(pointer)) == pointer


@pytest.mark.parametrize(
    "text", ["", "spec/replicas", "/a~2b", "/a[b]", "/a[=x]", "/a]b", "/a[b=c]d"]
)
def test_invalid_pointers_are_typed_errors_naming_the_text(text: str) -> None:
    with pytest.raises(InvalidPointer) as caught:
        FieldPointer.parse(text)
    assert caught.value.reason is WriteBackReason.INVALID_POINTER
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    "text,value",
    [
        ("/spec/replicas", 3),
        ("/spec/template/spec/containers[name=web]/image", "nginx:1.25"),
        ("/spec/template/spec/containers/0/image", "busybox"),
        ("/spec/template/spec/containers[name=side]/ports[port=80]/port", 80),
        ("/metadata/annotations/a~1b", "slash"),
        ("/metadata/annotations/0", "zero-key"),
    ],
)
def test_get(text: str, value: object) -> None:
    assert FieldPointer.parse(text).get(DEPLOYMENT) == value


@pytest.mark.parametrize(
    "text",
    [
        "/spec/paused",
        "/spec/template/spec/containers[name=gone]/image",
        "/spec/template/spec/containers/5/image",
        "/spec/replicas/deeper",
        "/spec/template/spec/containers/image",
    ],
)
def test_get_missing(text: str) -> None:
    assert FieldPointer.parse(text).get(DEPLOYMENT) is MISSING


def test_with_value_copies_and_sets() -> None:
    pointer = FieldPointer.parse("/spec/template/spec/containers[name=web]/image")
    changed = pointer.with_value(DEPLOYMENT, "nginx:1.26")
    assert pointer.get(changed) == "nginx:1.26"
    assert pointer.get(DEPLOYMENT) == "nginx:1.25"
    assert (
        changed["spec"]["template"]["spec"]["containers"][0]
        == DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]
    )


def test_with_value_creates_missing_mapping_keys() -> None:
    changed = FieldPointer.parse("/spec/strategy/type").with_value(DEPLOYMENT, "Recreate")
    assert changed["spec"]["strategy"] == {"type": "Recreate"}


def test_with_value_on_a_missing_list_element_is_field_moved() -> None:
    pointer = FieldPointer.parse("/spec/template/spec/containers[name=gone]/image")
    with pytest.raises(FieldMoved, match=r"containers\[name=gone\]"):
        pointer.with_value(DEPLOYMENT, "x")
