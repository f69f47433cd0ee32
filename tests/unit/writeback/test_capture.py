"""capture: which live values and objects go to Git, and which do not."""

from __future__ import annotations

import json
from typing import Any

from tether.identity import ResourceKey
from tether.manifests.objects import ObjectSource
from tether.writeback.capture import (
    CaptureSpec,
    DesiredObject,
    FieldRule,
    edit_plan,
    find_captures,
    find_new_objects,
    held_from_status,
    held_of,
    held_to_status,
    mask,
    pending_labels,
    restored_previous,
)
from tether.writeback.edits import SourceKind
from tether.writeback.pointer import FieldPointer

WEB = ResourceKey("apps", "Deployment", "team", "web")
REPLICAS = FieldRule(
    kinds=("Deployment",), group="apps", pointer=FieldPointer.parse("/spec/replicas")
)
IMAGE = FieldRule(
    kinds=("Deploy*",),
    group="apps",
    pointer=FieldPointer.parse("/spec/template/spec/containers[name=web]/image"),
)


def deployment(replicas: int | None = 3, image: str = "web:1", **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "spec": {
                "containers": [{"name": "side", "image": "s:1"}, {"name": "web", "image": image}]
            }
        }
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", **meta},
        "spec": spec,
    }


def pair(
    desired: dict[str, Any], live: dict[str, Any] | None, key: ResourceKey = WEB
) -> DesiredObject:
    return DesiredObject(key, desired, ObjectSource("web.yaml", 0), live)


def test_a_listed_field_that_differs_is_captured_with_its_origin() -> None:
    found = find_captures(
        CaptureSpec(fields=(REPLICAS, IMAGE)), [pair(deployment(), deployment(5, "web:2"))]
    )
    assert [(str(c.pointer), c.value, c.git_value) for c in found.captures] == [
        ("/spec/replicas", 5, 3),
        ("/spec/template/spec/containers[name=web]/image", "web:2", "web:1"),
    ]
    assert found.captures[0].origin == ObjectSource("web.yaml", 0)
    assert found.seen[(WEB, "/spec/replicas")] == 3


def test_equal_unlisted_unmatched_or_unset_fields_are_not_captured() -> None:
    live = deployment(5, "web:2")
    other = FieldRule(
        kinds=("StatefulSet",), group="apps", pointer=FieldPointer.parse("/spec/replicas")
    )
    named = FieldRule(
        kinds=("*",), group="apps", name="api", pointer=FieldPointer.parse("/spec/replicas")
    )
    assert find_captures(CaptureSpec(fields=(other, named)), [pair(deployment(), live)]).empty
    assert find_captures(CaptureSpec(fields=(REPLICAS,)), [pair(deployment(5), live)]).empty
    # Git does not set replicas: the live count is the server's default, not a change.
    assert find_captures(CaptureSpec(fields=(REPLICAS,)), [pair(deployment(None), live)]).empty
    assert find_captures(CaptureSpec(fields=(REPLICAS,)), [pair(deployment(), None)]).empty


def test_git_moved_since_the_last_look_wins() -> None:
    spec = CaptureSpec(fields=(REPLICAS,))
    live = deployment(3)
    # Git went from 3 to 7 while live stayed at 3: that is a Git change, not a capture.
    assert find_captures(
        spec, [pair(deployment(7), live)], previous={(WEB, "/spec/replicas"): 3}
    ).empty
    # Git stayed at 3 while live went to 5: captured.
    found = find_captures(
        spec, [pair(deployment(3), deployment(5))], previous={(WEB, "/spec/replicas"): 3}
    )
    assert [c.value for c in found.captures] == [5]


def test_without_a_previous_look_last_applied_tells_who_moved() -> None:
    spec = CaptureSpec(fields=(REPLICAS,))
    applied = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(deployment(3))}
    untouched = deployment(3, annotations=applied)
    assert find_captures(spec, [pair(deployment(7), untouched)], guess=True).empty  # Git moved
    assert find_captures(spec, [pair(deployment(7), untouched)]).captures  # the CLI: asked
    scaled = deployment(5, annotations=applied)
    assert [
        c.value for c in find_captures(spec, [pair(deployment(3), scaled)], guess=True).captures
    ] == [5]


def restart(found: Any) -> dict[Any, Any]:
    """What a restarted operator judges with: the status entries, read back."""
    entries = json.loads(json.dumps(held_to_status(held_of(found.captures))))
    return restored_previous(held_from_status(entries))


def test_a_held_capture_survives_a_restart_that_last_applied_would_lose() -> None:
    spec = CaptureSpec(fields=(REPLICAS,))
    # Git says 3, live was scaled to 5, and a sync of the masked object then wrote 5
    # into last-applied: the guess alone takes that for "Git moved" and loses the 5.
    synced = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(deployment(5))}
    live = deployment(5, annotations=synced)
    assert find_captures(spec, [pair(deployment(3), live)], guess=True).empty
    before = find_captures(spec, [pair(deployment(3), deployment(5))])
    previous = restart(before)
    after = find_captures(spec, [pair(deployment(3), live)], previous=previous, guess=True)
    assert [c.value for c in after.captures] == [5]
    # Git moved while the operator was down (3 -> 7): Git wins, as it would have live.
    moved = find_captures(spec, [pair(deployment(7), live)], previous=previous, guess=True)
    assert moved.empty
    # A field that was not held still falls back to the last-applied guess.
    other = ResourceKey("apps", "Deployment", "team", "api")
    assert find_captures(
        spec, [pair(deployment(3), live, other)], previous=previous, guess=True
    ).empty


def test_held_entries_name_the_field_and_never_hold_a_secret_value() -> None:
    key = ResourceKey("", "Secret", "team", "db")
    rule = FieldRule(kinds=("Secret",), pointer=FieldPointer.parse("/data/password"))
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}
    desired["data"] = {"password": "b2xk"}
    live = {**desired, "data": {"password": "c2VjcmV0LXZhbHVl"}}
    spec = CaptureSpec(fields=(rule, REPLICAS), allow_secrets=True)
    found = find_captures(spec, [pair(desired, live, key), pair(deployment(3), deployment(5))])
    entries = held_to_status(held_of(found.captures))
    assert entries[0] == {
        "group": "",
        "kind": "Secret",
        "namespace": "team",
        "name": "db",
        "pointer": "/data/password",
    }
    assert set(entries[1]) == {"group", "kind", "namespace", "name", "pointer", "gitDigest"}
    text = json.dumps(entries)
    assert "c2VjcmV0LXZhbHVl" not in text and "b2xk" not in text
    # Restored, the Secret's live value is read again and held (Git's value unknown).
    again = find_captures(spec, [pair(desired, live, key)], previous=restart(found), guess=True)
    assert [c.value for c in again.captures] == ["c2VjcmV0LXZhbHVl"]


def test_malformed_held_entries_are_skipped() -> None:
    entries = ["x", {"kind": "Deployment"}, {"kind": 1, "name": "web", "pointer": "/a"}]
    good = {"group": "apps", "kind": "Deployment", "namespace": "team", "name": "web"}
    held = held_from_status([*entries, {**good, "pointer": "/spec/replicas", "gitDigest": 5}])
    assert [(h.key, h.pointer, h.git_digest) for h in held] == [(WEB, "/spec/replicas", None)]


def test_secret_fields_are_refused_unless_allowed_and_never_show_the_value() -> None:
    key = ResourceKey("", "Secret", "team", "db")
    rule = FieldRule(kinds=("Secret",), pointer=FieldPointer.parse("/data/password"))
    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"password": "b2xk"},
    }
    live = {**desired, "data": {"password": "c2VjcmV0LXZhbHVl"}}
    found = find_captures(CaptureSpec(fields=(rule,)), [pair(desired, live, key)])
    assert found.empty and len(found.refused) == 1
    assert "allowSecrets" in found.refused[0].message
    assert "c2VjcmV0LXZhbHVl" not in found.refused[0].message + found.refused[0].label
    allowed = find_captures(
        CaptureSpec(fields=(rule,), allow_secrets=True), [pair(desired, live, key)]
    )
    assert [c.value for c in allowed.captures] == ["c2VjcmV0LXZhbHVl"]


def configmap(name: str, labels: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "team",
            "labels": labels,
            "uid": "u-1",
            "resourceVersion": "9",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            **meta,
        },
        "data": {"a": "1"},
    }


def test_new_objects_match_every_label_untracked_and_are_cleaned() -> None:
    spec = CaptureSpec(new_objects=(("tether.dev/capture", "true"),))
    live = [
        configmap("b", {"tether.dev/capture": "true", "team": "x"}),
        configmap("a", {"tether.dev/capture": "true"}),
        configmap("no", {"tether.dev/capture": "false"}),
        configmap(
            "tracked", {"tether.dev/capture": "true"}, annotations={"tether.dev/tracking-id": "x"}
        ),
        configmap("owned", {"tether.dev/capture": "true"}, ownerReferences=[{"name": "o"}]),
    ]
    found, refused = find_new_objects(spec, live, "apps/web")
    assert refused == ()
    assert [n.obj["metadata"]["name"] for n in found] == ["a", "b"]
    assert {n.folder for n in found} == {"apps/web"}
    b = found[1].obj
    assert b["metadata"] == {"name": "b", "namespace": "team", "labels": {"team": "x"}}
    assert b["data"] == {"a": "1"}


def test_new_secrets_are_refused_unless_allowed() -> None:
    secret = {**configmap("s", {"c": "y"}), "kind": "Secret", "data": {"k": "dmFsdWU="}}
    found, refused = find_new_objects(CaptureSpec(new_objects=(("c", "y"),)), [secret], "")
    assert (
        found == ()
        and "Secret team/s" in refused[0].message
        and "dmFsdWU" not in refused[0].message
    )
    found, refused = find_new_objects(
        CaptureSpec(new_objects=(("c", "y"),), allow_secrets=True), [secret], ""
    )
    assert len(found) == 1 and refused == ()


def test_mask_keeps_the_live_values_and_leaves_the_input_alone() -> None:
    desired = deployment()
    found = find_captures(
        CaptureSpec(fields=(REPLICAS, IMAGE)), [pair(desired, deployment(5, "web:2"))]
    )
    masked = mask(desired, found.captures)
    assert masked["spec"]["replicas"] == 5
    assert masked["spec"]["template"]["spec"]["containers"][1]["image"] == "web:2"
    assert desired["spec"]["replicas"] == 3  # the render cache's copy is untouched


def test_plan_and_pending_labels() -> None:
    found = find_captures(CaptureSpec(fields=(REPLICAS,)), [pair(deployment(), deployment(5))])
    plan = edit_plan("apps/web", SourceKind.PLAIN, found, allow_secrets=False)
    assert plan.captures == found.captures and plan.app_path == "apps/web"
    assert pending_labels(plan.captures, ()) == ["apps/Deployment team/web /spec/replicas"]


def test_an_object_the_source_renders_is_not_new() -> None:
    spec = CaptureSpec(new_objects=(("c", "y"),))
    live = configmap("a", {"c": "y"})
    rendered = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]
    assert find_new_objects(spec, [live], "", rendered) == ((), ())
