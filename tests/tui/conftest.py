"""Fixtures for the monitor's tests: a fixed clock, UTC, the seeded simulator, no user config."""

from __future__ import annotations

import time

import pytest
from tuikit import START

from tui.api.clock import FakeClock


@pytest.fixture(autouse=True)
def deterministic(monkeypatch, isolated_home):
    """UTC timestamps, a truecolour terminal, and the user's config never found (isolated_home: tests/conftest.py)."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_COLOR_SYSTEM", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")  # read by each App's console when it is built
    monkeypatch.setenv("COLORTERM", "truecolor")
    time.tzset()
    yield isolated_home
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def simulator(clock):
    from tui.simulator.service import Simulator

    return Simulator(seed=7, clock=clock)


@pytest.fixture
def watchlist(tmp_path):
    return tmp_path / "data" / "watchlist.toml"
