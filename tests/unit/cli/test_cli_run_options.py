"""``tether run`` options that shape what the operator may read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cli.run import run


def test_file_urls_are_refused_unless_folders_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_ALLOW_FILE_URLS", raising=False)
    assert run.make_context("run", []).params["allow_file_urls"] == ()
    named = run.make_context("run", ["--allow-file-urls", "/srv/git", "--allow-file-urls=/mnt"])
    assert named.params["allow_file_urls"] == (Path("/srv/git"), Path("/mnt"))


def test_allowed_folders_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_ALLOW_FILE_URLS", "/srv/git:/mnt/repos")
    params = run.make_context("run", []).params
    assert params["allow_file_urls"] == (Path("/srv/git"), Path("/mnt/repos"))
