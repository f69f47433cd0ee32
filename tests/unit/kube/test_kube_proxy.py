"""The environment's proxy for the API server, as aiohttp's ``trust_env`` would pick it."""

from __future__ import annotations

import pytest

from tether.kube.proxy import env_proxy


def test_https_proxy_is_used_with_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.example:3128")
    found = env_proxy("https://api.example:6443")
    assert str(found["proxy"]) == "http://proxy.example:3128"
    assert found["proxy_auth"].login == "user"


def test_no_proxy_or_none_set_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.cluster.local")
    assert env_proxy("https://127.0.0.1:6443") == {}
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.example:6443") == {}
