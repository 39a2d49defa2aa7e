"""Jobs live JobInit -> JobRunning -> a terminal state on the injected clock, deterministically."""

from __future__ import annotations

import re

import pytest
from simtools import JOB_ID, VIDEO_URL, sample

from tui.api.clock import FakeClock
from tui.api.errors import ApiError
from tui.api.models import (
    JOB_FAILED,
    JOB_INIT,
    JOB_MODERATION_FAILED,
    JOB_RUNNING,
    JOB_SUCCESS,
    RESULT_URL_VALIDITY_SECONDS,
)
from tui.simulator.service import Lifecycle, Simulator

pytestmark = pytest.mark.anyio

RESULT_URL = re.compile(r"^https://[^/]+\.example\.invalid/.+/(?P<job>[0-9a-f]{32})\.mp4\?sign=[0-9a-f]+&t=(?P<t>\d+)$")


async def test_new_job_is_in_JobInit(sim, make_client):
    job = sim.create_job(init_seconds=2, run_seconds=10)
    async with make_client() as client:
        status = await client.describe_job(job)
    assert (status.status_code, status.status_msg, status.result_video_url) == (JOB_INIT, "初始化中", "")


async def test_job_runs_after_init_and_succeeds_after_running(sim, clock, make_client):
    job = sim.create_job(fate=JOB_SUCCESS, init_seconds=2, run_seconds=10)
    seen = []
    async with make_client() as client:
        for step in (0.0, 1.9, 0.2, 9.7, 0.2):
            clock.advance(step)
            seen.append((await client.describe_job(job)).status_code)
    assert seen == [JOB_INIT, JOB_INIT, JOB_RUNNING, JOB_RUNNING, JOB_SUCCESS]


async def test_successful_job_carries_a_result_url_valid_for_24_hours(sim, clock, make_client):
    job = sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
    async with make_client() as client:
        status = await client.describe_job(job)
    match = RESULT_URL.match(status.result_video_url)
    assert match and match["job"] == job
    assert int(match["t"]) == int(clock.time()) + RESULT_URL_VALIDITY_SECONDS


async def test_querying_again_later_gives_a_fresh_result_url(sim, clock, make_client):
    job = sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
    async with make_client() as client:
        first = await client.describe_job(job)
        clock.advance(60)
        second = await client.describe_job(job)
    assert first.result_video_url != second.result_video_url


async def test_failed_job_ends_JobFailed_after_running_without_url(sim, clock, make_client):
    job = sim.create_job(fate=JOB_FAILED, init_seconds=1, run_seconds=5)
    async with make_client() as client:
        clock.advance(3)
        during = await client.describe_job(job)
        clock.advance(3)
        after = await client.describe_job(job)
    assert during.status_code == JOB_RUNNING
    assert (after.status_code, after.status_msg, after.result_video_url) == (JOB_FAILED, "处理失败", "")


async def test_moderation_failure_comes_straight_from_JobInit(sim, clock, make_client):
    job = sim.create_job(fate=JOB_MODERATION_FAILED, init_seconds=2, run_seconds=30)
    async with make_client() as client:
        clock.advance(1)
        before = await client.describe_job(job)
        clock.advance(1.5)
        after = await client.describe_job(job)
    assert before.status_code == JOB_INIT
    assert (after.status_code, after.status_msg) == (JOB_MODERATION_FAILED, "审核失败")


@pytest.mark.parametrize(
    ("fate", "at", "sample_name"),
    [
        (JOB_SUCCESS, 0.5, "describe-init.json"),
        (JOB_SUCCESS, 5.0, "describe-running.json"),
        (JOB_SUCCESS, 50.0, "describe-success.json"),
        (JOB_FAILED, 50.0, "describe-failed.json"),
        (JOB_MODERATION_FAILED, 50.0, "describe-moderation-failed.json"),
    ],
)
async def test_describe_answer_has_the_documented_shape(sim, clock, raw_call, fate, at, sample_name):
    expected = sample(sample_name)["Response"]
    job = sim.create_job(fate=fate, init_seconds=1, run_seconds=10)
    clock.advance(at)
    response = await raw_call({"JobId": job})
    assert list(response) == list(expected)  # same keys, same order
    assert (response["StatusCode"], response["StatusMsg"]) == (expected["StatusCode"], expected["StatusMsg"])
    assert bool(response["ResultVideoUrl"]) == bool(expected["ResultVideoUrl"])


@pytest.mark.parametrize("speed", [1.0, 10.0, 200.0])
async def test_speed_runs_the_lifecycle_that_many_times_faster(clock, make_client, speed):
    sim = Simulator(seed=1, clock=clock, speed=speed)
    job = sim.create_job(fate=JOB_SUCCESS, init_seconds=2, run_seconds=10)
    async with make_client(simulator=sim) as client:
        clock.advance(11.9 / speed)
        before = await client.describe_job(job)
        clock.advance(0.2 / speed)
        after = await client.describe_job(job)
    assert (before.status_code, after.status_code) == (JOB_RUNNING, JOB_SUCCESS)


def test_drawn_durations_stay_within_the_configured_ranges(clock):
    sim = Simulator(seed=4, clock=clock, lifecycle=Lifecycle(init_seconds=(1, 3), run_seconds=(10, 40)))
    jobs = [sim.jobs[sim.create_job()] for _ in range(200)]
    assert all(1 <= job.init_seconds <= 3 and 10 <= job.run_seconds <= 40 for job in jobs)
    assert len({round(job.run_seconds, 6) for job in jobs}) > 100  # drawn, not fixed


@pytest.mark.parametrize(
    ("lifecycle", "fate"),
    [
        (Lifecycle(p_failed=0.0, p_moderation_failed=0.0), JOB_SUCCESS),
        (Lifecycle(p_failed=1.0, p_moderation_failed=0.0), JOB_FAILED),
        (Lifecycle(p_failed=0.0, p_moderation_failed=1.0), JOB_MODERATION_FAILED),
    ],
)
def test_fate_probabilities_are_configurable(clock, lifecycle, fate):
    sim = Simulator(seed=2, clock=clock, lifecycle=lifecycle)
    fates = {sim.jobs[sim.create_job()].fate for _ in range(50)}
    assert fates == {fate}


def test_mixed_fate_probabilities_give_each_fate_about_its_share(clock):
    sim = Simulator(seed=3, clock=clock, lifecycle=Lifecycle(p_failed=0.2, p_moderation_failed=0.1))
    fates = [sim.jobs[sim.create_job()].fate for _ in range(2000)]
    assert 0.15 < fates.count(JOB_FAILED) / 2000 < 0.25
    assert 0.06 < fates.count(JOB_MODERATION_FAILED) / 2000 < 0.14


async def test_a_seed_and_a_clock_give_the_same_run(make_client):
    async def run(seed):
        clock = FakeClock()
        sim = Simulator(seed=seed, clock=clock)
        jobs = [sim.create_job() for _ in range(5)]
        answers = []
        async with make_client(simulator=sim, client_clock=clock) as client:
            for _ in range(4):
                clock.advance(9)
                for job in jobs:
                    status = await client.describe_job(job)
                    answers.append((status.job_id, status.status_code, status.result_video_url, status.request_id))
        return answers

    first, again, other = await run(11), await run(11), await run(12)
    assert first == again
    assert first != other


def test_job_rank_not_traffic_decides_a_jobs_fate(clock):
    quiet, busy = Simulator(seed=5, clock=clock), Simulator(seed=5, clock=clock)
    busy.phantom_job_id()  # draws from the id stream, as traffic would from others
    assert [quiet.jobs[quiet.create_job()].fate for _ in range(30)] == [busy.jobs[busy.create_job()].fate for _ in range(30)]


def test_job_ids_are_32_lowercase_hex_and_distinct(sim):
    ids = [sim.create_job() for _ in range(500)]
    assert all(JOB_ID.match(job_id) for job_id in ids)
    assert len(set(ids)) == 500


async def test_set_fate_changes_how_an_existing_job_ends(sim, clock, make_client):
    job = sim.create_job(fate=JOB_SUCCESS, init_seconds=1, run_seconds=5)
    sim.set_fate(job, JOB_FAILED, run_seconds=20)
    clock.advance(10)
    async with make_client() as client:
        during = await client.describe_job(job)
        clock.advance(15)
        after = await client.describe_job(job)
    assert (during.status_code, after.status_code) == (JOB_RUNNING, JOB_FAILED)


def test_set_fate_rejects_a_state_that_is_not_an_end(sim):
    with pytest.raises(ValueError):
        sim.set_fate(sim.create_job(), JOB_RUNNING)


async def test_inner_errors_answer_the_first_n_queries_of_a_job(sim, make_client):
    job = sim.create_job(inner_errors=2, init_seconds=10)
    codes = []
    async with make_client() as client:
        for _ in range(3):
            try:
                codes.append((await client.describe_job(job)).status_code)
            except ApiError as error:
                codes.append(error.code)
    assert codes == ["FailedOperation.InnerError", "FailedOperation.InnerError", JOB_INIT]


async def test_submitted_job_can_be_followed_to_a_terminal_state(sim, clock, make_client):
    async with make_client() as client:
        submitted = await client.submit_job("3d_china", VIDEO_URL, "high")
        seen = []
        while not seen or seen[-1] not in (JOB_SUCCESS, JOB_FAILED, JOB_MODERATION_FAILED):
            seen.append((await client.describe_job(submitted.job_id)).status_code)
            clock.advance(1.0)
    assert seen[0] == JOB_INIT
    assert len(seen) < 50  # at most 3 + 40 simulated seconds
    assert sim.jobs[submitted.job_id].style_id == "3d_china"


def test_create_job_rejects_an_unknown_style(sim):
    with pytest.raises(ValueError):
        sim.create_job("watercolor")
