"""Fixtures every test gets: no user files, no real credentials, asyncio for async tests."""

from __future__ import annotations

import pytest

CREDENTIAL_ENV = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_TOKEN", "TENCENTCLOUD_REGION")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """A temporary HOME and XDG dirs, and none of the developer's cloud credentials."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    return home
