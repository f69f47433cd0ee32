"""Events are masked and de-duplicated; the redactor masks registered values and URL userinfo."""

from __future__ import annotations

import logging

from tether.controller.events import EventRecorder, InvolvedObject, ListSink
from tether.controller.redact import RedactingFilter, Redactor

APP = InvolvedObject("tether.dev/v1alpha1", "Application", "ns", "web", "uid-1")


def test_redactor_masks_values_lines_and_userinfo() -> None:
    r = Redactor()
    r.add("s3cr3t-password", b"tok", None, "")
    key = "-----BEGIN KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END KEY-----"
    r.add(key)
    text = "auth failed for https://bob:s3cr3t-password@git.example/repo.git with tok; line AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    out = r.redact(text)
    assert "s3cr3t" not in out and "bob" not in out and "AAAAAAAA" not in out
    assert "tok" in out  # too short to mask safely: left alone
    assert "https://***@git.example" in out


async def test_recorder_masks_and_drops_repeats() -> None:
    r = Redactor()
    r.add("hunter2hunter2")
    clock = [0.0]
    sink = ListSink()
    rec = EventRecorder(sink, redactor=r, quiet_seconds=60, clock=lambda: clock[0])
    assert await rec.warning(APP, "SourceUnavailable", "login hunter2hunter2 refused")
    assert not await rec.warning(APP, "SourceUnavailable", "login hunter2hunter2 refused")
    clock[0] = 61
    assert await rec.warning(APP, "SourceUnavailable", "login hunter2hunter2 refused")
    assert len(sink.events) == 2
    event = sink.events[0]
    assert "hunter2" not in event["message"]
    assert event["involvedObject"] == {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "namespace": "ns",
        "name": "web",
        "uid": "uid-1",
    }
    assert event["type"] == "Warning" and event["reason"] == "SourceUnavailable"


async def test_a_failing_sink_does_not_raise() -> None:
    class Broken:
        async def create_event(self, namespace: str, event: dict) -> None:
            raise RuntimeError("api down")

    assert not await EventRecorder(Broken()).normal(APP, "SyncStarted", "x")


def test_logging_filter_masks_args_and_exceptions(caplog: object) -> None:
    r = Redactor()
    r.add("p4ssw0rd!!")
    logger = logging.getLogger("tether.test.redact")
    record = logger.makeRecord("x", logging.INFO, "f", 1, "using %s", ("p4ssw0rd!!",), None)
    RedactingFilter(r).filter(record)
    assert "p4ssw0rd" not in record.getMessage()
    try:
        raise ValueError("bad p4ssw0rd!!")
    except ValueError:
        import sys

        rec2 = logger.makeRecord("x", logging.ERROR, "f", 1, "boom", (), sys.exc_info())
    RedactingFilter(r).filter(rec2)
    assert rec2.exc_text and "p4ssw0rd" not in rec2.exc_text
