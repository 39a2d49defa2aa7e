"""Fixtures for the shared team's tests: a real Valkey server per test, started and stopped here."""

from __future__ import annotations

import pytest
from valkeykit import ValkeyProcess


@pytest.fixture
def valkey(tmp_path):
    server = ValkeyProcess(tmp_path / "valkey")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def valkey_with_password(tmp_path):
    server = ValkeyProcess(tmp_path / "valkey", password="s3cret-Pa55word")
    server.start()
    yield server
    server.stop()
