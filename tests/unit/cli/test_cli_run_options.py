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


def test_no_webhook_receiver_without_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from tether.cli.run import _webhook_config

    params = run.make_context("run", []).params
    assert params["webhook_port"] is None
    assert _webhook_config(None, "0.0.0.0", 1024, 5.0, 50.0) is None


def test_webhook_settings_and_a_secret_only_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tether.cli.run import _webhook_config
    from tether.controller.redact import REDACTOR
    from tether.webhook.ratelimit import Rate

    monkeypatch.setenv("TETHER_WEBHOOK_SECRET", "  from-the-env-0123\n")
    params = run.make_context(
        "run", ["--webhook-port=9292", "--webhook-max-body=2048", "--webhook-rate-limit=2"]
    ).params
    config = _webhook_config(
        params["webhook_port"],
        params["webhook_host"],
        params["webhook_max_body"],
        params["webhook_rate_limit"],
        params["webhook_global_rate_limit"],
    )
    assert config is not None
    assert (config.port, config.max_body) == (9292, 2048)
    assert config.per_source == Rate(2.0, 8) and config.overall == Rate(50.0, 100)
    assert config.global_secret == b"from-the-env-0123"
    assert "from-the-env" not in repr(config)
    assert REDACTOR.redact("x from-the-env-0123 y") == "x *** y"
    with pytest.raises(Exception, match=r"(?i)no such option"):
        run.make_context("run", ["--webhook-secret=x"])


def test_bad_credentials_are_one_line_and_exit_1(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "tether"),
            "run",
            "--kubeconfig",
            str(config),
            "--context",
            "nope",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 1
    # Logging is set up before the connect: an info line (a swept render folder) may come first.
    assert proc.stderr.splitlines()[-1] == f"error: kubeconfig {config}: no context named 'nope'"
    assert "Traceback" not in proc.stderr
