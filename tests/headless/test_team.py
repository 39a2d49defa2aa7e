"""Team mode in the shell commands: `check` shares answers and the quota with the other vclm-watch
processes of the machine (the default), or not (`--solo`); `--shared` takes a Redis/Valkey URL."""

from __future__ import annotations

import json

import pytest

from tui.simulator.service import DEFAULT_SECRET_ID

MIN_INTERVAL = 2.0


def rows(result) -> list[dict]:
    return [row for row in map(json.loads, result.lines()) if "Event" not in row]


@pytest.fixture
def long_leases(isolated_home):
    """A config whose min_interval outlasts a slow start of the second command."""
    path = isolated_home / "leases.toml"
    path.write_text("min_interval = 30\n")
    return ["--config", str(path)]


def test_check_json_says_an_answer_it_asked_for_itself_is_fetched(sim, shell):
    job = sim.job(running=True)
    [row] = rows(shell("check", "--endpoint", sim.url, "--json", job))
    assert row["Source"] == "fetched"
    assert 0 <= row["AgeSeconds"] < 30


def test_a_second_check_takes_the_fresh_answer_of_the_first_without_a_request(sim, shell, long_leases):
    job = sim.job(running=True)
    [first] = rows(shell("check", "--endpoint", sim.url, "--json", *long_leases, job))
    [second] = rows(shell("check", "--endpoint", sim.url, "--json", *long_leases, job))
    assert sim.describes() == 1
    assert (first["Source"], second["Source"]) == ("fetched", "shared")
    assert second["StatusCode"] == first["StatusCode"] and second["RequestId"] == first["RequestId"]
    assert second["PolledAt"] == first["PolledAt"] and second["AgeSeconds"] >= first["AgeSeconds"]


def test_solo_shares_nothing(sim, shell, long_leases, isolated_home):
    job = sim.job(running=True)
    [first] = rows(shell("check", "--endpoint", sim.url, "--json", "--solo", *long_leases, job))
    [second] = rows(shell("check", "--endpoint", sim.url, "--json", *long_leases, "--solo", job))
    assert sim.describes() == 2
    assert first["Source"] == second["Source"] == "fetched"
    assert not list(isolated_home.rglob("team*.sqlite3"))


def test_solo_in_the_config_file_shares_nothing(sim, shell, isolated_home):
    config = isolated_home / "solo.toml"
    config.write_text("solo = true\nmin_interval = 30\n")
    job = sim.job(running=True)
    for _ in range(2):
        assert rows(shell("check", "--endpoint", sim.url, "--json", "--config", str(config), job))[0]["Source"] == "fetched"
    assert sim.describes() == 2


@pytest.mark.parametrize("where", ["option", "config"])
def test_a_shared_url_that_is_not_redis_is_refused_with_its_password_masked(sim, shell, isolated_home, where):
    url = "http://alice:hunter2@cache.example:6379/0"
    if where == "option":
        result = shell("check", "--endpoint", sim.url, "--shared", url, sim.job(running=True))
    else:
        config = isolated_home / "shared.toml"
        config.write_text(f'shared = "{url}"\n')
        result = shell("check", "--endpoint", sim.url, "--config", str(config), sim.job(running=True))
    assert result.code == 2
    assert "not a Redis or Valkey URL" in result.stderr and "***@cache.example:6379" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "alice" not in result.stderr
    assert sim.describes() == 0


def test_solo_and_shared_exclude_each_other(shell):
    result = shell("check", "--solo", "--shared", "redis://127.0.0.1:6379", "0" * 32)
    assert result.code == 2 and "not allowed with argument" in result.stderr


def test_two_check_waits_side_by_side_share_the_quota_and_the_polls(sim, cli):
    """Two real processes on one account and one machine (one HOME): at the simulator, never more
    than 20 requests in any sliding second, and no job asked more than once per min_interval."""
    jobs = [sim.job(running=True) for _ in range(50)]
    processes = [cli.start("check", "--endpoint", sim.url, "--wait", "--timeout", "8", "--json", *jobs) for _ in range(2)]
    results = [cli.finish(process, timeout=60) for process in processes]
    assert [result.code for result in results] == [4, 4], [result.stderr for result in results]  # still running
    stats = sim.simulator.stats
    arrivals = stats.arrivals[DEFAULT_SECRET_ID]
    run = arrivals[-1] - arrivals[0]
    assert stats.max_in_window(1.0) <= 20 and stats.rate_limited == 0
    assert max(stats.asked[job] for job in jobs) <= run / MIN_INTERVAL + 1, (sorted(stats.asked.values()), run)
    # every job's state is known to both; some of the answers one shows were fetched by the other
    final = [rows(result) for result in results]
    assert all(row["StatusCode"] == "JobRunning" for rows_ in final for row in rows_)
    assert all(any(row["Source"] == "shared" for row in rows_) for rows_ in final)
