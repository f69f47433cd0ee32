"""tether capture: flag parsing and bad input (exit 2, one line); the cluster part is e2e."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from tether.cli.capture import parse_field, parse_selector
from tether.identity import ResourceKey


def test_fields_with_and_without_a_group() -> None:
    rule = parse_field("apps/Deployment:/spec/template/spec/containers[name=web]/image")
    assert rule.group == "apps" and rule.kinds == ("Deployment",)
    assert str(rule.pointer) == "/spec/template/spec/containers[name=web]/image"
    any_group = parse_field("Deploy*,StatefulSet:/spec/replicas")
    assert any_group.matches(ResourceKey("apps", "StatefulSet", "ns", "db"))
    assert any_group.matches(ResourceKey("apps", "Deployment", "ns", "web"))
    core = parse_field("/ConfigMap:/data/a")
    assert core.group == "*"


@pytest.mark.parametrize("text", ["Deployment", ":/spec", "Deployment:spec/replicas", "D:/a[b"])
def test_bad_fields_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_field(text)


def test_selectors() -> None:
    assert parse_selector("b=2, a=1") == (("a", "1"), ("b", "2"))
    for bad in ("a", "a!=b", "=x"):
        with pytest.raises(click.BadParameter):
            parse_selector(bad)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    tether = str(Path(sys.executable).with_name("tether"))
    return subprocess.run([tether, "capture", *args], capture_output=True, text=True, check=False)


def test_nothing_to_capture_is_a_usage_error(tmp_path: Path) -> None:
    done = run(str(tmp_path), "--app", "web")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "--field or --new-objects" in done.stderr


def test_a_bad_field_is_exit_2_in_one_line(tmp_path: Path) -> None:
    done = run(str(tmp_path), "--app", "web", "--field", "Deployment")
    assert done.returncode == 2 and "[GROUP/]KIND:POINTER" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
