"""Repository: parsing, defaults and the errors a user sees."""

from __future__ import annotations

from typing import Any

import pytest

from tether.api import InvalidObjectError, Repository, RepositoryStatus, parse_repository


def repo(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "demo", "namespace": "team-a", "generation": 3},
        "spec": spec,
    }


def problems(obj: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidObjectError) as info:
        parse_repository(obj)
    assert info.value.kind == "Repository"
    return {p.path: p.message for p in info.value.problems}


def test_minimal_repository_gets_defaults() -> None:
    r = parse_repository(repo(url="https://git.example/org/app.git"))
    assert isinstance(r, Repository)
    assert r.spec.interval == "1m" and r.spec.interval_seconds == 60
    assert r.spec.timeout_seconds == 60
    assert r.spec.insecure is False
    assert r.spec.secret_ref is None and r.spec.depth is None
    assert r.metadata.generation == 3


def test_full_repository_round_trips_to_kubernetes_json() -> None:
    raw = repo(
        url="git@github.com:org/app.git",
        secretRef={"name": "git-creds"},
        interval="1h30m",
        timeout="20s",
        depth=5,
    )
    r = parse_repository(raw)
    assert r.spec.secret_ref is not None and r.spec.secret_ref.name == "git-creds"
    assert r.spec.interval_seconds == 5400
    assert r.spec.to_dict() == {**raw["spec"], "insecure": False, "type": "git"}


def test_missing_url_is_named() -> None:
    found = problems(repo(interval="1m"))
    assert found == {"spec.url": "is required"}


def test_missing_spec_is_named() -> None:
    obj = repo()
    del obj["spec"]
    assert problems(obj) == {"spec": "is required"}


def test_bad_interval_says_what_a_duration_is() -> None:
    found = problems(repo(url="https://h/r.git", interval="5 minutes"))
    assert list(found) == ["spec.interval"]
    assert "for example 30s, 5m or 1h30m" in found["spec.interval"]


@pytest.mark.parametrize("interval", ["1ns", "9s", "9999ms", "0.1m"])
def test_interval_has_a_ten_second_floor(interval: str) -> None:
    found = problems(repo(url="https://h/r.git", interval=interval))
    assert list(found) == ["spec.interval"]
    assert "must be at least 10s" in found["spec.interval"]


def test_interval_floor_is_inclusive_and_is_the_crd_rule() -> None:
    assert parse_repository(repo(url="https://h/r.git", interval="10000ms")).spec.interval_seconds
    schema = Repository.model_json_schema(by_alias=True)["$defs"]["RepositorySpec"]
    rules = schema["properties"]["interval"]["x-kubernetes-validations"]
    assert rules[0]["rule"] == "duration(self) >= duration('10s')"


def test_insecure_url_without_flag_tells_user_to_set_it() -> None:
    with pytest.raises(InvalidObjectError) as info:
        parse_repository(repo(url="git://127.0.0.1:9418/app.git"))
    text = str(info.value)
    assert text.startswith("Repository team-a/demo is invalid: spec: ")
    assert "set insecure: true" in text
    assert parse_repository(repo(url="git://127.0.0.1:9418/app.git", insecure=True)).spec.insecure


def test_password_in_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidObjectError) as info:
        parse_repository(repo(url="https://bob:s3cr3t-value@h/r.git"))
    assert "secretRef" in str(info.value)
    assert "s3cr3t-value" not in str(info.value)
    assert "s3cr3t-value" not in repr(info.value.problems)


def test_unknown_field_lists_the_known_ones() -> None:
    found = problems(repo(url="https://h/r.git", intreval="1m"))
    assert found["spec.intreval"].startswith(
        "unknown field; the fields here are type, url, secretRef,"
    )
    assert "interval" in found["spec.intreval"]


def test_several_problems_are_reported_together() -> None:
    found = problems(repo(url="https://h/r.git", timeout="fast", depth=0, insecure="maybe"))
    assert set(found) == {"spec.timeout", "spec.depth", "spec.insecure"}


def test_bad_secret_ref_name() -> None:
    found = problems(repo(url="https://h/r.git", secretRef={"name": "Bad_Name"}))
    assert found["spec.secretRef.name"].startswith("must be a DNS name")


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidObjectError, match="expected a Repository object, got list"):
        parse_repository([])  # type: ignore[arg-type]


def test_wrong_kind_is_refused() -> None:
    obj = repo(url="https://h/r.git")
    obj["kind"] = "Application"
    assert "kind" in problems(obj)


def test_status_reads_and_looks_up_revisions() -> None:
    status = RepositoryStatus.model_validate(
        {
            "observedGeneration": 2,
            "lastFetchTime": "2024-05-01T12:00:00Z",
            "revisions": [{"revision": "main", "resolved": "main@sha1:" + "a" * 40}],
            "somethingNewer": {"x": 1},
        }
    )
    assert status.resolved("main") == "main@sha1:" + "a" * 40
    assert status.resolved("dev") is None
    assert status.to_dict()["lastFetchTime"] == "2024-05-01T12:00:00Z"
    assert "somethingNewer" not in status.to_dict()


def test_models_are_immutable() -> None:
    r = parse_repository(repo(url="https://h/r.git"))
    with pytest.raises(ValueError):
        r.spec.url = "https://other/r.git"  # type: ignore[misc]
