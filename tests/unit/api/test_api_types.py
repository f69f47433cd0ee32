"""Durations, timestamps and Git URL checks shared by the API models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from tether.api.types import Duration, Timestamp, parse_duration
from tether.api.urls import check_git_url, url_transport


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1m", 60),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2h45m10s", 9910),
        ("500ms", 0.5),
        ("1m30s500ms", 90.5),
        ("10us", 1e-5),
        ("0s", 0),
        ("90s", 90),
    ],
)
def test_parse_duration_accepts_go_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "5", "m", "1d", "-1m", "1 m", "1m ", "1M", "1.m", ".5m", "1h-5m", "5mins"]
)
def test_parse_duration_refuses_other_forms_and_says_how(text: str) -> None:
    with pytest.raises(ValueError, match=r"use a number and a unit \(h, m, s, ms\)"):
        parse_duration(text)


class _Holder(BaseModel):
    every: Duration
    at: Timestamp | None = None


def test_duration_field_keeps_text_and_refuses_zero() -> None:
    assert _Holder(every="1h30m").every == "1h30m"
    with pytest.raises(ValueError, match="longer than zero"):
        _Holder(every="0s")


def test_timestamp_serialises_as_utc_whole_seconds() -> None:
    east = timezone(timedelta(hours=2))
    at = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=east)
    dumped = _Holder(every="1m", at=at).model_dump(mode="json")
    assert dumped["at"] == "2024-05-01T12:00:00Z"
    naive = _Holder(every="1m", at=datetime(2024, 5, 1, 12, 0, 0)).model_dump(mode="json")
    assert naive["at"] == "2024-05-01T12:00:00Z"


def test_timestamp_reads_kubernetes_form() -> None:
    parsed = _Holder.model_validate({"every": "1m", "at": "2024-05-01T12:00:00Z"})
    assert parsed.at == datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("https://github.com/org/repo.git", "https"),
        ("HTTPS://github.com/org/repo", "https"),
        ("ssh://git@host:2222/org/repo.git", "ssh"),
        ("git@github.com:org/repo.git", "ssh"),
        ("host.example:org/repo", "ssh"),
        ("http://127.0.0.1:8080/repo.git", "http"),
        ("git://127.0.0.1/repo.git", "git"),
        ("file:///srv/git/repo.git", "file"),
        ("https://user@host/repo.git", "https"),
    ],
)
def test_url_transport(url: str, transport: str) -> None:
    assert url_transport(url) == transport


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://host/repo", "unsupported URL scheme 'ftp://'"),
        ("https://", "has no host"),
        ("https://user:hunter2@host/repo.git", "contains a password"),
        ("https://host/my repo.git", "whitespace"),
        ("just-a-word", "not a Git URL"),
        ("file://", "needs a path"),
        ("https://host/" + "a" * 3000, "longer than"),
    ],
)
def test_url_transport_errors_say_what_to_do(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        url_transport(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["http://h/r", "git://h/r", "file:///r"])
def test_insecure_transports_need_the_flag(url: str) -> None:
    with pytest.raises(ValueError, match="set insecure: true"):
        check_git_url(url, insecure=False)
    assert check_git_url(url, insecure=True) == url
