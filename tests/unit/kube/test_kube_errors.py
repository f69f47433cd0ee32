"""API error mapping: status and reason pick the type; messages name object and cause."""

from __future__ import annotations

import json

import pytest

from tether.kube.errors import (
    AlreadyExists,
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    ObjectRef,
    Refusal,
    Unauthorized,
    Unavailable,
    from_response,
    parse_status,
    transport_error,
)

CM = ObjectRef("ConfigMap", "team-a", "settings")


def status(code: int, reason: str, message: str, **details: object) -> bytes:
    doc = {"kind": "Status", "status": "Failure", "code": code, "reason": reason}
    doc["message"] = message
    if details:
        doc["details"] = details
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (400, "BadRequest", BadRequest),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", Unavailable),
        (500, "InternalError", Unavailable),
        (503, "ServiceUnavailable", Unavailable),
        (418, "Teapot", KubeError),
    ],
)
def test_status_and_reason_choose_the_type(code: int, reason: str, expected: type) -> None:
    error = from_response(code, status(code, reason, "boom"), CM)
    assert type(error) is expected
    assert error.status == code and error.reason == reason


def test_already_exists_is_still_a_conflict() -> None:
    error = from_response(409, status(409, "AlreadyExists", "exists"), CM)
    assert isinstance(error, Conflict)


def test_message_names_the_object_the_server_reason_and_the_code() -> None:
    body = status(
        403,
        "Forbidden",
        'configmaps "settings" is forbidden: User "system:serviceaccount:team-a:weak" '
        'cannot patch resource "configmaps" in the namespace "team-a"',
    )
    text = str(from_response(403, body, CM))
    assert text.startswith("ConfigMap team-a/settings: ")
    assert "system:serviceaccount:team-a:weak" in text and "cannot patch" in text
    assert "(403 Forbidden)" in text


REFUSALS = [
    (
        'configmaps is forbidden: User "system:serviceaccount:tether-system:tether" cannot '
        'list resource "configmaps" in API group "" at the cluster scope',
        Refusal("system:serviceaccount:tether-system:tether", "list", "configmaps", ""),
        "forbidden: system:serviceaccount:tether-system:tether cannot list configmaps "
        "(the core API group) in all namespaces (403 Forbidden)",
    ),
    (
        'deployments.apps "web" is forbidden: User "system:serviceaccount:a:deployer" cannot '
        'patch resource "deployments" in API group "apps" in the namespace "a"',
        Refusal("system:serviceaccount:a:deployer", "patch", "deployments", "apps", "a"),
        "forbidden: system:serviceaccount:a:deployer cannot patch deployments "
        "(API group apps) in namespace a (403 Forbidden)",
    ),
    (
        'users "system:serviceaccount:a:x" is forbidden: User "system:serviceaccount:t:op" '
        'cannot impersonate resource "users" in API group "" at the cluster scope: '
        'RBAC: clusterrole.rbac.authorization.k8s.io "imp" not found',
        Refusal("system:serviceaccount:t:op", "impersonate", "users", ""),
        "forbidden: system:serviceaccount:t:op cannot impersonate users (the core API group) "
        'in all namespaces: RBAC: clusterrole.rbac.authorization.k8s.io "imp" not found '
        "(403 Forbidden)",
    ),
    ("a webhook said no", None, "a webhook said no (403 Forbidden)"),
]


@pytest.mark.parametrize(("message", "refusal", "text"), REFUSALS)
def test_a_403_names_who_was_refused_which_verb_on_what_and_where(
    message: str, refusal: Refusal | None, text: str
) -> None:
    error = from_response(403, status(403, "Forbidden", message))
    assert isinstance(error, Forbidden)
    assert error.refusal == refusal
    assert str(error) == text


def test_invalid_lists_field_causes_not_already_in_the_message() -> None:
    body = status(
        422,
        "Invalid",
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value',
        causes=[
            {"field": "metadata.name", "reason": "FieldValueInvalid", "message": "Invalid value"},
            {"field": "data.x", "reason": "FieldValueTooLong", "message": "too long"},
            "not a mapping",
        ],
    )
    error = from_response(422, body, ObjectRef("ConfigMap", "ns", "Bad_Name"))
    assert isinstance(error, Invalid)
    assert error.causes == (
        Cause("metadata.name", "FieldValueInvalid", "Invalid value"),
        Cause("data.x", "FieldValueTooLong", "too long"),
    )
    text = str(error)
    assert text.count("metadata.name") == 1  # already in the server message: not repeated
    assert text.endswith("; data.x: too long")


def test_cluster_scoped_target_has_no_namespace_slash() -> None:
    error = from_response(
        404, status(404, "NotFound", "not found"), ObjectRef("Namespace", "", "x")
    )
    assert str(error).startswith("Namespace x: not found")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "HTTP 502"),
        (None, "HTTP 502"),
        (b"<html>bad gateway</html>", "<html>bad gateway</html>"),
        (b"\xff\xfe not utf8", "\ufffd\ufffd not utf8"),
        (b"[1, 2]", "[1, 2]"),
        ("plain text\n", "plain text"),
    ],
)
def test_bodies_that_are_not_status_objects_still_give_a_message(
    body: bytes | str | None, message: str
) -> None:
    error = from_response(502, body, CM)
    assert isinstance(error, Unavailable)
    assert error.server_message == message


def test_parse_status_caps_huge_non_json_bodies() -> None:
    assert len(parse_status(b"x" * 10_000)["message"]) == 500


def test_transport_errors_are_unavailable_with_status_zero() -> None:
    error = transport_error(ConnectionResetError("reset by peer"), CM)
    assert isinstance(error, Unavailable) and error.status == 0
    assert str(error) == "ConfigMap team-a/settings: API server unreachable: reset by peer"
    assert "TimeoutError" in str(transport_error(TimeoutError()))


def test_object_ref_of_uses_generate_name_when_there_is_no_name() -> None:
    ref = ObjectRef.of({"kind": "Job", "metadata": {"generateName": "hook-", "namespace": "n"}})
    assert str(ref) == "Job n/hook-"
