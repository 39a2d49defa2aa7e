"""`vclm-watch check --shared URL` as a process: two "machines" (HOMEs of their own, nothing shared
but the server's URL) share the answers through a real Valkey server; a server that is not there
costs nothing but the sharing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from valkeykit import free_port

from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Lifecycle, Simulator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim():
    simulator = Simulator(seed=7, lifecycle=Lifecycle(p_failed=0.0, p_moderation_failed=0.0))
    with run_in_thread(simulator) as server:
        yield simulator, server.base_url


def check(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`vclm-watch check` on a machine of its own: its HOME, config and data directories."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("min_interval = 30\n")  # a lease that outlasts the next command's start
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID, TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
               PYTHONPATH=str(REPO))  # fmt: skip
    return subprocess.run([sys.executable, "-m", "tui", "check", "--json", "--config", str(home / "config.toml"), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def rows(result) -> list[dict]:
    return [row for row in map(json.loads, result.stdout.splitlines()) if "Event" not in row]


def test_a_check_on_another_machine_takes_the_answer_through_the_server(sim, valkey, tmp_path):
    simulator, url = sim
    job = simulator.create_job(init_seconds=0.0, run_seconds=3600.0)
    first = check(tmp_path / "machine1", "--endpoint", url, "--shared", valkey.url, job)
    second = check(tmp_path / "machine2", "--endpoint", url, "--shared", valkey.url, job)
    assert (first.returncode, second.returncode) == (4, 4), (first.stderr, second.stderr)
    [one], [two] = rows(first), rows(second)
    assert (one["Source"], two["Source"]) == ("fetched", "shared")
    assert two["StatusCode"] == one["StatusCode"] == "JobRunning" and two["RequestId"] == one["RequestId"]
    assert 0 <= two["AgeSeconds"] < 30
    assert simulator.stats.asked[job.lower()] == 1


def test_solo_beside_a_shared_check_asks_for_itself(sim, valkey, tmp_path):
    simulator, url = sim
    job = simulator.create_job(init_seconds=0.0, run_seconds=3600.0)
    check(tmp_path / "machine1", "--endpoint", url, "--shared", valkey.url, job)
    [row] = rows(check(tmp_path / "machine2", "--endpoint", url, "--solo", job))
    assert row["Source"] == "fetched"
    assert simulator.stats.asked[job.lower()] == 2


def test_a_shared_server_that_is_not_there_costs_only_the_sharing(sim, tmp_path):
    simulator, url = sim
    job = simulator.create_job(init_seconds=0.0, run_seconds=3600.0)
    result = check(tmp_path / "machine1", "--endpoint", url, "--shared", f"redis://:hunter2@127.0.0.1:{free_port()}/0", job)
    assert result.returncode == 4, result.stderr
    [row] = rows(result)
    assert row["Source"] == "fetched" and row["StatusCode"] == "JobRunning"
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr + result.stdout
