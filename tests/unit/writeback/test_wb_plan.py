"""apply_plan and describe: which file each source kind edits, refusals, re-runs at a new tip."""

from __future__ import annotations

from typing import Any

import pytest

from tether.identity import ResourceKey
from tether.manifests.documents import parse_file
from tether.manifests.objects import ObjectSource
from tether.writeback.edits import (
    Capture,
    EditPlan,
    NewObject,
    SourceKind,
    apply_plan,
    describe,
    refusal,
)
from tether.writeback.errors import (
    EditRefused,
    FieldMoved,
    InvalidPointer,
    SecretRefused,
    UnsupportedSource,
    WriteBackReason,
)
from tether.writeback.pointer import MISSING, FieldPointer

WEB = ResourceKey("apps", "Deployment", "demo", "web")
SECRET = ResourceKey("", "Secret", "demo", "creds")
IMAGE = FieldPointer.parse("/spec/template/spec/containers[name=web]/image")
REPLICAS = FieldPointer.parse("/spec/replicas")
SECRET_VALUE = "hunter2-very-secret"

DEPLOYMENT = b"""# the web app
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3   # scaled by hand sometimes
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: old-password
"""


def _repo(**extra: bytes) -> dict[str, bytes]:
    return {"apps/web/deploy.yaml": DEPLOYMENT, **extra}


def _plain(*captures: Capture, **kwargs: Any) -> EditPlan:
    return EditPlan("apps/web", SourceKind.PLAIN, captures, **kwargs)


def _capture(
    pointer: FieldPointer, value: Any, old: Any, doc: int = 0, key: ResourceKey = WEB
) -> Capture:
    return Capture(key, pointer, value, ObjectSource("apps/web/deploy.yaml", doc), git_value=old)


def _value(data: bytes, doc: int = 0) -> Any:
    return {d.index: d.value for d in parse_file(data, file="x")}[doc]


def test_plain_capture_edits_its_line_only() -> None:
    plan = _plain(_capture(REPLICAS, 5, 3))
    changed = apply_plan(plan, _repo().get)
    assert changed == {"apps/web/deploy.yaml": DEPLOYMENT.replace(b"replicas: 3 ", b"replicas: 5 ")}
    assert describe(plan) == "apps/Deployment demo/web /spec/replicas: 3 -> 5"


def test_two_captures_in_one_file_make_one_change() -> None:
    plan = _plain(_capture(REPLICAS, 5, 3), _capture(IMAGE, "nginx:1.26", "nginx:1.25"))
    changed = apply_plan(plan, _repo().get)
    expected = DEPLOYMENT.replace(b"replicas: 3 ", b"replicas: 5 ").replace(b"1.25", b"1.26")
    assert changed == {"apps/web/deploy.yaml": expected}
    assert describe(plan).splitlines() == [
        "apps/Deployment demo/web /spec/replicas: 3 -> 5",
        "apps/Deployment demo/web /spec/template/spec/containers[name=web]/image: nginx:1.25 -> nginx:1.26",
    ]


def test_unchanged_value_gives_no_files() -> None:
    assert apply_plan(_plain(_capture(REPLICAS, 3, 3)), _repo().get) == {}


def test_rerun_on_its_own_result_changes_nothing() -> None:
    plan = _plain(_capture(REPLICAS, 5, 3))
    first = apply_plan(plan, _repo().get)
    assert (
        apply_plan(plan, _repo(**{"apps/web/deploy.yaml": first["apps/web/deploy.yaml"]}).get) == {}
    )


def test_field_absent_in_git_is_inserted() -> None:
    plan = _plain(_capture(FieldPointer.parse("/spec/paused"), True, MISSING))
    changed = apply_plan(plan, _repo().get)["apps/web/deploy.yaml"]
    assert _value(changed)["spec"]["paused"] is True
    assert describe(plan) == "apps/Deployment demo/web /spec/paused: (unset) -> true"


def test_list_item_origin() -> None:
    data = b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n  spec: {replicas: 1}\n"
    capture = Capture(WEB, REPLICAS, 2, ObjectSource("l.yaml", 0, "items[0]"), git_value=1)
    changed = apply_plan(_plain(capture), {"l.yaml": data}.get)
    assert changed == {"l.yaml": data.replace(b"replicas: 1", b"replicas: 2")}


# --- re-run at a new tip: the field moved ----------------------------------------------


def test_file_gone_at_the_tip_is_field_moved() -> None:
    with pytest.raises(FieldMoved, match=r"apps/web/deploy\.yaml: the file is no longer") as caught:
        apply_plan(_plain(_capture(REPLICAS, 5, 3)), {}.get)
    assert caught.value.reason is WriteBackReason.FIELD_MOVED


def test_document_now_holding_another_object_is_field_moved() -> None:
    moved = DEPLOYMENT.replace(b"name: web", b"name: api")
    with pytest.raises(FieldMoved, match="apps/Deployment demo/web is no longer in this document"):
        apply_plan(_plain(_capture(REPLICAS, 5, 3)), _repo(**{"apps/web/deploy.yaml": moved}).get)


def test_document_gone_is_field_moved() -> None:
    with pytest.raises(FieldMoved, match=r"deploy\.yaml\[doc 4\]"):
        apply_plan(_plain(_capture(REPLICAS, 5, 3, doc=4)), _repo().get)


def test_key_removed_upstream_is_field_moved() -> None:
    gone = DEPLOYMENT.replace(b"  replicas: 3   # scaled by hand sometimes\n", b"")
    with pytest.raises(FieldMoved, match="/spec/replicas: the field is no longer in the file"):
        apply_plan(_plain(_capture(REPLICAS, 5, 3)), _repo(**{"apps/web/deploy.yaml": gone}).get)


def test_container_removed_upstream_is_field_moved() -> None:
    gone = DEPLOYMENT.replace(b"name: web\n        image", b"name: api\n        image")
    with pytest.raises(FieldMoved, match="list element"):
        apply_plan(
            _plain(_capture(IMAGE, "nginx:2", "nginx:1.25")),
            _repo(**{"apps/web/deploy.yaml": gone}).get,
        )


# --- refusals --------------------------------------------------------------------------


def test_secret_capture_is_refused_without_leaking_the_value() -> None:
    pointer = FieldPointer.parse("/stringData/password")
    plan = _plain(_capture(pointer, SECRET_VALUE, "old-password", doc=1, key=SECRET))
    with pytest.raises(SecretRefused) as caught:
        apply_plan(plan, _repo().get)
    assert caught.value.reason is WriteBackReason.SECRET_REFUSED
    assert "Secret demo/creds" in str(caught.value)
    assert SECRET_VALUE not in str(caught.value)
    assert SECRET_VALUE not in describe(plan) and "old-password" not in describe(plan)
    assert describe(plan) == "Secret demo/creds /stringData/password: Secret value changed"


def test_secret_capture_is_written_when_the_app_allows_it() -> None:
    pointer = FieldPointer.parse("/stringData/password")
    plan = _plain(
        _capture(pointer, SECRET_VALUE, "old-password", doc=1, key=SECRET), allow_secrets=True
    )
    changed = apply_plan(plan, _repo().get)["apps/web/deploy.yaml"]
    assert _value(changed, 1)["stringData"]["password"] == SECRET_VALUE
    assert SECRET_VALUE not in describe(plan)


def test_new_secret_object_is_refused_without_leaking() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "c2VjcmV0"},
    }
    plan = _plain(new_objects=(NewObject(secret, "apps/web"),))
    with pytest.raises(SecretRefused) as caught:
        apply_plan(plan, _repo().get)
    assert "c2VjcmV0" not in str(caught.value) and "c2VjcmV0" not in describe(plan)


def test_generated_name_is_unsupported() -> None:
    capture = Capture(
        WEB, REPLICAS, 5, ObjectSource("apps/web/deploy.yaml", 0), generated_name=True
    )
    with pytest.raises(UnsupportedSource, match="apps/Deployment demo/web: its name is generated"):
        apply_plan(_plain(capture), _repo().get)


def test_jsonnet_is_unsupported_and_names_the_object() -> None:
    capture = Capture(WEB, REPLICAS, 5, ObjectSource("apps/web/main.jsonnet", 0), git_value=3)
    with pytest.raises(
        UnsupportedSource, match=r"apps/Deployment demo/web \(apps/web/main\.jsonnet\)"
    ):
        apply_plan(_plain(capture), _repo().get)
    with pytest.raises(UnsupportedSource, match="Jsonnet"):
        apply_plan(EditPlan("apps/web", SourceKind.JSONNET, (capture,)), _repo().get)


def test_plain_capture_without_origin_is_unsupported() -> None:
    capture = Capture(WEB, REPLICAS, 5, None, git_value=3)
    with pytest.raises(UnsupportedSource, match="no source file"):
        apply_plan(_plain(capture), _repo().get)


# --- Helm ------------------------------------------------------------------------------

VALUES = b"""# chart values
image:
  repository: nginx
  tag: "1.25"   # bumped by CI
replicaCount: 2
"""


def _helm(*captures: Capture, value_files: tuple[str, ...] = ()) -> EditPlan:
    return EditPlan("charts/web", SourceKind.HELM, captures, value_files=value_files)


def test_helm_without_mapping_is_unsupported_and_names_the_object() -> None:
    capture = Capture(WEB, REPLICAS, 5, ObjectSource("charts/web/templates/d.yaml", 0))
    with pytest.raises(
        UnsupportedSource, match="apps/Deployment demo/web /spec/replicas: a Helm app"
    ):
        apply_plan(_helm(capture), {"charts/web/values.yaml": VALUES}.get)


def test_helm_image_tag_mapping_writes_the_tag_in_place() -> None:
    capture = Capture(
        WEB, IMAGE, "nginx:1.26", None, helm_value="image.tag", git_value="nginx:1.25"
    )
    changed = apply_plan(_helm(capture), {"charts/web/values.yaml": VALUES}.get)
    assert changed == {"charts/web/values.yaml": VALUES.replace(b'"1.25"', b'"1.26"')}
    assert "(Helm value image.tag)" in describe(_helm(capture))


def test_helm_first_value_file_and_missing_key() -> None:
    files = {"env/prod.yaml": b"replicaCount: 2\n", "env/other.yaml": b"replicaCount: 9\n"}
    capture = Capture(WEB, REPLICAS, 5, None, helm_value="autoscaling.minReplicas")
    plan = _helm(capture, value_files=("env/prod.yaml", "env/other.yaml"))
    changed = apply_plan(plan, files.get)
    assert changed == {"env/prod.yaml": b"replicaCount: 2\nautoscaling:\n  minReplicas: 5\n"}


def test_helm_mapping_that_is_not_a_key_path_is_invalid() -> None:
    capture = Capture(WEB, REPLICAS, 5, None, helm_value="list[0].x")
    with pytest.raises(InvalidPointer):
        apply_plan(_helm(capture), {"charts/web/values.yaml": VALUES}.get)


# --- new objects -----------------------------------------------------------------------

CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "Extra"},
    "data": {"a": "b"},
}


def test_new_object_becomes_a_file() -> None:
    plan = _plain(new_objects=(NewObject(CONFIGMAP, "apps/web"),))
    changed = apply_plan(plan, _repo().get)
    assert list(changed) == ["apps/web/configmap-extra.yaml"]
    assert _value(changed["apps/web/configmap-extra.yaml"]) == CONFIGMAP
    assert describe(plan) == "add ConfigMap Extra as apps/web/configmap-extra.yaml"


def test_new_object_never_overwrites_a_file() -> None:
    plan = _plain(new_objects=(NewObject(CONFIGMAP, "apps/web"),))
    with pytest.raises(EditRefused, match=r"apps/web/configmap-extra\.yaml: the file exists"):
        apply_plan(plan, _repo(**{"apps/web/configmap-extra.yaml": b"x: 1\n"}).get)


def test_new_object_in_a_kustomize_app_is_listed_in_resources() -> None:
    kustomization = b"resources:\n  - deploy.yaml  # the app\nnamePrefix: x-\n"
    plan = EditPlan("k", SourceKind.KUSTOMIZE, new_objects=(NewObject(CONFIGMAP, "k/extra"),))
    changed = apply_plan(plan, {"k/kustomization.yaml": kustomization}.get)
    assert changed["k/kustomization.yaml"] == (
        b"resources:\n  - deploy.yaml  # the app\n  - extra/configmap-extra.yaml\nnamePrefix: x-\n"
    )
    assert "k/extra/configmap-extra.yaml" in changed


def test_new_object_in_a_helm_app_is_unsupported() -> None:
    plan = _helm()
    plan = EditPlan("c", SourceKind.HELM, new_objects=(NewObject(CONFIGMAP, "c"),))
    with pytest.raises(UnsupportedSource, match="ConfigMap Extra"):
        apply_plan(plan, {}.get)


def test_value_file_paths_are_normalised_and_kept_in_the_repository() -> None:
    files = {"shared/values.yaml": b"replicaCount: 2\n"}
    capture = Capture(WEB, REPLICAS, 5, None, helm_value="replicaCount")
    plan = _helm(capture, value_files=("charts/web/../../shared/values.yaml",))
    assert apply_plan(plan, files.get) == {"shared/values.yaml": b"replicaCount: 5\n"}
    outside = _helm(capture, value_files=("charts/../../etc/values.yaml",))
    with pytest.raises(UnsupportedSource, match="outside the repository"):
        apply_plan(outside, files.get)


def test_new_object_at_the_repository_root() -> None:
    plan = EditPlan(".", SourceKind.PLAIN, new_objects=(NewObject(CONFIGMAP, "."),))
    assert list(apply_plan(plan, {}.get)) == ["configmap-extra.yaml"]


def test_refusal_sorts_captures_before_any_file_is_read() -> None:
    good = _capture(REPLICAS, 5, 3)
    secret = _capture(FieldPointer.parse("/data/x"), "v", "w", doc=1, key=SECRET)
    paused = Capture(WEB, FieldPointer.parse("/spec/paused"), True, None, git_value=False)
    assert refusal(_plain(good), good) is None
    assert isinstance(refusal(_plain(secret), secret), SecretRefused)
    assert refusal(_plain(secret, allow_secrets=True), secret) is None
    kustomize = EditPlan("k", SourceKind.KUSTOMIZE, (paused,))
    refused = refusal(kustomize, paused)
    assert refused is not None and refused.reason is WriteBackReason.UNSUPPORTED_SOURCE
    assert refusal(EditPlan("k", SourceKind.KUSTOMIZE), _capture(REPLICAS, 5, 3)) is None
    assert isinstance(refusal(_helm(), good), UnsupportedSource)
