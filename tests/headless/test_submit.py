"""`vclm-watch submit`: a job through the monitor's client, its JobId printed, optionally watched."""

from __future__ import annotations

import json
import uuid

import pytest
from clikit import Sim

from tui.api.errors import ApiError, TransportError
from tui.core.watchlist import WatchlistStore
from tui.headless.submit import SubmitRetry
from tui.simulator.faults import Faults
from tui.simulator.server import run_in_thread
from tui.simulator.service import Simulator

VIDEO = "https://media.example.invalid/clip.mp4"
SUBMIT = "SubmitVideoStylizationJob"


@pytest.fixture
def watchlist(isolated_home):
    return isolated_home / "lists" / "watchlist.toml"


def test_submit_prints_the_new_job_id_and_sends_what_was_asked(cli, sim):
    result = cli("submit", "--endpoint", sim.url, "--style", "pixel_art", "--strength", "high", VIDEO)
    assert result.code == 0, result.stderr
    (job_id,) = result.lines()
    job = sim.simulator.jobs[job_id]
    assert (job.style_id, job.style_strength, job.video_url) == ("pixel_art", "high", VIDEO)


def test_submit_defaults_to_the_first_style_at_medium_strength(cli, sim):
    result = cli("--endpoint", sim.url, "submit", VIDEO)
    assert result.code == 0, result.stderr
    job = sim.simulator.jobs[result.stdout.strip()]
    assert (job.style_id, job.style_strength) == ("2d_anime", "medium")


def test_submit_json_prints_the_answer(cli, sim):
    result = cli("submit", "--json", "--endpoint", sim.url, VIDEO)
    assert result.code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"JobId", "RequestId"}
    assert answer["JobId"] in sim.simulator.jobs and uuid.UUID(answer["RequestId"]).version == 4


def test_submit_add_puts_the_job_on_the_watchlist_and_check_finds_it(cli, sim, watchlist):
    result = cli("submit", "--endpoint", sim.url, "--watchlist", str(watchlist), "--add", "--label", "first cut", VIDEO)
    assert result.code == 0, result.stderr
    (job_id,) = result.lines()  # stdout stays the JobId alone, for $(...)
    assert f"added {job_id}" in result.stderr and str(watchlist) in result.stderr
    assert [(r.job_id, r.label) for r in WatchlistStore(watchlist).load()] == [(job_id, "first cut")]
    checked = cli("check", "--json", "--endpoint", sim.url, job_id)
    assert json.loads(checked.stdout)["JobId"] == job_id and checked.code in (0, 4), checked.stderr


def test_submit_without_add_leaves_the_watchlist_alone(cli, sim, watchlist):
    assert cli("submit", "--endpoint", sim.url, "--watchlist", str(watchlist), VIDEO).code == 0
    assert not watchlist.exists()


def test_submit_add_refuses_a_watchlist_that_does_not_parse_before_submitting(cli, sim, watchlist):
    watchlist.parent.mkdir(parents=True)
    watchlist.write_text("[[jobs]\nbroken = ", encoding="utf-8")
    result = cli("submit", "--endpoint", sim.url, "--watchlist", str(watchlist), "--add", VIDEO)
    assert result.code == 2
    assert str(watchlist) in result.stderr and result.stdout == ""
    assert sim.simulator.stats.actions[SUBMIT] == 0 and not sim.simulator.jobs
    assert watchlist.read_text(encoding="utf-8") == "[[jobs]\nbroken = "


@pytest.mark.parametrize("argv", [
    ("not a url",), ("ftp://media.example.invalid/clip.mp4",), ("https://",),
    ("--style", "watercolour", VIDEO), ("--strength", "extreme", VIDEO), ("--label", "no add", VIDEO),
    ("--timeout", "0", VIDEO), (),
])
def test_submit_usage_errors_exit_2_and_submit_nothing(cli, sim, argv):
    result = cli("submit", "--endpoint", sim.url, *argv)
    assert result.code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sim.simulator.stats.actions[SUBMIT] == 0


def test_submit_without_credentials_exits_2(cli, sim):
    result = cli("submit", "--endpoint", sim.url, VIDEO, credentials=False)
    assert result.code == 2
    assert "TENCENTCLOUD_SECRET_ID" in result.stderr
    assert sim.simulator.stats.actions[SUBMIT] == 0


def test_submit_refused_by_the_api_exits_3_with_the_code_and_request_id(cli, sim):
    result = cli("submit", "--endpoint", sim.url, VIDEO, env={"TENCENTCLOUD_SECRET_KEY": "not-the-key"})
    assert result.code == 3
    assert "AuthFailure.SignatureFailure" in result.stderr and "RequestId" in result.stderr
    assert result.stdout == "" and not sim.simulator.jobs


def test_submit_after_a_transport_failure_exits_3_without_submitting_again(cli):
    simulator = Simulator(seed=7, faults=Faults(p_drop=1.0))
    with run_in_thread(simulator) as server:
        result = cli("submit", "--endpoint", Sim(simulator, server.base_url).url, VIDEO)
    assert result.code == 3
    assert "Transport.reset" in result.stderr and "may have been submitted" in result.stderr
    assert simulator.stats.actions[SUBMIT] == 1


def test_submit_retries_only_what_the_service_refused_for_now():
    policy = SubmitRetry()
    assert policy.should_retry(ApiError("RequestLimitExceeded", "slow down", "rid"), 1)
    assert policy.should_retry(ApiError("FailedOperation.InnerError", "", "rid"), 1)
    assert not policy.should_retry(ApiError("InvalidParameterValue.UrlIllegal", "", "rid"), 1)
    assert not policy.should_retry(TransportError("timeout", "no answer"), 1)
    assert not policy.should_retry(ApiError("RequestLimitExceeded", "slow down", "rid"), policy.attempts)
