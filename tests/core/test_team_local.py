"""Team mode on one machine: pollers sharing one SQLite team file share the quota, the polls and the answers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import httpx
import pytest
from simkit import SIM_CREDENTIALS, make_client, make_sim

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.ratelimit import RateLimiter
from tui.core.engine import Poller
from tui.core.events import JobUpdated, StateChanged
from tui.core.team import SharedAnswer, account_key
from tui.core.team_local import FILE_NAME, MEMBER_SEEN_SECONDS, RETRY_SECONDS, SCHEMA_VERSION, LocalTeam
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

ACCOUNT = account_key("http://127.0.0.1:9", SIM_CREDENTIALS.secret_id)


class AskLog(httpx.AsyncBaseTransport):
    """The simulator transport, noting when each Describe request reached it and about which job."""

    def __init__(self, sim, clock: FakeClock) -> None:
        self.inner, self.clock = SimulatorTransport(sim), clock
        self.asks: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if "JobId" in body:
            self.asks.append((self.clock.monotonic(), body["JobId"]))
        return await self.inner.handle_async_request(request)


def local_team(path, clock, member: str, account: str = ACCOUNT) -> LocalTeam:
    return LocalTeam(path, account, clock=clock, member=member)


async def warmed_up(team: LocalTeam, clock: FakeClock) -> None:
    """The member's first start (which stays longer in the window) made, and out of the window."""
    assert await team.try_start(1.05, 20, 20.0) == 0.0
    clock.advance(2.0)


async def run_together(pollers: list[Poller], clock: FakeClock, seconds: float) -> None:
    deadline = clock.monotonic() + seconds
    await asyncio.gather(*(poller.run(deadline=deadline) for poller in pollers))


async def test_two_pollers_on_one_team_file_poll_each_job_once_per_min_interval_and_both_show_it(tmp_path):
    clock = FakeClock()
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(6)]
    log = AskLog(sim, clock)
    teams = [local_team(tmp_path / "team.sqlite3", clock, member) for member in ("a", "b")]
    clients = [make_client(sim, clock, transport=log) for _ in teams]
    pollers = [Poller(client, clock=clock, min_interval=2.0, team=team) for client, team in zip(clients, teams, strict=True)]
    for poller in pollers:
        for job in jobs:
            poller.add(job)
    async with clients[0], clients[1]:
        start = clock.monotonic()
        await run_together(pollers, clock, 20.0)
        run = clock.monotonic() - start
    for team in teams:
        await team.close()
    for job in jobs:
        asked = sum(1 for _at, asked_about in log.asks if asked_about == job)
        assert 1 <= asked <= run / 2.0 + 1, (job, asked, run)
    # every job's state is known to both, each answer fetched by one of them and taken by the other
    assert all(poller.records[job].status_code == "JobRunning" for poller in pollers for job in jobs)
    taken = [record for poller in pollers for record in poller.records.values() if record.shared_from is not None]
    assert taken
    assert {record.shared_from for record in pollers[0].records.values()} <= {"b", None}
    assert {record.shared_from for record in pollers[1].records.values()} <= {"a", None}
    assert sum(p.records[j].poll_count for p in pollers for j in jobs) == len(log.asks)
    assert sim.stats.max_in_window(1.0) <= 20


async def test_without_a_team_the_same_two_pollers_each_poll_every_job():
    # (the baseline the test above is measured against: twice the requests for the same states)
    clock = FakeClock()
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(6)]
    log = AskLog(sim, clock)
    clients = [make_client(sim, clock, transport=log) for _ in range(2)]
    pollers = [Poller(client, clock=clock, min_interval=2.0) for client in clients]
    for poller in pollers:
        for job in jobs:
            poller.add(job)
    async with clients[0], clients[1]:
        await run_together(pollers, clock, 20.0)
    assert all(record.shared_from is None for poller in pollers for record in poller.records.values())
    assert all(poller.records[job].poll_count >= 5 for poller in pollers for job in jobs)


async def test_an_answer_another_member_fetched_is_taken_without_a_request(tmp_path):
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(init_seconds=0.0, run_seconds=3600.0)
    log = AskLog(sim, clock)
    team_a, team_b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    client_a, client_b = make_client(sim, clock, transport=log), make_client(sim, clock, transport=log)
    poller_a = Poller(client_a, clock=clock, team=team_a)
    poller_b = Poller(client_b, clock=clock, team=team_b)
    poller_a.add(job)
    record = poller_b.add(job)
    async with client_a, client_b:
        await poller_a.poll_job(job)  # fetched by a, published
        fetched_at = poller_a.records[job].last_polled
        clock.advance(0.5)
        await poller_b.run(deadline=clock.monotonic() + 0.1)
    assert len(log.asks) == 1
    assert record.status_code == "JobRunning"
    assert (record.shared_from, record.poll_count, record.last_polled) == ("a", 0, fetched_at)
    assert record.next_poll_at == pytest.approx(fetched_at + 2.0)  # due min_interval after the answer, not after taking it
    assert team_b.status().taken == 1


class StillWhileAsked(FakeClock):
    """A fake clock that stands still while a gate's answer is out. (The team answers from its own
    thread; in real time that takes a moment, but a fake clock would jump meanwhile by however long
    another task sleeps, which is the fake clock's doing, not the team's.)"""

    def __init__(self) -> None:
        super().__init__()
        self.out = 0

    async def sleep(self, seconds: float) -> None:
        while self.out:
            await asyncio.sleep(0)
        await super().sleep(seconds)


class AskedGate:
    def __init__(self, gate: LocalTeam, clock: StillWhileAsked) -> None:
        self.gate, self.clock = gate, clock

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        self.clock.out += 1
        try:
            return await self.gate.try_start(span, ceiling, rate)
        finally:
            self.clock.out -= 1


async def test_the_combined_window_of_two_limiters_on_one_team_never_exceeds_the_quota(tmp_path):
    clock = StillWhileAsked()
    teams = [local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b")]
    limiters = [RateLimiter(19.0, clock=clock, gate=AskedGate(team.gate, clock)) for team in teams]
    starts: list[float] = []

    async def take(limiter: RateLimiter, count: int) -> None:
        for _ in range(count):
            starts.append(await limiter.acquire())

    await asyncio.gather(*(take(limiter, 200) for limiter in limiters))
    starts.sort()
    worst = max(sum(1 for t in starts if s - 1.0 < t <= s) for s in starts)
    assert worst <= 20
    # the two together keep to one pace (a fake clock that both sleep on runs a little fast: not more)
    assert 17.0 <= len(starts) / (starts[-1] - starts[0]) <= 19.0 * 1.01
    await teams[0].tick_now()  # (the combined rate is counted by the listener)
    assert 17.0 <= (teams[0].status().combined_rate or 0) <= 19.0 * 1.01


async def test_members_waiting_at_the_gate_take_turns(tmp_path):
    clock = FakeClock()
    a, b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    order = []
    for _ in range(6):  # both ask at every moment; each told to wait is booked the next place
        for name, team in (("a", a), ("b", b)):
            if await team.try_start(1.05, 20, 20.0) == 0.0:
                order.append(name)
        clock.advance(0.05)
    assert order[:6] == ["a", "b", "a", "b", "a", "b"]


async def test_a_crashed_member_s_lease_ends_by_itself_and_it_stops_being_counted(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    crashed, alive = local_team(path, clock, "crashed"), local_team(path, clock, "alive")
    assert (await crashed.claim("job-1", 2.0)).granted
    await alive.tick_now()  # (the members are counted by the listener, and at each claim)
    assert alive.status().members == 2
    refused = await alive.claim("job-1", 2.0)
    assert not refused.granted and refused.answer is None
    assert refused.retry_at == pytest.approx(clock.time() + 2.0)
    # the crashed one never says goodbye (no close(), no more heartbeats)
    clock.advance(2.0)
    assert (await alive.claim("job-1", 2.0)).granted
    clock.advance(MEMBER_SEEN_SECONDS)
    assert (await alive.claim("job-2", 2.0)).granted
    assert alive.status().members == 1


async def test_a_member_that_leaves_releases_its_leases_at_once(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    leaving, staying = local_team(path, clock, "leaving"), local_team(path, clock, "staying")
    assert (await leaving.claim("job-1", 2.0)).granted
    await leaving.close()
    assert (await staying.claim("job-1", 2.0)).granted


@pytest.mark.parametrize("breakage", ["a directory", "not a database", "in a file, not a directory"])
async def test_a_broken_team_file_never_stops_polling_it_goes_on_alone_and_says_why(tmp_path, breakage):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    if breakage == "a directory":
        path.mkdir()
    elif breakage == "not a database":
        path.write_bytes(b"this is not SQLite" * 300)
    else:
        (tmp_path / "data").write_text("a file where the data directory should be")
        path = tmp_path / "data" / "team.sqlite3"
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(3)]
    team = local_team(path, clock, "a")
    client = make_client(sim, clock)
    poller = Poller(client, clock=clock, team=team)
    for job in jobs:
        poller.add(job)
    async with client:
        await poller.run(deadline=clock.monotonic() + 5.0)
    await team.close()
    assert all(record.status_code == "JobRunning" and record.poll_count >= 2 for record in poller.records.values())
    status = team.status()
    assert status.mode == "fallback"
    assert str(path) in (status.problem or "") and "polling alone" in (status.problem or "")
    assert status.share == pytest.approx(19.0 / 4)  # never saw how many share the quota: a quarter of it


async def test_members_that_start_while_the_team_file_is_broken_never_take_the_whole_quota_each(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    path.mkdir()
    members = [local_team(path, clock, m) for m in ("a", "b", "c")]
    starts = 0
    while clock.monotonic() < 1010.0:  # ten seconds, each member starting whenever its share allows
        waits = [await team.try_start(1.05, 20, 19.0) for team in members]
        starts += waits.count(0.0)
        clock.advance(min([wait for wait in waits if wait > 0] or [0.01]))
    assert all(team.status().mode == "fallback" and team.status().share == pytest.approx(19.0 / 4) for team in members)
    assert starts <= 3 * 19.0 / 4 * 10 + 3  # (the three together: 14.25 req/s)


@pytest.mark.parametrize(("others", "share"), [(0, 19.0 / 2), (2, 19.0 / 3)])
async def test_a_member_that_loses_the_team_file_keeps_to_a_share_of_those_it_last_saw_never_all_of_it(tmp_path, others, share):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    team = LocalTeam(path, ACCOUNT, clock=clock, member="a")
    seen = [local_team(path, clock, f"other-{n}") for n in range(others)]
    for other in seen:
        await other.release("job-0")  # (heard from)
    await team.tick_now()
    team.busy_limit = 0.0  # (from now on: the count above is taken with the usual patience, not lost to a brief lock)
    holder = lock_held(path)  # (locked for longer than this member waits: it goes on alone)
    try:
        assert await team.try_start(1.05, 20, 19.0) == 0.0
    finally:
        holder.execute("COMMIT")
        holder.close()
    status = team.status()
    assert status.mode == "fallback" and status.share == pytest.approx(share)
    for other in seen:
        await other.close()


async def test_a_team_file_that_comes_back_is_joined_again(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    path.mkdir()
    team = local_team(path, clock, "a")
    await team.tick_now()
    assert team.status().mode == "fallback"
    path.rmdir()
    clock.advance(RETRY_SECONDS)
    assert (await team.claim("job-1", 2.0)).granted
    assert team.status().mode == "local" and team.status().problem is None


async def test_a_team_file_of_another_version_is_never_emptied_the_process_goes_on_alone_and_says_why(tmp_path):
    # (two vclm-watch versions running side by side must not wipe each other's window and leases)
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    theirs = sqlite3.connect(path, isolation_level=None)
    theirs.execute("CREATE TABLE leases (account TEXT, job_id TEXT, member TEXT, until REAL, since REAL, extra TEXT)")
    theirs.execute("INSERT INTO leases VALUES (?, 'job-1', 'newer', 1e12, 0, 'theirs')", (ACCOUNT,))
    theirs.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    theirs.close()
    team = local_team(path, clock, "a")
    assert (await team.claim("job-1", 2.0)).granted  # (alone: it polls)
    status = team.status()
    assert status.mode == "fallback"
    assert str(path) in (status.problem or "") and "another version of vclm-watch" in (status.problem or "")
    clock.advance(RETRY_SECONDS)
    await team.tick_now()  # (tried again: still theirs)
    await team.close()
    theirs = sqlite3.connect(path)
    assert theirs.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert theirs.execute("SELECT member, extra FROM leases").fetchall() == [("newer", "theirs")]
    theirs.close()


def test_each_schema_version_has_a_team_file_of_its_own():
    assert FILE_NAME == f"team-v{SCHEMA_VERSION}.sqlite3"


async def test_two_accounts_on_one_file_share_nothing(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    mine = local_team(path, clock, "a", account=account_key("http://127.0.0.1:9", "AKIDmine"))
    theirs = local_team(path, clock, "b", account=account_key("http://127.0.0.1:9", "AKIDtheirs"))
    assert (await mine.claim("job-1", 2.0)).granted
    assert (await theirs.claim("job-1", 2.0)).granted
    assert mine.status().members == 1


async def test_no_secret_goes_into_the_team_file(tmp_path):
    clock = FakeClock()
    sim = make_sim(clock)
    token = "session-token-0f9e8d7c6b5a"
    credentials = Credentials("AKIDtemporary000000000000000000000", "temporary-secret-key-1234", token)
    sim.add_account(credentials.secret_id, credentials.secret_key, tokens=[token])
    job = sim.create_job(init_seconds=0.0, run_seconds=3600.0)
    path = tmp_path / "team.sqlite3"
    team = local_team(path, clock, "a", account=account_key("http://127.0.0.1:9", credentials.secret_id))
    client = make_client(sim, clock, credentials=credentials)
    poller = Poller(client, clock=clock, team=team)
    poller.add(job)
    async with client:
        await poller.run(deadline=clock.monotonic() + 3.0)
    assert poller.records[job].status_code == "JobRunning"  # (polled with the token)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("team.sqlite3"))
    assert job.encode() in stored  # (the file does hold the answers)
    for secret in (credentials.secret_key, credentials.secret_id, token):
        assert secret.encode() not in stored, secret
    await team.close()
    assert (path.stat().st_mode & 0o777) == 0o600


async def test_a_fresh_answer_is_handed_out_even_after_its_member_left_and_only_until_min_interval(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    first, second = local_team(path, clock, "first"), local_team(path, clock, "second")
    assert (await first.claim("job-1", 2.0)).granted
    await first.publish(SharedAnswer("job-1", {"JobId": "job-1", "StatusCode": "JobRunning"}, clock.time(), 0.05, "first"))
    await first.close()  # (its lease goes; the answer stays)
    clock.advance(1.5)
    refused = await second.claim("job-1", 2.0)
    assert not refused.granted and refused.answer is not None
    assert (refused.answer.by, refused.answer.response["StatusCode"]) == ("first", "JobRunning")
    assert refused.retry_at == pytest.approx(clock.time() + 0.5)
    clock.advance(0.5)
    assert (await second.claim("job-1", 2.0)).granted


async def test_an_answer_asked_before_the_one_stored_neither_replaces_it_nor_reaches_the_others(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    slow, quick, viewer = (local_team(path, clock, member) for member in ("slow", "quick", "viewer"))
    await viewer.tick_now()  # (joined: what is published from now on is news to it)
    asked = clock.time()
    clock.advance(0.5)
    await quick.publish(SharedAnswer("job-1", {"JobId": "job-1", "StatusCode": "JobSuccess"}, clock.time(), 0.05, "quick"))
    await viewer.tick_now()
    assert [a.response["StatusCode"] for a in viewer.drain()] == ["JobSuccess"]
    # the slow member's poll, asked before the quick one's, comes back after it
    await slow.publish(SharedAnswer("job-1", {"JobId": "job-1", "StatusCode": "JobRunning"}, asked, 0.05, "slow"))
    await viewer.tick_now()
    assert viewer.drain() == []
    refused = await viewer.claim("job-1", 2.0)
    assert refused.answer is not None and refused.answer.response["StatusCode"] == "JobSuccess"
    for team in (slow, quick, viewer):
        await team.close()


async def test_a_start_moved_later_keeps_the_team_s_window_closed_that_much_longer(tmp_path):
    clock = FakeClock()
    team = local_team(tmp_path / "team.sqlite3", clock, "a")
    await warmed_up(team, clock)
    first = clock.monotonic()
    for _ in range(20):
        while (wait := await team.try_start(1.05, 20, 20.0)) > 0:
            clock.advance(wait)
    team.moved(first + 0.0001, 0.02)  # (the limiter's go-ahead comes a moment after the gate's record)
    await team.tick_now()  # (moved() is queued: done before anything after it)
    other = local_team(tmp_path / "team.sqlite3", clock, "b")
    assert await other.try_start(1.05, 20, 20.0) == pytest.approx(first + 1.07 - clock.monotonic())


async def test_a_start_moved_later_is_this_member_s_own_never_one_another_member_made_after_it(tmp_path):
    clock = FakeClock()
    a, b, c = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b", "c"))
    await warmed_up(a, clock)
    await warmed_up(b, clock)
    first = clock.monotonic()
    assert await a.try_start(1.05, 2, 20.0) == 0.0
    clock.advance(0.05)
    assert await b.try_start(1.05, 2, 20.0) == 0.0
    # a's go-ahead came after b's start was recorded (a busy loop): b's is the latest start before it
    a.moved(first + 0.05, 0.3)
    await a.tick_now()  # (moved() is queued: done before anything after it)
    # a's start leaves at first + 1.35, b's still at first + 0.05 + 1.05: with two allowed, c waits for b's
    assert await c.try_start(1.05, 2, 20.0) == pytest.approx(first + 1.10 - clock.monotonic())


async def test_a_member_with_a_wider_margin_keeps_its_starts_in_the_window_that_much_longer_for_all(tmp_path):
    # a's round trips vary more (its span is 1.20 s), b's less (1.05 s): a's starts may arrive up to
    # 0.20 s late, so the 21st start, b's, waits until the first of a's has surely left the second
    clock = FakeClock()
    a, b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    await warmed_up(a, clock)
    first = clock.monotonic()
    for _ in range(20):
        while (wait := await a.try_start(1.20, 20, 20.0)) > 0:
            clock.advance(wait)
    assert await b.try_start(1.05, 20, 20.0) == pytest.approx(first + 1.20 - clock.monotonic())


async def test_a_member_s_first_start_stays_longer_in_the_window(tmp_path):
    # (it opens the connection: it may reach the server late, with no earlier round trip to tell)
    clock = FakeClock()
    a, b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    first = clock.monotonic()
    for _ in range(20):
        while (wait := await a.try_start(1.05, 20, 20.0)) > 0:
            clock.advance(wait)
    # the 21st start waits for the second of a's to leave (first + 0.05 + 1.05), not the first of
    # them (first + 1.05: that one stays until first + 1.05 + FIRST_START_SLACK)
    assert await b.try_start(1.05, 20, 20.0) == pytest.approx(first + 0.05 + 1.05 - clock.monotonic())


async def ticks_while(operation, holder: sqlite3.Connection, ticks: int = 50) -> bool:
    """Runs `operation` while `holder` (another process, as far as the team file knows) holds the
    file's write lock, lets the loop go round `ticks` times, then lets the lock go: whether the
    operation was still waiting by then (it never had the loop to itself)."""
    task = asyncio.ensure_future(operation)
    for _ in range(ticks):
        await asyncio.sleep(0)
    waiting = not task.done()
    holder.execute("COMMIT")
    holder.close()
    await task
    return waiting


def lock_held(path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_team_file_locked_by_another_process_never_stalls_the_loop_and_the_start_waits_for_it(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    team, other = local_team(path, clock, "a"), local_team(path, clock, "b")
    await warmed_up(team, clock)
    await warmed_up(other, clock)
    start = team.try_start(1.05, 20, 20.0)
    assert await ticks_while(start, lock_held(path))  # the loop went round while the start waited for the lock
    assert team.status().mode == "local" and team.status().problem is None  # ...and it was made in the team:
    assert await other.try_start(1.05, 20, 20.0) == pytest.approx(0.05)  # the next start is paced after it


@pytest.mark.parametrize("operation", ["claim", "publish", "release", "tick"])
async def test_every_operation_on_a_locked_team_file_lets_the_loop_go_on(tmp_path, operation):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    team = local_team(path, clock, "a")
    await team.release("job-0")  # (the file opened)
    answer = SharedAnswer("job-1", {"JobId": "job-1", "StatusCode": "JobRunning"}, clock.time(), 0.05, "a")
    call = {"claim": lambda: team.claim("job-1", 2.0), "publish": lambda: team.publish(answer),
            "release": lambda: team.release("job-1"), "tick": lambda: team.tick_now()}[operation]
    assert await ticks_while(call(), lock_held(path))
    assert team.status().mode == "local"
    team.status()  # (a plain read of what was last seen: it never waits for the file)


async def test_the_status_is_what_was_last_seen_read_without_touching_the_file(tmp_path):
    # (the status bar asks for it every second, on the loop)
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    team, other = local_team(path, clock, "a"), local_team(path, clock, "b")
    await other.release("job-0")  # (b heard from)
    await team.claim("job-0", 2.0)  # (a heard from, and the members counted)
    holder = lock_held(path)
    try:
        clock.advance(1.0)
        status = team.status()
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert (status.mode, status.members, status.problem) == ("local", 2, None)


async def test_a_team_file_locked_past_the_limit_is_left_for_a_while_without_stalling_the_loop(tmp_path):
    clock = FakeClock()
    path = tmp_path / "team.sqlite3"
    team = LocalTeam(path, ACCOUNT, clock=clock, member="a", busy_limit=0.1)
    await team.tick_now()
    holder = lock_held(path)
    task = asyncio.ensure_future(team.try_start(1.05, 20, 20.0))
    ticks = 0
    while not task.done():  # (the lock is held until the team gives up on it: busy_limit, in the team's thread)
        ticks += 1
        await asyncio.sleep(0)
    holder.execute("COMMIT")
    holder.close()
    assert await task == 0.0 and ticks > 1  # alone, at once, and the loop went round meanwhile
    assert team.status().mode == "fallback" and "locked" in (team.status().problem or "")


class LoopLags(FakeClock):
    """The loop reads the time `lag` s later than the team's thread: a busy loop takes that long to
    give the limiter the go-ahead the team's thread recorded."""

    lag = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + (self.lag if threading.current_thread() is threading.main_thread() else 0.0)


async def test_a_go_ahead_given_after_the_team_recorded_its_start_counts_from_the_go_ahead(tmp_path):
    clock = LoopLags()
    a, b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    await warmed_up(a, clock)
    await warmed_up(b, clock)
    clock.lag = 0.03
    assert await a.try_start(1.05, 1, 20.0) == 0.0  # recorded at t in the team's thread, gone ahead at t + 0.03
    await a.tick_now()  # (its correction is queued: done before anything after it)
    assert await b.try_start(1.05, 1, 20.0) == pytest.approx(0.03 + 1.05)  # (b's thread reads t)


class BrokenTeam(LocalTeam):
    """A team whose every call fails (as a buggy back end might): polling must go on."""

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        raise RuntimeError("gate down")

    async def claim(self, job_id: str, min_interval: float):
        raise RuntimeError("claims down")

    async def start(self, wake) -> None:
        raise RuntimeError("cannot join")


async def test_a_team_whose_calls_fail_never_stops_polling(tmp_path):
    clock = FakeClock()
    sim = make_sim(clock)
    jobs = [sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(3)]
    team = BrokenTeam(tmp_path / "team.sqlite3", ACCOUNT, clock=clock, member="a")
    client = make_client(sim, clock)
    poller = Poller(client, clock=clock, team=team)
    for job in jobs:
        poller.add(job)
    async with client:
        await poller.run(deadline=clock.monotonic() + 3.0)
    await team.close()
    assert all(record.status_code == "JobRunning" for record in poller.records.values())


class HeldTransport(httpx.AsyncBaseTransport):
    """The simulator transport, holding every Describe request about the job `held` until `go` is set."""

    def __init__(self, sim, held: str) -> None:
        self.inner, self.held = SimulatorTransport(sim), held
        self.go, self.holding = asyncio.Event(), asyncio.Event()
        self.asks: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asks.append(json.loads(request.content or b"{}").get("JobId"))
        if self.asks[-1] == self.held:
            self.holding.set()
            await self.go.wait()
        return await self.inner.handle_async_request(request)


async def test_an_answer_another_member_publishes_is_shown_at_once_while_every_slot_is_held(tmp_path):
    # a's only slot is taken by a poll that does not return: its loop waits on that slot, and the
    # answer b publishes meanwhile is shown all the same (not when a's next request goes out), and
    # the job a had claimed before that wait is not polled again when a slot is free
    clock = FakeClock()
    sim = make_sim(clock)
    slow, other = (sim.create_job(init_seconds=0.0, run_seconds=3600.0) for _ in range(2))
    path = tmp_path / "team.sqlite3"
    held = HeldTransport(sim, slow)
    team_a = LocalTeam(path, ACCOUNT, clock=clock, member="a", listen_every=0.0)
    team_b = local_team(path, clock, "b")
    client_a, client_b = make_client(sim, clock, transport=held), make_client(sim, clock)
    poller_a = Poller(client_a, clock=clock, max_in_flight=1, team=team_a)
    poller_b = Poller(client_b, clock=clock, team=team_b)
    poller_a.add(slow)
    record = poller_a.add(other)
    poller_b.add(other)
    updated = asyncio.Event()
    poller_a.subscribe(lambda event: updated.set() if isinstance(event, JobUpdated) and event.record is record else None)
    async with client_a, client_b:
        running = asyncio.create_task(poller_a.run(deadline=clock.monotonic() + 1.0))
        await held.holding.wait()
        await poller_b.poll_job(other)  # fetched by b, published
        # a's listener reads the file in the team's thread: the answer is shown once it has (not
        # when a's next request goes out, which never comes while the held poll is out)
        await asyncio.wait_for(updated.wait(), timeout=60)
        shown = (record.shared_from, record.status_code, poller_a.records[slow].status_code)
        held.go.set()
        await running
    await team_a.close()
    await team_b.close()
    assert shown == ("b", "JobRunning", None)  # (the held poll had not returned)
    assert held.asks == [slow] and record.shared_from == "b"


class LateAnswers(httpx.AsyncBaseTransport):
    """The simulator transport; the answer to a Describe request about the job `held` is given by
    the simulator at once (the job's state then) and handed back only when `go` is set: a slow poll."""

    def __init__(self, sim, held: str) -> None:
        self.inner, self.held = SimulatorTransport(sim), held
        self.go, self.holding = asyncio.Event(), asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if json.loads(request.content or b"{}").get("JobId") == self.held:
            self.holding.set()
            await self.go.wait()
        return response


def state_changes(poller: Poller) -> list[tuple[str | None, str]]:
    changes: list[tuple[str | None, str]] = []
    poller.subscribe(lambda event: changes.append((event.from_code, event.to_code)) if isinstance(event, StateChanged) else None)
    return changes


@pytest.mark.parametrize(("init_seconds", "run_seconds", "before", "after"),
                         [(0.0, 5.0, "JobRunning", "JobSuccess"), (5.0, 3600.0, "JobInit", "JobRunning")])
async def test_an_answer_from_a_poll_that_outlived_its_lease_never_overwrites_a_newer_one(
        tmp_path, init_seconds, run_seconds, before, after):
    # a asks (`before`) and its answer is slow to come; meanwhile the job moves on, and b (a's lease
    # over) asks and publishes `after`, which c takes; then a's `before` arrives and is published,
    # stamped when it was asked: older than b's, it moves neither b's row nor c's
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=init_seconds, run_seconds=run_seconds)
    path = tmp_path / "team.sqlite3"
    late = LateAnswers(sim, job)
    teams = [local_team(path, clock, member) for member in ("a", "b", "c")]
    clients = [make_client(sim, clock, transport=late), make_client(sim, clock), make_client(sim, clock)]
    poller_a, poller_b, poller_c = (Poller(cl, clock=clock, min_interval=2.0, team=t) for cl, t in zip(clients, teams, strict=True))
    for poller in (poller_a, poller_b, poller_c):
        poller.add(job)
    changes_b, changes_c = state_changes(poller_b), state_changes(poller_c)
    async with clients[0], clients[1], clients[2]:
        slow = asyncio.create_task(poller_a.poll_job(job))
        await late.holding.wait()  # the service said `before`; a has not heard it yet
        clock.advance(6.0)  # the job has moved on, a's lease is long over
        await poller_b.poll_job(job)
        await run_together([poller_b, poller_c], clock, 0.1)  # c takes b's answer
        clock.advance(0.5)
        late.go.set()
        await slow  # a's JobRunning arrives now (and is published)
        await run_together([poller_b, poller_c], clock, 0.1)
    for team in teams:
        await team.close()
    assert poller_a.records[job].status_code == before  # (a's own answer: what a was told)
    assert (poller_b.records[job].status_code, poller_c.records[job].status_code) == (after, after)
    assert changes_b == [(None, after)] and changes_c == [(None, after)]
    assert poller_c.records[job].shared_from == "b"


async def test_a_shared_answer_never_takes_a_finished_job_back_to_an_unfinished_state(tmp_path):
    # an answer stamped later than the record's (a member whose clock runs ahead) that says the job
    # is still running, after this member saw it finish: neither drained nor handed back by a claim
    clock = FakeClock()
    sim = make_sim(clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=0.0, run_seconds=5.0)
    path = tmp_path / "team.sqlite3"
    team_a, team_b = local_team(path, clock, "a"), local_team(path, clock, "b")
    client_a, client_b = make_client(sim, clock), make_client(sim, clock)
    poller_a, poller_b = Poller(client_a, clock=clock, team=team_a), Poller(client_b, clock=clock, team=team_b)
    record = poller_b.add(job)
    changes = state_changes(poller_b)
    poller_a.add(job)
    async with client_a, client_b:
        await poller_a.poll_job(job)
        running = poller_a.records[job].last_response
        poller_a.remove(job)
        clock.advance(6.0)
        await poller_b.poll_job(job)
        assert record.status_code == "JobSuccess"
        ahead = SharedAnswer(job, running, clock.time() + 30.0, 0.05, "a")
        await team_a.publish(ahead)
        await poller_b.run(deadline=clock.monotonic() + 0.1)  # drained
        assert record.status_code == "JobSuccess"
        poller_b.refresh(job)  # asked by hand: the claim is refused, with that answer
        await poller_b.run(deadline=clock.monotonic() + 0.1)
    await team_a.close()
    await team_b.close()
    assert (record.status_code, record.shared_from) == ("JobSuccess", None)
    assert changes == [(None, "JobSuccess")]


async def test_a_place_the_window_put_off_does_not_move_the_team_s_grid_later(tmp_path):
    # A member's start taken 10 ms after its place stays in the window 10 ms longer, so the 21st
    # place after it is booked past its slot on the grid; the next ones are on the grid again.
    # (Were the grid moved to the put-off place, each such delay would be lost for good: at 19
    # req/s in a 1.05 s window there are only 2.6 ms to spare, and the team fell under 19 req/s.)
    clock = FakeClock()
    a, b = (local_team(tmp_path / "team.sqlite3", clock, m) for m in ("a", "b"))
    await warmed_up(a, clock)
    await warmed_up(b, clock)
    first = clock.monotonic()
    assert await a.try_start(1.05, 20, 19.0) == 0.0
    clock.advance(1 / 19 + 0.010)
    starts = [first]
    for n in range(22):
        member = (a, b)[n % 2]
        while (wait := await member.try_start(1.05, 20, 19.0)) > 0:
            clock.advance(wait)
        starts.append(clock.monotonic())
    assert starts[1] == pytest.approx(first + 1 / 19 + 0.010)
    assert starts[21] == pytest.approx(starts[1] + 1.05)  # put off by the late start's place in the window
    assert starts[22] == pytest.approx(first + 22 / 19)  # the next one is on the grid again
    for team in (a, b):
        await team.close()
