"""`vclm-watch check` as a subprocess against the loopback simulator: verdicts, output forms, stdin, --wait."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from clikit import wait_for

from tui.api.models import JOB_FAILED, JOB_MODERATION_FAILED, JOB_SUCCESS
from tui.simulator.service import DEFAULT_SECRET_KEY

ROW_KEYS = ["JobId", "StatusCode", "StatusMsg", "ResultVideoUrl", "RequestId", "Error", "PolledAt", "Source", "AgeSeconds"]
MALFORMED = "not-a-job-id"


# -- exit statuses ------------------------------------------------------------------------------

# Each case: the jobs to check (a fate, "running", "phantom" for an id no job has, or a literal
# id), extra options, and the exit status documented in --help.
EXIT_CASES = [
    pytest.param([JOB_SUCCESS, JOB_SUCCESS], [], 0, id="all-success-0"),
    pytest.param([JOB_SUCCESS, JOB_FAILED], [], 1, id="one-failed-1"),
    pytest.param([JOB_MODERATION_FAILED, JOB_SUCCESS], [], 1, id="moderation-failed-1"),
    pytest.param([JOB_FAILED, "phantom", "running"], [], 1, id="failed-beats-unqueryable-and-pending-1"),
    pytest.param([JOB_SUCCESS, MALFORMED], [], 2, id="malformed-id-2"),
    pytest.param([JOB_SUCCESS], ["--rate", "25"], 2, id="rate-over-20-2"),
    pytest.param([JOB_SUCCESS], ["--no-such-option"], 2, id="bad-option-2"),
    pytest.param([JOB_SUCCESS], ["--wait", "--timeout", "-1"], 2, id="negative-timeout-2"),
    pytest.param([JOB_SUCCESS, "phantom"], [], 3, id="task-not-exist-3"),
    pytest.param(["phantom", "running"], [], 3, id="unqueryable-beats-pending-3"),
    pytest.param([JOB_SUCCESS, "running"], [], 4, id="still-running-4"),
    pytest.param(["running"], ["--wait", "--timeout", "0.5"], 4, id="wait-timeout-ran-out-4"),
]


def _ids(sim, kinds: list[str]) -> list[str]:
    out = []
    for kind in kinds:
        if kind == "phantom":
            out.append(sim.simulator.phantom_job_id())
        elif kind == "running":
            out.append(sim.job(running=True))
        elif kind == MALFORMED:
            out.append(MALFORMED)
        else:
            out.append(sim.job(kind))
    return out


@pytest.mark.parametrize(("kinds", "options", "expected"), EXIT_CASES)
def test_exit_status(sim, cli, kinds, options, expected):
    result = cli("check", "--endpoint", sim.url, *options, *_ids(sim, kinds))
    assert result.code == expected, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("options", [["--rate", "25"], ["--rate", "fast"], [], ["--endpoint", "http://example.com"],
                                     ["--endpoint", "127.0.0.1:38555"], ["--region", "bad region!"]])
def test_usage_errors_are_one_line_on_stderr_and_query_nothing(sim, shell, options):
    args = ["check", "--endpoint", sim.url, *options, sim.job(JOB_SUCCESS)]
    if not options:
        args.append("0123")  # a malformed id
    result = shell(*args)
    assert result.code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("vclm-watch check: error: ")
    assert sim.simulator.stats.requests == 0


def test_malformed_id_is_named_in_the_message(sim, shell):
    result = shell("check", "--endpoint", sim.url, sim.job(JOB_SUCCESS), "abc123")
    assert result.code == 2
    assert "'abc123'" in result.stderr and "32 hex characters" in result.stderr


def test_no_credentials_names_the_sources_tried_environment_first(sim, cli):
    result = cli("check", "--endpoint", sim.url, sim.job(JOB_SUCCESS), credentials=False)
    assert result.code == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "no Tencent Cloud credentials" in message
    sources = ["TENCENTCLOUD_SECRET_ID", ".tccli", ".tencentcloud/credentials"]
    positions = [message.find(source) for source in sources]
    assert all(p >= 0 for p in positions), message
    assert positions == sorted(positions), "the environment comes first, then tccli, then the SDK file"
    assert sim.simulator.stats.requests == 0


def test_common_options_may_come_before_the_command(sim, shell, isolated_home):
    result = shell("--endpoint", sim.url, "--rate", "10", "check", "--json", sim.job(JOB_SUCCESS))
    assert result.code == 0, result.stderr
    assert sim.describes() == 1


def test_without_wait_each_job_is_asked_about_exactly_once(sim, cli):
    ids = [sim.job(running=True) for _ in range(3)] + [sim.simulator.phantom_job_id()]
    result = cli("check", "--endpoint", sim.url, *ids)
    assert result.code == 3
    assert sim.describes() == len(ids)


def test_a_retryable_error_is_retried_inside_the_one_query(sim, cli):
    job = sim.job(JOB_SUCCESS, inner_errors=1)
    result = cli("check", "--endpoint", sim.url, "--json", job)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["StatusCode"] == JOB_SUCCESS
    assert sim.describes() == 2


def test_a_gateway_failing_every_attempt_makes_the_job_unqueryable(sim, cli):
    sim.simulator.faults.fail_next("http_502", 4)  # the client's four attempts
    result = cli("check", "--endpoint", sim.url, "--json", sim.job(JOB_SUCCESS))
    assert result.code == 3
    row = json.loads(result.stdout)
    assert row["StatusCode"] is None
    assert row["Error"]["Code"] == "Transport.http_status"
    assert row["Error"]["RequestId"] is None


def test_bad_credentials_stop_early_and_every_job_carries_the_error(sim, cli):
    ids = [sim.job(JOB_SUCCESS) for _ in range(30)]
    result = cli("check", "--endpoint", sim.url, "--json", *ids, env={"TENCENTCLOUD_SECRET_KEY": "wrong-key"})
    assert result.code == 3
    rows = [json.loads(line) for line in result.lines()]
    assert [row["JobId"] for row in rows] == ids
    assert {row["Error"]["Code"] for row in rows} == {"AuthFailure.SignatureFailure"}
    assert sim.describes() < len(ids), "the run stops at the first answer that says the credentials are wrong"
    assert "stopped early" in result.stderr


# -- output ---------------------------------------------------------------------------------------

def test_json_rows_use_the_api_field_names_and_parse_back(sim, cli):
    success, failed, phantom = sim.job(JOB_SUCCESS), sim.job(JOB_FAILED), sim.simulator.phantom_job_id()
    result = cli("check", "--endpoint", sim.url, "--json", success, failed, phantom)
    assert result.code == 1
    rows = [json.loads(line) for line in result.lines()]
    assert [list(row) for row in rows] == [ROW_KEYS] * 3
    by_id = {row["JobId"]: row for row in rows}
    assert [row["JobId"] for row in rows] == [success, failed, phantom]

    ok = by_id[success]
    assert ok["StatusCode"] == JOB_SUCCESS and ok["StatusMsg"] == "处理完成"
    assert ok["ResultVideoUrl"].startswith("https://") and success in ok["ResultVideoUrl"]
    assert ok["Error"] is None and len(ok["RequestId"]) == 36
    assert by_id[failed]["StatusCode"] == JOB_FAILED and by_id[failed]["ResultVideoUrl"] == ""

    missing = by_id[phantom]
    assert missing["StatusCode"] is None
    assert missing["Error"]["Code"] == "FailedOperation.TaskNotExist"
    assert missing["Error"]["RequestId"] == missing["RequestId"]
    for row in rows:
        polled = datetime.fromisoformat(row["PolledAt"])
        assert row["PolledAt"].endswith("Z") and polled.utcoffset() == UTC.utcoffset(None)


def test_piped_text_is_a_plain_table_in_the_order_given(sim, shell):
    ids = [sim.job(JOB_FAILED), sim.job(JOB_SUCCESS)]
    result = shell("check", "--endpoint", sim.url, *ids)
    lines = result.lines()
    assert lines[0].split() == ["JobId", "StatusCode", "StatusMsg", "RequestId", "Error", "ResultVideoUrl"]
    assert [line.split()[:2] for line in lines[1:]] == [[ids[0], JOB_FAILED], [ids[1], JOB_SUCCESS]]
    assert "\x1b[" not in result.stdout


def test_no_output_ever_carries_the_secret_key(sim, shell):
    result = shell("check", "--endpoint", sim.url, "--json", sim.job(JOB_SUCCESS), sim.simulator.phantom_job_id())
    assert DEFAULT_SECRET_KEY not in result.stdout + result.stderr


# -- ids from stdin -------------------------------------------------------------------------------

def test_dash_reads_ids_buried_in_free_text(sim, cli):
    first, second, third = sim.job(JOB_SUCCESS), sim.job(JOB_SUCCESS), sim.job(JOB_SUCCESS)
    text = (
        f"2025-11-25 10:00:01 INFO submitted job {first} (RequestId 6f1c2a4e-0b7d-4c1e-9a3b-2d4e5f607182)\n"
        f'{{"Response": {{"JobId": "{second.upper()}", "RequestId": "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"}}}}\n'
        f"commit {'ab' * 32} touched nothing; retry of {first}\n"
        f"job={third};status=queued\n"
    )
    result = cli("check", "--endpoint", sim.url, "--json", "-", stdin=text)
    assert result.code == 0, result.stderr
    assert [json.loads(line)["JobId"] for line in result.lines()] == [first, second, third]
    assert sim.describes() == 3


def test_dash_merges_with_ids_given_as_arguments(sim, shell):
    given, piped = sim.job(JOB_SUCCESS), sim.job(JOB_SUCCESS)
    result = shell("check", "--endpoint", sim.url, "--json", given, "-", stdin=f"see {piped} and {given}\n")
    assert result.code == 0
    assert [json.loads(line)["JobId"] for line in result.lines()] == [given, piped]


def test_dash_with_no_ids_in_the_text_is_a_usage_error(sim, shell):
    result = shell("check", "--endpoint", sim.url, "-", stdin="nothing to see here\n")
    assert result.code == 2
    assert "no job ids found on standard input" in result.stderr
    assert sim.simulator.stats.requests == 0


def test_near_miss_ids_on_stdin_are_reported_skipped_and_make_the_exit_status_2(sim, shell):
    job = sim.job(JOB_SUCCESS)
    result = shell("check", "--endpoint", sim.url, "--json", "-", stdin=f"{job}\ntruncated {job[:30]}\n")
    assert result.code == 2, "as for a malformed id given as an argument"
    assert "near-miss" in result.stderr and job[:30] in result.stderr
    assert "were not checked (exit status 2)" in result.stderr
    assert [json.loads(line)["JobId"] for line in result.lines()] == [job], "the well-formed ids are still checked"


# -- --wait ---------------------------------------------------------------------------------------

@pytest.fixture
def fast_polling(isolated_home):
    """A config that lets the engine re-poll an unfinished job every 0.1 s."""
    path = isolated_home / "fast.toml"
    path.write_text("min_interval = 0.1\n")
    return ["--config", str(path)]


def _step_lifecycle_on_each_poll(sim, job_id: str, process) -> None:
    """Hold the job in JobInit until it is first polled, then move it one state per poll: no race
    with the CLI's start-up time decides which states it sees."""
    simulator = sim.simulator
    wait_for(lambda: sim.describes() >= 1 or process.poll() is not None, what="the first poll")
    elapsed = simulator.sim_now() - simulator.jobs[job_id].created_at
    simulator.set_fate(job_id, init_seconds=elapsed)  # now JobRunning, for an hour
    seen = sim.describes()
    wait_for(lambda: sim.describes() > seen or process.poll() is not None, what="a poll that sees JobRunning")
    elapsed = simulator.sim_now() - simulator.jobs[job_id].created_at
    simulator.set_fate(job_id, run_seconds=elapsed - simulator.jobs[job_id].init_seconds)  # now finished


def test_wait_follows_a_full_lifecycle_printing_each_transition(sim, cli, fast_polling):
    job = sim.simulator.create_job(fate=JOB_SUCCESS, init_seconds=3600.0, run_seconds=3600.0)
    process = cli.start("check", "--endpoint", sim.url, "--json", "--wait", "--timeout", "20", *fast_polling, job)
    _step_lifecycle_on_each_poll(sim, job, process)
    result = cli.finish(process)
    assert result.code == 0, result.stderr
    objects = [json.loads(line) for line in result.lines()]
    events = [o for o in objects if o.get("Event") == "StateChanged"]
    rows = [o for o in objects if "Event" not in o]
    assert [(e["FromStatusCode"], e["StatusCode"]) for e in events] == [
        (None, "JobInit"), ("JobInit", "JobRunning"), ("JobRunning", JOB_SUCCESS)]
    assert all(e["JobId"] == job and e["At"].endswith("Z") for e in events)
    assert objects[-2] is rows[-1] and len(rows) == 1
    assert objects[-1]["Event"] == "Summary" and objects[-1]["Succeeded"] == 1  # (test_progress.py: its fields)
    assert list(rows[0]) == ROW_KEYS and rows[0]["StatusCode"] == JOB_SUCCESS and rows[0]["ResultVideoUrl"]


def test_wait_in_text_prints_one_line_per_transition_then_the_table(sim, cli, fast_polling):
    job = sim.simulator.create_job(fate=JOB_FAILED, init_seconds=3600.0, run_seconds=3600.0)
    process = cli.start("check", "--endpoint", sim.url, "--wait", "--timeout", "20", *fast_polling, job)
    _step_lifecycle_on_each_poll(sim, job, process)
    result = cli.finish(process)
    assert result.code == 1, result.stderr
    lines = result.lines()
    assert "pending -> JobInit" in lines[0] and job in lines[0]
    assert "JobInit -> JobRunning" in lines[1]
    assert "JobRunning -> JobFailed" in lines[2]
    assert lines[3].split()[0] == "JobId" and lines[4].split()[:2] == [job, JOB_FAILED]


def test_wait_ends_early_when_every_unfinished_job_is_refused_for_good(sim, cli, fast_polling):
    ids = [sim.job(JOB_SUCCESS), sim.simulator.phantom_job_id()]
    # an unknown id is refused for good once its grace (here half a second) is over
    result = cli("check", "--endpoint", sim.url, "--wait", "--timeout", "25", "--not-found-grace", "0.5",
                 *fast_polling, *ids, timeout=15)
    assert result.code == 3


def test_wait_timeout_reports_the_unfinished_jobs(sim, cli, fast_polling):
    result = cli("check", "--endpoint", sim.url, "--wait", "--timeout", "0.5", *fast_polling,
                 sim.job(JOB_SUCCESS), sim.job(running=True))
    assert result.code == 4
    assert "ran out with 1 job(s) unfinished" in result.stderr


def test_a_well_formed_region_the_service_does_not_serve_is_refused_by_it(sim, shell):
    result = shell("check", "--endpoint", sim.url, "--region", "xx-nowhere-1", sim.job(JOB_SUCCESS))
    assert result.code == 3
    assert "UnsupportedRegion" in result.stdout + result.stderr
