"""Messages speak the reader's language: flags in the CLI, fields in the operator."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tether.cli as cli_module
from tether.cli import main
from tether.cli.messages import cli_message, one_line, sync_summary
from tether.cli.source import default_app_name
from tether.git.errors import InsecureURLError
from tether.git.urls import parse_url
from tether.identity import AppRef, SharedConflict
from tether.messages import join_limited


def test_an_insecure_url_says_the_flag_in_the_cli_and_the_field_elsewhere() -> None:
    with pytest.raises(InsecureURLError) as info:
        parse_url("git://127.0.0.1:9/x.git")
    assert "set insecure: true" in str(info.value)  # status, events: the API field
    cli = cli_message(info.value)
    assert "pass --insecure" in cli and "insecure: true" not in cli
    assert cli.endswith("(url=git://127.0.0.1:9/x.git)")


def test_cli_render_of_a_git_url_without_insecure_names_the_flag() -> None:
    result = CliRunner().invoke(main, ["render", "git://127.0.0.1:9/x.git"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "pass --insecure to allow it" in result.stderr


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], ""),
        (["a"], "a"),
        (list("abcde"), "a; b; c; d; e"),
        (list("abcdefg"), "a; b; c; d; e; and 2 more"),
    ],
)
def test_lists_say_how_many_were_left_out(items: list[str], expected: str) -> None:
    assert join_limited(items) == expected


def test_a_conflict_reads_as_words_not_a_repr() -> None:
    assert str(SharedConflict(AppRef("crds", "crds-gw"))) == "owned by app crds/crds-gw"


@pytest.mark.parametrize(
    ("succeeded", "counts", "expected"),
    [
        (True, {}, "sync succeeded: nothing to change"),
        (True, {"created": 2, "unchanged": 1}, "sync succeeded: 2 created, 1 unchanged"),
        (False, {}, "sync failed before changing anything"),
        (False, {"created": 1}, "sync failed after: 1 created"),
    ],
)
def test_sync_summary(succeeded: bool, counts: dict[str, int], expected: str) -> None:
    assert sync_summary(succeeded, counts) == expected


def test_one_line_folds_tool_output() -> None:
    assert one_line("helm failed:\n  line 1\n\n  line 2\n") == "helm failed: line 1 line 2"


@pytest.mark.parametrize(
    ("source", "path", "expected"),
    [
        ("https://git.example/org/Repo.git", "", "repo"),
        ("https://git.example/org/repo.git", "charts/web/", "web"),
        ("git@git.example:org/repo.git", "", "repo"),
    ],
)
def test_render_default_app_name_is_the_rendered_folder(
    source: str, path: str, expected: str
) -> None:
    assert default_app_name(source, path) == expected


def test_render_default_app_name_of_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "My-App"
    folder.mkdir()
    assert default_app_name(str(folder)) == "my-app"
    assert default_app_name(".", "") == Path.cwd().name.lower()


def test_a_single_markdown_file_is_refused_in_one_line(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nkey: value\n")
    result = CliRunner().invoke(main, ["render", str(readme)])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: README.md: not a manifest file: a single-file source must be "
        ".yaml, .yml, .json or .jsonnet\n"
    )


@click.command()
def boom() -> None:
    """A command with a bug."""
    raise RuntimeError("something\nunexpected")


def test_usage_errors_are_one_line_naming_the_help() -> None:
    result = CliRunner().invoke(main, ["crds", "extra"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: Got unexpected extra argument (extra) (see '")
    assert result.stderr.endswith(" crds --help')\n")


def test_a_bug_is_one_line_with_exit_3_and_the_traceback_only_on_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli_module._COMMANDS, "boom", (__name__, "boom"))
    monkeypatch.delenv("TETHER_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["boom"])
    assert result.exit_code == cli_module.EXIT_INTERNAL == 3
    assert result.stderr == "error: internal error: RuntimeError: something unexpected\n"
    monkeypatch.setenv("TETHER_DEBUG", "1")
    debug = CliRunner().invoke(main, ["boom"])
    assert isinstance(debug.exception, RuntimeError)
