"""Tracking label and annotation, and deciding ownership of live objects."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tether.identity import (
    APP_LABEL,
    TRACKING_ANNOTATION,
    AppRef,
    NotManaged,
    Owned,
    ResourceKey,
    SharedConflict,
    app_instance,
    ownership,
    parse_tracking_id,
    stamp,
    tracking_id,
)

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
APP = AppRef("apps", "shop")
KEY = ResourceKey("apps", "Deployment", "prod", "web")


def test_short_instance_is_readable() -> None:
    assert app_instance(APP) == "apps_shop"
    assert APP.instance == "apps_shop"


@pytest.mark.parametrize(
    "app",
    [
        AppRef("n" * 63, "a" * 63),
        AppRef("team-a", "x" * 60),
        AppRef("ns", "name-ending-in-dash-" + "d" * 50),
        AppRef("a" * 40, "." * 30),
    ],
)
def test_long_instances_are_hashed_to_a_valid_label_value(app: AppRef) -> None:
    value = app_instance(app)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value), value
    assert app_instance(AppRef(app.namespace, app.name)) == value  # deterministic


def test_long_instances_that_share_a_prefix_still_differ() -> None:
    first = app_instance(AppRef("team", "p" * 70 + "1"))
    second = app_instance(AppRef("team", "p" * 70 + "2"))
    assert first != second


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (KEY, "apps/shop:apps/Deployment:prod/web"),
        (ResourceKey("", "ConfigMap", "prod", "cfg"), "apps/shop:/ConfigMap:prod/cfg"),
        (ResourceKey("", "Namespace", "", "prod"), "apps/shop:/Namespace:/prod"),
    ],
)
def test_tracking_id_format_and_parse(key: ResourceKey, expected: str) -> None:
    assert tracking_id(APP, key) == expected
    assert parse_tracking_id(expected) == (APP, key)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "apps/shop",
        "apps:apps/Deployment:prod/web",
        "a/b:c:d:e",
        "a/b:Kind:ns/name",
        "a/b:g/K:ns",
    ],
)
def test_malformed_tracking_ids_do_not_parse(value: str) -> None:
    assert parse_tracking_id(value) is None


def test_stamp_adds_label_and_annotation_without_touching_the_input() -> None:
    original = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"a": "b"}},
    }
    stamped = stamp(original, APP, KEY)
    assert stamped["metadata"]["labels"] == {"a": "b", APP_LABEL: "apps_shop"}
    assert stamped["metadata"]["annotations"] == {
        TRACKING_ANNOTATION: "apps/shop:apps/Deployment:prod/web"
    }
    assert original["metadata"] == {"name": "web", "labels": {"a": "b"}}
    stamped["metadata"]["labels"]["a"] = "changed"
    assert original["metadata"]["labels"]["a"] == "b"


def live_with(annotation: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "prod"}
    if annotation is not None:
        meta["annotations"] = {TRACKING_ANNOTATION: annotation}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("apps/shop:apps/Deployment:prod/web", Owned()),
        (None, NotManaged("no tracking id")),
        ("not-an-id", NotManaged("malformed tracking id")),
        (
            "apps/shop:apps/Deployment:staging/web",
            NotManaged("copied object: tracking id points at apps/Deployment:staging/web"),
        ),
        (
            "other/app:apps/Deployment:other/web",
            NotManaged("copied object: tracking id points at apps/Deployment:other/web"),
        ),
        ("team/billing:apps/Deployment:prod/web", SharedConflict(AppRef("team", "billing"))),
    ],
)
def test_ownership(annotation: str | None, expected: object) -> None:
    assert ownership(live_with(annotation), APP, KEY) == expected


def test_stamped_object_is_owned_by_its_app_only() -> None:
    live = stamp(live_with(None), APP, KEY)
    assert ownership(live, APP, KEY) == Owned()
    assert ownership(live, AppRef("apps", "other"), KEY) == SharedConflict(APP)


def test_ownership_tolerates_odd_metadata() -> None:
    assert ownership({"metadata": None}, APP, KEY) == NotManaged("no tracking id")
    assert ownership({"metadata": {"annotations": ["x"]}}, APP, KEY) == NotManaged("no tracking id")
