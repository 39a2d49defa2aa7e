"""`check --wait` and an id the service does not know yet: asked again for a grace, on a fake clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from tui.api.client import VclmClient
from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.errors import TASK_NOT_EXIST
from tui.api.models import DESCRIBE_ACTION, JOB_SUCCESS
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.headless.check import DEFAULT_NOT_FOUND_GRACE, Verdict, check_jobs
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
from tui.simulator.transport import SimulatorTransport

REAL_SECONDS = 20.0  # a hang guard only: the fake clock makes every wait instant


def _run(sim: Simulator, clock: FakeClock, job_ids: list[str], **options):
    client = VclmClient(Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test"), "ap-guangzhou",
                        "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=4, rng=random.Random(3)), transport=SimulatorTransport(sim),
                        clock=clock)

    async def go():
        async with client:
            return await asyncio.wait_for(check_jobs(client, job_ids, clock=clock, **options), REAL_SECONDS)

    return asyncio.run(go())


def _learnt_after(sim: Simulator, clock: FakeClock, seconds: float) -> str:
    """A finished job the service answers TaskNotExist for until `seconds` have passed on `clock`."""
    job_id = sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
    hidden = sim.jobs.pop(job_id)
    start, sleep = clock.monotonic(), clock.sleep

    async def sleep_then_learn(delay: float) -> None:
        await sleep(delay)
        if clock.monotonic() - start >= seconds:
            sim.jobs.setdefault(job_id, hidden)

    clock.sleep = sleep_then_learn  # type: ignore[method-assign]
    return job_id


def test_wait_asks_again_for_an_id_the_service_learns_about_within_the_grace():
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    job_id = _learnt_after(sim, clock, 20.0)
    result = _run(sim, clock, [job_id], wait=True)
    assert result.verdict == Verdict.SUCCESS
    assert result.records[0].status_code == JOB_SUCCESS and result.records[0].last_error is None


def test_wait_counts_an_id_still_unknown_after_the_grace_as_unqueryable():
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    start = clock.monotonic()
    result = _run(sim, clock, [sim.phantom_job_id()], wait=True)
    assert result.verdict == Verdict.UNQUERYABLE
    assert result.records[0].last_error.code == TASK_NOT_EXIST
    assert clock.monotonic() - start >= DEFAULT_NOT_FOUND_GRACE
    assert clock.monotonic() - start <= DEFAULT_NOT_FOUND_GRACE + 10.0, "settled at the first answer after it"
    asked = sim.stats.actions[DESCRIBE_ACTION]
    assert 4 <= asked <= 12, f"asked again with backoff, not hammered: {asked} queries"


@pytest.mark.parametrize(("grace", "learnt_after", "verdict"), [
    (0.0, 5.0, Verdict.UNQUERYABLE),  # no grace: the first TaskNotExist settles it, as before
    (10.0, 30.0, Verdict.UNQUERYABLE),
    (45.0, 30.0, Verdict.SUCCESS),
])
def test_the_grace_is_what_it_is_set_to(grace, learnt_after, verdict):
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    job_id = _learnt_after(sim, clock, learnt_after)
    assert _run(sim, clock, [job_id], wait=True, not_found_grace=grace).verdict == verdict


def test_without_wait_an_unknown_id_is_unqueryable_at_once():
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock)
    start = clock.monotonic()
    result = _run(sim, clock, [sim.phantom_job_id()], wait=False)
    assert result.verdict == Verdict.UNQUERYABLE
    assert sim.stats.actions[DESCRIBE_ACTION] == 1 and clock.monotonic() - start < 1.0


@pytest.mark.parametrize("value", ["-1", "inf", "soon"])
def test_a_bad_not_found_grace_is_a_usage_error(shell, value):
    result = shell("check", "--wait", "--not-found-grace", value, "0" * 32)
    assert result.code == 2 and "Traceback" not in result.stderr


def test_the_grace_can_be_set_in_the_config_file(sim, shell, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("not_found_grace = 0\n")
    phantom = sim.simulator.phantom_job_id()
    result = shell("check", "--config", str(config), "--endpoint", sim.url, "--wait", phantom)
    assert result.code == 3, result.stderr
    assert sim.describes() == 1, "a grace of 0 gives up at the first TaskNotExist"
