"""The demo's dozen jobs: mixed fates, one missing id, one flaky, one slow, rows moving in the first minute."""

from __future__ import annotations

import pytest
from simtools import JOB_ID

from tui.api.errors import ApiError
from tui.api.models import JOB_FAILED, JOB_MODERATION_FAILED, JOB_SUCCESS, TERMINAL_STATUS_CODES
from tui.simulator.demo import seed_demo
from tui.simulator.service import Simulator

pytestmark = pytest.mark.anyio


def states(sim, pairs) -> dict[str, str]:
    return {job: sim.status_of(job) for job, _ in pairs if job in sim.jobs}


async def test_demo_creates_about_a_dozen_labelled_jobs(sim):
    pairs = await seed_demo(sim)
    assert 10 <= len(pairs) <= 14
    assert all(JOB_ID.match(job) and label.strip() for job, label in pairs)
    assert len({job for job, _ in pairs}) == len(pairs)


async def test_exactly_one_demo_id_does_not_exist(sim, make_client):
    pairs = await seed_demo(sim)
    missing = [job for job, _ in pairs if job not in sim.jobs]
    async with make_client() as client:
        with pytest.raises(ApiError) as caught:
            await client.describe_job(missing[0])
    assert len(missing) == 1
    assert caught.value.code == "FailedOperation.TaskNotExist"


async def test_most_demo_jobs_succeed_and_one_fails_each_way(sim, clock):
    pairs = await seed_demo(sim)
    clock.advance(600)
    final = list(states(sim, pairs).values())
    assert final.count(JOB_FAILED) == 1
    assert final.count(JOB_MODERATION_FAILED) == 1
    assert final.count(JOB_SUCCESS) == len(final) - 2


async def test_demo_rows_change_within_the_first_minute(sim, clock):
    pairs = await seed_demo(sim)
    at_start = states(sim, pairs)
    clock.advance(10)
    at_ten = states(sim, pairs)
    clock.advance(50)
    at_minute = states(sim, pairs)
    assert sum(at_start[job] != at_ten[job] for job in at_start) >= 3
    assert sum(at_minute[job] in TERMINAL_STATUS_CODES for job in at_minute) >= len(at_minute) // 2


async def test_one_demo_job_is_still_going_after_a_minute(sim, clock):
    pairs = await seed_demo(sim)
    clock.advance(60)
    assert [label for job, label in pairs if job in sim.jobs and sim.status_of(job) not in TERMINAL_STATUS_CODES]


async def test_one_demo_job_answers_inner_error_at_first(sim, make_client):
    pairs = await seed_demo(sim)
    flaky = [job for job, _ in pairs if job in sim.jobs and sim.jobs[job].inner_errors_left > 0]
    async with make_client() as client:
        with pytest.raises(ApiError) as caught:
            await client.describe_job(flaky[0])
    assert len(flaky) == 1
    assert caught.value.code == "FailedOperation.InnerError"


async def test_the_demo_is_the_same_for_the_same_seed(clock):
    first = await seed_demo(Simulator(seed=9, clock=clock))
    again = await seed_demo(Simulator(seed=9, clock=clock))
    assert first == again
