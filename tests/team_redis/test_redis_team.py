"""RedisTeam on a real Valkey server: the shared window, leases, published answers, members, accounts."""

from __future__ import annotations

import asyncio

import pytest
from teamkit import busiest, drive, members
from valkeykit import TlsFront

from tui.api.clock import FakeClock
from tui.core.team import SharedAnswer
from tui.core.team_redis import FIRST_LATENESS, WARMUP_LATENESS, WARMUP_SECONDS, WARMUP_STARTS, RedisTeam, keep_newest, mask_url

pytestmark = pytest.mark.anyio

RUNNING = {"JobId": "vclm-job-1", "Status": "JobRunning", "RequestId": "r-1"}


def answer(job: str = "vclm-job-1", by: str = "", polled_at: float = 1_764_000_000.0, response: dict = RUNNING) -> SharedAnswer:
    return SharedAnswer(job, dict(response, JobId=job), polled_at=polled_at, latency=0.05, by=by)


async def test_the_window_counts_every_members_starts(valkey):
    async with members(valkey.url) as ((a, b), _):
        # 3 per 60 s, a pace of a microsecond: the third start, by either member, fills the window
        waits = [await team.gate.try_start(60.0, 3, 1e6) for team in (a, b, a, b)]
        assert waits[:3] == [0.0, 0.0, 0.0]
        # until the first start leaves the window (counted a little late: a's first start)
        assert 59.0 < waits[3] <= 60.0 + FIRST_LATENESS
        assert await a.gate.try_start(60.0, 3, 1e6) > 59.0


async def test_the_team_is_paced_at_the_rate_whoever_asks(valkey):
    async with members(valkey.url) as ((a, b), _):
        assert await a.gate.try_start(60.0, 100, 0.1) == 0.0
        wait = await b.gate.try_start(60.0, 100, 0.1)
        assert 9.0 < wait <= 10.0  # 1/rate after a's start


async def test_the_team_is_paced_on_a_grid_a_late_start_does_not_push_the_next_back(valkey):
    async with members(valkey.url) as ((a, b), _):
        assert await a.gate.try_start(60.0, 100, 1.0) == 0.0
        await asyncio.sleep(1.3)  # b asks 0.3 s after its slot (1 s after a's start)
        assert await b.gate.try_start(60.0, 100, 1.0) == 0.0
        first, second = a.server_starts[0], b.server_starts[0]
        assert 1_000_000 < second - first < 2_000_000
        wait = await a.gate.try_start(60.0, 100, 1.0)
        assert 0 < wait * 1e6 <= first + 2_000_000 - second  # due 2 s after the first start, not 1 s after the second


async def test_a_members_first_starts_count_a_little_later_in_the_window(valkey):
    clock = FakeClock()
    async with members(valkey.url, 1, clock=clock) as ((a,), _):
        for step in [0.001] * (WARMUP_STARTS + 2) + [WARMUP_SECONDS, 0.001, 0.001]:
            assert await a.gate.try_start(60.0, 100, 1e6) == 0.0
            clock.advance(step)
            await asyncio.sleep(0.001)
        with valkey.client() as admin:
            (window,) = [key for key in admin.scan_iter("*") if key.endswith(":window")]
            entries = admin.zrange(window, 0, -1, withscores=True)
    scores = [int(score) for _, score in sorted(entries, key=lambda entry: int(entry[0].rsplit(":", 1)[1]))]  # in the order given
    lateness = [score - start for score, start in zip(scores, a.server_starts)]
    # the very first the most (it opens the connection), then the first WARMUP_STARTS and all those
    # of the first WARMUP_SECONDS; none after
    assert lateness == [int(FIRST_LATENESS * 1e6)] + [int(WARMUP_LATENESS * 1e6)] * (WARMUP_STARTS + 2) + [0, 0]


async def test_two_members_never_put_more_than_20_in_a_second_at_the_servers_clock(valkey):
    async with members(valkey.url) as ((a, b), _):
        stop = asyncio.Event()
        starts: list[list[float]] = [[], []]
        tasks = [asyncio.create_task(drive(team, stop, into)) for team, into in zip((a, b), starts)]
        await asyncio.sleep(2.5)
        stop.set()
        await asyncio.gather(*tasks)
        at_server = list(a.server_starts) + list(b.server_starts)
        assert starts[0] and starts[1]  # both got their turns
        assert len(at_server) == len(starts[0]) + len(starts[1])
        assert busiest(at_server, window=1_000_000) <= 20
        # together they keep the pace of one limiter, not twice it
        assert len(at_server) <= 2.5 * 19 + 2


async def test_a_leased_job_is_not_polled_by_another_member(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock) as ((a, b), _):
        assert (await a.claim("vclm-job-1", 30.0)).granted
        refused = await b.claim("vclm-job-1", 30.0)
        assert not refused.granted and refused.answer is None
        assert clock.time() + 29 < refused.retry_at <= clock.time() + 30
        assert (await a.claim("vclm-job-1", 30.0)).granted  # the holder may ask again
        assert (await b.claim("vclm-job-2", 30.0)).granted  # other jobs are free


async def test_a_released_lease_frees_the_job(valkey):
    async with members(valkey.url) as ((a, b), _):
        await a.claim("vclm-job-1", 30.0)
        await a.release("vclm-job-1")
        assert (await b.claim("vclm-job-1", 30.0)).granted


async def test_leaving_releases_the_leases_still_held(valkey):
    async with members(valkey.url) as ((a, b), _):
        await a.claim("vclm-job-1", 30.0)
        await a.close()
        assert (await b.claim("vclm-job-1", 30.0)).granted


async def test_a_published_answer_reaches_the_other_member_and_wakes_it(valkey):
    async with members(valkey.url) as ((a, b), (_, b_woken)):
        await a.claim("vclm-job-1", 30.0)
        await a.publish(answer())
        await asyncio.wait_for(b_woken.wait(), 5)
        (got,) = b.drain()
        assert got.job_id == "vclm-job-1" and got.response == RUNNING and got.by == a.member
        assert b.drain() == []
        assert a.drain() == []  # its own answers are not handed back to it
        assert b.status().taken == 1


async def test_a_members_own_fresh_answer_does_not_refuse_its_claim(valkey):
    async with members(valkey.url) as ((a, b), _):
        await a.claim("vclm-job-1", 30.0)
        await a.publish(answer())
        assert (await a.claim("vclm-job-1", 30.0)).granted
        assert not (await b.claim("vclm-job-1", 30.0)).granted


async def test_a_claim_takes_the_fresh_answer_instead_of_a_poll(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock) as ((a, b), _):
        await a.claim("vclm-job-1", 30.0)
        await a.publish(answer())
        taken = await b.claim("vclm-job-1", 30.0)
        assert not taken.granted
        assert taken.answer is not None and taken.answer.response == RUNNING
        assert taken.answer.polled_at <= clock.time()
        assert clock.time() + 29 < taken.retry_at <= clock.time() + 30  # when the answer is no longer fresh
        assert b.status().taken == 1


async def test_an_answer_keeps_the_time_its_request_was_sent_not_the_time_it_came(valkey):
    clock = FakeClock()
    async with members(valkey.url, clock=clock) as ((a, b), (_, b_woken)):
        await a.publish(answer(polled_at=clock.time() - 3.0))  # asked 3 s ago (a slow poll)
        await asyncio.wait_for(b_woken.wait(), 5)
        (announced,) = b.drain()
        assert announced.polled_at == pytest.approx(clock.time() - 3.0, abs=1e-6)
        taken = await b.claim("vclm-job-1", 30.0)
        # (stored at the server's time less its age: as old again as the server's clock moved since)
        assert taken.answer is not None and clock.time() - 13.0 < taken.answer.polled_at <= clock.time() - 3.0


async def test_an_answer_asked_before_the_one_stored_is_neither_stored_nor_announced(valkey):
    # a's poll outlived its lease: b asked after a, and published first; a's older answer comes after
    clock = FakeClock()
    success = dict(RUNNING, Status="JobSuccess", RequestId="r-2")
    async with members(valkey.url, 3, clock=clock) as ((a, b, c), (_, _, c_woken)):
        await b.publish(answer(polled_at=clock.time() - 0.05, response=success))
        await a.publish(answer(polled_at=clock.time() - 5.0))
        await b.publish(answer("vclm-job-2", polled_at=clock.time()))  # (a mark: whatever was announced before it came first)
        drained: list[SharedAnswer] = []
        while "vclm-job-2" not in {got.job_id for got in drained}:
            await asyncio.wait_for(c_woken.wait(), 5)
            c_woken.clear()
            drained += c.drain()
        assert c.heard == 2  # b's two answers: a's was not announced
        assert [got.response for got in drained if got.job_id == "vclm-job-1"] == [success]
        taken = await c.claim("vclm-job-1", 30.0)
        assert taken.answer is not None and (taken.answer.response, taken.answer.by) == (success, b.member)
        # a newer answer is stored (and announced) over it
        await a.publish(answer(polled_at=clock.time() + 1.0))
        taken = await c.claim("vclm-job-1", 30.0)
        assert taken.answer is not None and (taken.answer.response, taken.answer.by) == (RUNNING, a.member)


def test_of_two_answers_to_one_job_waiting_in_the_inbox_the_later_asked_is_kept():
    inbox: dict[str, SharedAnswer] = {}
    newer, older = answer(polled_at=1_764_000_010.0, by="b"), answer(polled_at=1_764_000_000.0, by="a")
    keep_newest(inbox, newer)
    keep_newest(inbox, older)  # (came last: a slow poll's)
    assert list(inbox.values()) == [newer]
    keep_newest(inbox, newest := answer(polled_at=1_764_000_020.0, by="a"))
    assert list(inbox.values()) == [newest]


async def test_an_answer_older_than_min_interval_is_not_handed_back(valkey):
    async with members(valkey.url) as ((a, b), _):
        await a.claim("vclm-job-1", 0.001)
        await a.publish(answer())
        await asyncio.sleep(0.01)  # the lease and the answer's freshness are judged on the server's clock
        assert (await b.claim("vclm-job-1", 0.001)).granted


async def test_members_are_counted_and_a_member_that_left_is_not(valkey):
    async with members(valkey.url, 3) as ((a, b, c), _):
        assert a.status().members == 3
        await c.close()
        await a.check_now()
        assert a.status().members == 2
        assert a.status().mode == "shared" and a.status().problem is None


async def test_the_combined_rate_counts_every_members_starts(valkey):
    async with members(valkey.url) as ((a, b), _):
        for team in (a, b, a, b, a):
            assert await team.gate.try_start(1.0, 100, 1e6) == 0.0
            await asyncio.sleep(0.002)
        await b.check_now()
        assert b.status().combined_rate == pytest.approx(5 / 5.0)


async def test_two_accounts_never_see_each_others_quota_jobs_or_answers(valkey):
    async with (
        members(valkey.url, account="aaaaaaaaaaaaaaaa") as ((a1, a2), _),
        members(valkey.url, account="bbbbbbbbbbbbbbbb") as ((b1, b2), (b1_woken, _)),
    ):
        # each account gets its own full window
        assert [await t.gate.try_start(60.0, 2, 1e6) for t in (a1, a2)] == [0.0, 0.0]
        assert [await t.gate.try_start(60.0, 2, 1e6) for t in (b1, b2)] == [0.0, 0.0]
        assert await a1.gate.try_start(60.0, 2, 1e6) > 0
        # the same job id is leased per account
        assert (await a1.claim("vclm-job-1", 30.0)).granted
        assert (await b1.claim("vclm-job-1", 30.0)).granted
        await a1.publish(answer())
        await asyncio.sleep(0.2)
        assert not b1_woken.is_set() and b1.drain() == [] and b2.drain() == []
        assert b1.status().members == 2
    with valkey.client() as admin:
        prefixes = {key.split("}")[0] for key in admin.scan_iter("*")}
    assert prefixes <= {"vclm:{aaaaaaaaaaaaaaaa", "vclm:{bbbbbbbbbbbbbbbb"}


async def test_the_urls_database_number_is_used(valkey):
    url = valkey.url.rsplit("/", 1)[0] + "/3"
    async with members(url, 1) as ((a,), _):
        await a.publish(answer())
    with valkey.client() as db0, valkey.client(db=3) as db3:
        assert list(db0.scan_iter("*")) == []
        assert any(key.endswith(":answer:vclm-job-1") for key in db3.scan_iter("*"))


async def test_a_password_protected_server_is_joined_with_the_urls_password(valkey_with_password):
    async with members(valkey_with_password.url, 1) as ((a,), _):
        assert a.status().mode == "shared"
        assert await a.gate.try_start(1.0, 20, 19.0) == 0.0


async def test_a_wrong_password_is_a_fallback_that_names_no_password(valkey_with_password):
    url = valkey_with_password.url.replace("s3cret-Pa55word", "wrong-Pa55word")
    team = RedisTeam(url, "0123456789abcdef", clock=FakeClock())
    await team.start(lambda: None)
    try:
        status = team.status()
        assert status.mode == "fallback"
        assert "redis://:***@127.0.0.1" in status.problem
        assert "Pa55word" not in status.problem
    finally:
        await team.close()


@pytest.mark.parametrize(
    "url, shown",
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@cache:6379/1", "redis://:***@cache:6379/1"),
        ("rediss://team:hunter2@cache.example:6380", "rediss://team:***@cache.example:6380"),
        ("redis://cache/0?password=hunter2&db=2", "redis://cache/0?password=***&db=2"),
    ],
)
def test_the_url_is_shown_without_its_password(url, shown):
    assert mask_url(url) == shown


async def test_a_rediss_url_speaks_tls_to_the_server(valkey, tmp_path):
    try:
        front = TlsFront(tmp_path / "tls", valkey.port)
    except FileNotFoundError:
        pytest.skip("no openssl command to make a certificate with")
    with front:
        async with members(front.url(), 2) as ((a, b), (_, b_woken)):
            assert [a.status().mode, b.status().mode] == ["shared", "shared"]
            assert a.status().members == 2
            await a.publish(answer())
            await asyncio.wait_for(b_woken.wait(), 5)
            assert [got.job_id for got in b.drain()] == ["vclm-job-1"]
        # the same front refuses a client that does not trust its certificate: a fallback, not a crash
        untrusting = RedisTeam(f"rediss://127.0.0.1:{front.port}/0", "0123456789abcdef", clock=FakeClock())
        await untrusting.start(lambda: None)
        try:
            assert untrusting.status().mode == "fallback"
            assert "rediss://127.0.0.1" in untrusting.status().problem
        finally:
            await untrusting.close()


async def test_a_start_the_limiter_says_came_late_counts_that_much_later_in_the_window(valkey):
    clock = FakeClock()
    async with members(valkey.url, 1, clock=clock) as ((a,), _):
        for _ in range(WARMUP_STARTS):  # (past the first starts, which count late anyway)
            await a.gate.try_start(60.0, 100, 1e6)
            clock.advance(0.01)
        clock.advance(WARMUP_SECONDS)
        assert await a.gate.try_start(60.0, 100, 1e6) == 0.0
        at = clock.monotonic()
        clock.advance(0.01)
        assert await a.gate.try_start(60.0, 100, 1e6) == 0.0
        a.moved(at, 0.25)
        await asyncio.sleep(0.05)
        with valkey.client() as admin:
            (window,) = [key for key in admin.scan_iter("*") if key.endswith(":window")]
            scores = dict(admin.zrange(window, 0, -1, withscores=True))
    moved, after = scores[f"m0:{WARMUP_STARTS + 1}"], scores[f"m0:{WARMUP_STARTS + 2}"]
    assert moved - a.server_starts[WARMUP_STARTS] == 250_000
    assert after == a.server_starts[WARMUP_STARTS + 1]  # the next start stays where it was


def test_before_it_has_joined_a_member_reports_nothing_wrong():
    team = RedisTeam("redis://127.0.0.1:1/0", "0123456789abcdef", clock=FakeClock())
    status = team.status()
    assert (status.mode, status.problem, status.members) == ("shared", None, 1)
