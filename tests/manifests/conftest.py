"""Fixtures for tests that run the real helm, kustomize and kubectl binaries.

A missing binary fails the test (it never skips): run e2e/build-tools.sh or
put the tool on PATH.
"""

from __future__ import annotations

import pytest

from tether.tools import ToolNotFoundError, find_tool


def _require(name: str) -> str:
    try:
        return find_tool(name)
    except ToolNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def kubectl() -> str:
    return _require("kubectl")


@pytest.fixture(scope="session")
def helm() -> str:
    return _require("helm")


@pytest.fixture(scope="session")
def kustomize() -> str:
    return _require("kustomize")
