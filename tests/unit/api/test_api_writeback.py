"""spec.writeBack and status.writeBack: defaults, refusals, the message template."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tether.api.application import Application, ApplicationStatus
from tether.api.writeback import WriteBack, WriteBackStatus, render_message
from tether.appspec import spec_of
from tether.writeback.pointer import FieldPointer


def app(write_back: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {"source": {"repositoryRef": {"name": "repo"}}, "writeBack": write_back},
    }


REPLICAS = {"group": "apps", "kind": "Deployment", "pointer": "/spec/replicas"}


def test_defaults_and_spec() -> None:
    a = Application.model_validate(app({"capture": {"fields": [REPLICAS]}}))
    wb = a.spec.write_back
    assert wb is not None
    assert (wb.branch, wb.push_branch, wb.debounce_seconds) == (None, None, 10.0)
    assert wb.capture.allow_secrets is False
    spec = spec_of(a).write_back
    assert spec is not None
    assert spec.capture.fields[0].pointer == FieldPointer.parse("/spec/replicas")
    assert spec.capture.fields[0].kinds == ("Deployment",)
    assert spec.debounce == 10.0 and spec.author_name == "Tether"


def test_full_write_back_round_trips() -> None:
    raw = {
        "capture": {
            "fields": [
                {**REPLICAS, "name": "web-*"},
                {
                    "kind": "Deployment,StatefulSet",
                    "group": "apps",
                    "pointer": "/spec/template/spec/containers[name=web]/image",
                    "helmValue": "image.tag",
                },
            ],
            "newObjects": {"matchLabels": {"tether.dev/capture": "true"}},
            "allowSecrets": True,
        },
        "branch": "main",
        "pushBranch": "tether/review",
        "author": {"name": "Bot", "email": "bot@example.org"},
        "message": "{app} {changes}",
        "debounce": "0s",
    }
    wb = WriteBack.model_validate(raw)
    assert wb.to_dict() == raw
    spec = spec_of(Application.model_validate(app(raw))).write_back
    assert spec is not None
    assert spec.capture.fields[1].kinds == ("Deployment", "StatefulSet")
    assert spec.capture.new_objects == (("tether.dev/capture", "true"),)
    assert spec.debounce == 0.0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"capture": {}}, "capture at least one field"),
        (
            {"capture": {"fields": [{**REPLICAS, "pointer": "spec/replicas"}]}},
            "must start with '/'",
        ),
        ({"capture": {"fields": [{**REPLICAS, "pointer": "/spec/a[b"}]}}, "key[field=value]"),
        ({"capture": {"fields": [REPLICAS]}, "branch": "refs/tags/v1"}, "is not a branch"),
        ({"capture": {"fields": [REPLICAS]}, "branch": "a..b"}, "not a valid branch"),
        ({"capture": {"fields": [REPLICAS]}, "branch": "x", "pushBranch": "x"}, "must differ"),
        ({"capture": {"fields": [REPLICAS]}, "debounce": "2h"}, "at most 1h"),
        ({"capture": {"fields": [REPLICAS]}, "debounce": "soon"}, "not a duration"),
        ({"capture": {"newObjects": {"matchLabels": {}}}}, "at least one label"),
        ({"capture": {"newObjects": {"matchLabels": {"a b": "x"}}}}, "not a label key"),
        ({"capture": {"fields": [REPLICAS]}, "author": {"email": "nobody"}}, "pattern"),
        ({"capture": {"fields": [REPLICAS]}, "surprise": 1}, "Extra inputs are not permitted"),
        ({"capture": {"fields": [{**REPLICAS, "extra": 1}]}}, "Extra inputs are not permitted"),
    ],
)
def test_refusals_name_the_cause(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as info:
        WriteBack.model_validate(change)
    assert words in str(info.value)


def test_message_template_replaces_four_placeholders_once() -> None:
    text = render_message(
        "{app} in {namespace} at {revision}: {changes} {unknown} {app!r} {0}",
        app="web",
        namespace="team",
        changes="Deployment team/{app} /spec/replicas",
        revision="abc",
    )
    # A placeholder inside a value stays as written; format specs and others are text.
    assert text == "web in team at abc: Deployment team/{app} /spec/replicas {unknown} {app!r} {0}"


def test_status_write_back_round_trips_and_tolerates_unknown_fields() -> None:
    raw = {
        "lastCommit": "a" * 40,
        "lastPushTime": "2026-01-01T00:00:00Z",
        "branch": "main",
        "pending": ["apps/Deployment team/web /spec/replicas"],
        "held": [
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": "team",
                "name": "web",
                "pointer": "/spec/replicas",
                "gitDigest": "f" * 64,
            },
            {"group": "", "kind": "Secret", "namespace": "team", "name": "db", "pointer": "/a"},
        ],
    }
    assert WriteBackStatus.model_validate(raw).to_dict() == raw
    status = ApplicationStatus.model_validate({"writeBack": {**raw, "future": 1}})
    assert status.write_back is not None and status.write_back.branch == "main"
