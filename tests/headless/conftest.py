"""Fixtures for the shell commands: a loopback simulator in a thread, and the CLI as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clikit import Cli, InProcessCli, Sim

from tui.simulator.server import run_in_thread
from tui.simulator.service import Lifecycle, Simulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> Iterator[Sim]:
    """A simulator on a loopback port, jobs created through its Python API (fates forced)."""
    simulator = Simulator(seed=7, lifecycle=Lifecycle(p_failed=0.0, p_moderation_failed=0.0))
    with run_in_thread(simulator) as server:
        yield Sim(simulator, server.base_url)


@pytest.fixture
def cli(isolated_home) -> Cli:
    """`python -m tui ...` as a subprocess, in the isolated HOME, with the simulator's credentials."""
    return Cli()


@pytest.fixture
def shell(isolated_home) -> InProcessCli:
    """The same commands run in this process (fast), for tests about files and output."""
    return InProcessCli()
