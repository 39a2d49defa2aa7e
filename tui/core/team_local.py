"""Team mode on one machine: every vclm-watch process of the user shares the account's quota,
job leases and answers through one small SQLite file in the data directory (`team-v2.sqlite3`:
one file per SCHEMA_VERSION, so that two versions running side by side never meet in one file).

Rows are keyed by the account key (`team.account_key`), so two accounts never mix. Times that
schedule (the request window, leases, heartbeats) are `clock.monotonic()`: CLOCK_MONOTONIC,
the same for every process on a Linux machine; the file remembers the boot it was written in
(`/proc/sys/kernel/random/boot_id`) and forgets those times after a reboot. Each operation is
one short transaction (`BEGIN IMMEDIATE`: the window's check and its record are atomic across
processes); WAL lets readers go on while one writes. A crashed member leaves nothing that
lasts: its leases end by themselves `min_interval` after they were taken, its heartbeat stops
counting after MEMBER_SEEN_SECONDS.

All the SQLite work runs in one thread of the team's own (which owns the connection; the async
methods await it, `moved()` queues its update): a file another process keeps locked stalls
that thread, never the event loop. SQLite waits BUSY_TIMEOUT for a lock, and the thread asks
again until BUSY_LIMIT has passed (then: fallback). What `status()` and `drain()` return was
read by the listener (every LISTEN_EVERY) or by the last operation: they never touch the file.

Nothing secret goes into the file: the account key, job ids, Describe answers, times and the
members' random ids. A file that cannot be opened or written never stops polling: the process
goes on alone (`fallback`, with the reason as its status problem) at a share of the rate, and
tries the file again every RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tui.api.clock import Clock
from tui.api.ratelimit import grid_slot
from tui.core.team import Claim, SharedAnswer, TeamStatus, share_divisor

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT = 0.05  # seconds SQLite waits for another process's transaction before saying so (team thread)
BUSY_LIMIT = 2.0  # seconds an operation keeps asking for a file another process keeps locked (then: fallback)
LEAVE_LIMIT = 0.5  # ...and what close() gives it (a lease left behind ends by itself)
LISTEN_EVERY = 0.25  # seconds between two looks for answers from other members (and heartbeats)
MEMBER_SEEN_SECONDS = 3.0  # a member not heard from for this long is no longer counted
RATE_SPAN = 5.0  # seconds combined_rate is measured over
RETRY_SECONDS = 5.0  # in fallback: how often the file is tried again
ANSWER_KEEP_SECONDS = 3600.0  # answers older than this are pruned
PRUNE_EVERY = 5.0
# A process's first request may reach the server well after its go-ahead (the first one sets up
# the connection, and the client warms up), and its round trip has none before it to be compared
# with (see RateLimiter.observe_round_trip): it stays this much longer in the window.
FIRST_START_SLACK = 0.25
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS starts (
    account TEXT NOT NULL, at REAL NOT NULL, until REAL NOT NULL, member TEXT NOT NULL, booked INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS starts_by_account ON starts (account, at);
CREATE INDEX IF NOT EXISTS starts_by_until ON starts (account, until);
CREATE TABLE IF NOT EXISTS pace (account TEXT PRIMARY KEY, slot REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    account TEXT NOT NULL, job_id TEXT NOT NULL, member TEXT NOT NULL, since REAL NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (account, job_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, job_id TEXT NOT NULL, member TEXT NOT NULL,
    polled_at REAL NOT NULL, at REAL NOT NULL, latency REAL NOT NULL, response TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS answers_by_job ON answers (account, job_id);
CREATE TABLE IF NOT EXISTS members (
    account TEXT NOT NULL, member TEXT NOT NULL, seen REAL NOT NULL, PRIMARY KEY (account, member)) WITHOUT ROWID;
"""
_TABLES = ("starts", "pace", "leases", "answers", "members")
# (PRAGMA user_version) Each version has a file of its own (FILE_NAME). A file that says another
# version is never emptied (that version may be using it): the process goes on alone.
SCHEMA_VERSION = 2
FILE_NAME = f"team-v{SCHEMA_VERSION}.sqlite3"


def boot_id() -> str:
    """This boot's id (Linux): monotonic times written in another boot mean nothing in this one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class LocalTeam:
    """Membership of the account's team on this machine, through the SQLite file at `path`.

    Implements `tui.core.team.Team`, and is its own `QuotaGate`. The file is opened (in the
    team's thread) as soon as the team is made."""

    def __init__(self, path: Path, account: str, *, clock: Clock, member: str | None = None,
                 listen_every: float = LISTEN_EVERY, busy_limit: float = BUSY_LIMIT) -> None:
        self.path = Path(path)
        self.account = account
        self.clock = clock
        self.member = member or secrets.token_hex(6)
        self.listen_every = listen_every
        self.busy_limit = busy_limit
        self._worker: ThreadPoolExecutor | None = None
        self._closing = False  # close() is waiting: queued work stops waiting for a locked file
        # (owned by the team's thread)
        self._db: sqlite3.Connection | None = None
        self._retry_at = 0.0
        self._seq = 0  # the last answer the listener read
        self._pruned_at = float("-inf")
        # (written by the team's thread, read by the loop: what status() says)
        self.problem: str | None = None  # why the file is not used (fallback), None when it is
        self._members: int | None = None  # the members lately seen (None: never counted)
        self._rate: float | None = None
        # (the loop's)
        self._inbox: list[SharedAnswer] = []  # answers the listener read, for drain()
        self._share_slot: float | None = None  # fallback: this process's own pacing
        self._share: float | None = None  # ...and the rate it keeps to
        self._taken = 0
        self._first = True  # no start of this process yet
        self._task: asyncio.Task[None] | None = None
        self._queue(self._connect)

    # -- the team's thread ----------------------------------------------------------------------

    def _thread(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vclm-team")
        return self._worker

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the team's thread, after everything queued before it. A caller that is
        cancelled stops waiting, not the work: an answer being published when `check` ends is still
        published (before the close() that follows)."""
        return await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._thread(), work, *args))

    def _queue(self, work: Callable[..., object], *args: Any) -> None:
        """`work(*args)` in the team's thread, nobody waiting for it (it logs what it raises)."""
        def run() -> None:
            try:
                work(*args)
            except Exception:  # noqa: BLE001 - nobody waits for it to raise to
                log.exception("team file work")

        self._thread().submit(run)

    # -- the file (in the team's thread) --------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        """The open database, opened (again) if need be; None in fallback until RETRY_SECONDS pass."""
        if self._db is not None:
            return self._db
        now = self.clock.monotonic()
        if self.problem is not None and now < self._retry_at:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # (created private, as the job database)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            try:
                self._patiently(lambda: self._open(db), self.busy_limit)
            except BaseException:
                db.close()
                raise
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return None
        if self.problem is not None:
            log.info("team file %s usable again", self.path)
        self._db, self.problem = db, None
        return db

    def _open(self, db: sqlite3.Connection) -> None:
        now = self.clock.monotonic()
        _same_version(db)  # (before WAL: another version's file is left as it is)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # what it holds is worth seconds: no fsync per write
        with _transaction(db):
            _same_version(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in SCHEMA.split(";"):  # (executescript would commit first)
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
            boot = boot_id()
            if row is None or row[0] != boot:  # another boot's monotonic times: forgotten
                for table in _TABLES:
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
                db.execute("INSERT OR REPLACE INTO meta VALUES ('boot', ?)", (boot,))
            self._seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM answers").fetchone()[0]
            self._beat(db, now)

    def _patiently(self, attempt: Callable[[], T], limit: float) -> T:
        """`attempt()`, again while another process keeps the file locked, for up to `limit` s.
        (Real time: this waits for a lock, it schedules nothing; and never on the loop.)"""
        give_up = time.monotonic() + limit
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or self._closing or time.monotonic() >= give_up:
                    raise

    def _fail(self, exc: BaseException) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        problem = f"team file {self.path} unusable ({reason}): polling alone"
        if problem != self.problem:
            log.warning("%s", problem)
        self.problem = problem
        self._retry_at = self.clock.monotonic() + RETRY_SECONDS

    def _run(self, work: Callable[[sqlite3.Connection, float], Any], default: Any, limit: float | None = None) -> Any:
        """`work(db, now)` in one write transaction; `default` when the file cannot be used."""
        db = self._connect()
        if db is None:
            return default

        def attempt() -> Any:
            with _transaction(db):
                return work(db, self.clock.monotonic())

        try:
            return self._patiently(attempt, self.busy_limit if limit is None else limit)
        except sqlite3.Error as exc:
            self._fail(exc)
            return default

    def _beat(self, db: sqlite3.Connection, now: float) -> None:
        """This member's heartbeat, and a count of the members lately heard from."""
        db.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?)", (self.account, self.member, now))
        self._members = max(1, db.execute("SELECT COUNT(*) FROM members WHERE account = ? AND seen > ?",
                                          (self.account, now - MEMBER_SEEN_SECONDS)).fetchone()[0])

    # -- the quota window (QuotaGate) -------------------------------------------------------

    @property
    def gate(self) -> LocalTeam:
        return self

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        """As the QuotaGate asks; and fair between members: a member told to wait is booked the
        team's next free place on the pacing grid (counted in the window from then on), and
        takes it when it asks again. Without that, the member whose timer fires first would
        take every place, and the others starve.

        Each start is kept with the time it leaves the window, `until` (its time plus the span
        its member asked with: the member's margin for how late its requests may arrive). A
        start may go when fewer than `ceiling` starts have not left yet: members that see
        different jitter (hence different spans) still never put more than `ceiling` in one
        window at the server.

        The start is recorded in the team's thread, and the limiter reads its go-ahead once this
        returns, a moment later (more when the loop is busy): that moment is added to the
        start's place, as `moved()` would."""
        def work(db: sqlite3.Connection, now: float) -> tuple[float, int, float]:  # (wait, and on a go: rowid, at)
            stay = span + (FIRST_START_SLACK if self._first else 0.0)
            booked = db.execute("SELECT rowid, at FROM starts WHERE account = ? AND member = ? AND booked = 1",
                                (self.account, self.member)).fetchone()
            if booked is not None:
                if booked[1] > now + 0.0005:
                    return float(booked[1] - now), 0, 0.0
                at = max(now, booked[1])
                db.execute("UPDATE starts SET at = ?, until = ?, booked = 0 WHERE rowid = ?", (at, at + stay, booked[0]))
                return 0.0, booked[0], at
            leaving = db.execute("SELECT until FROM starts WHERE account = ? ORDER BY until DESC LIMIT ?",
                                 (self.account, ceiling)).fetchall()
            row = db.execute("SELECT slot FROM pace WHERE account = ?", (self.account,)).fetchone()
            paced = row[0] + 1.0 / rate if row is not None else now
            due = max(now, paced)
            if len(leaving) >= ceiling:  # the ceiling-th start still in the window must leave it first
                due = max(due, leaving[-1][0])
            if due <= now:
                # on the team's pacing grid: a start a little late does not push every later one back
                slot = grid_slot(paced, now, rate)
                rowid = db.execute("INSERT INTO starts VALUES (?, ?, ?, ?, 0)",
                                   (self.account, now, now + stay, self.member)).lastrowid
                db.execute("INSERT OR REPLACE INTO pace VALUES (?, ?)", (self.account, slot))
                return 0.0, rowid or 0, now
            db.execute("INSERT INTO starts VALUES (?, ?, ?, ?, 1)", (self.account, due, due + stay, self.member))
            # a place the window put off (a start before it left late) stays on the grid: the
            # next place is paced from the slot, so the delay is made up, not carried forward
            db.execute("INSERT OR REPLACE INTO pace VALUES (?, ?)", (self.account, grid_slot(paced, due, rate)))
            return due - now, 0, 0.0

        found = await self._call(self._run, work, None)
        if found is None:
            return self._alone(rate)
        wait, rowid, at = found
        if wait == 0.0:
            self._first = False
            go = self.clock.monotonic()  # (what the limiter calls this start: see moved())
            if go > at:
                self._queue(self._run, lambda db, _now: db.execute(
                    "UPDATE starts SET at = ?, until = until + ? WHERE rowid = ? AND member = ?",
                    (go, go - at, rowid, self.member)), None)
        return wait

    def moved(self, at: float, later: float) -> None:
        """The start this process recorded at `at` may have reached the server `later` s late:
        it leaves the window that much later (this member's latest start at or before `at`: another
        member's start may have been recorded between this one's and its go-ahead). Queued: done
        before anything this process asks of the file after it."""
        self._queue(self._run, lambda db, _now: db.execute(
            "UPDATE starts SET until = until + ? WHERE rowid = (SELECT rowid FROM starts "
            "WHERE account = ? AND member = ? AND booked = 0 AND at <= ? ORDER BY at DESC LIMIT 1)",
            (later, self.account, self.member, at)), None)

    def _alone(self, rate: float) -> float:
        """In fallback: this process keeps to its share of `rate` (its own pacing grid)."""
        seen = self._members
        share = self._share = rate / share_divisor(seen)
        now = self.clock.monotonic()
        due = now if self._share_slot is None else self._share_slot + 1.0 / share
        if due > now:
            return due - now
        self._share_slot = grid_slot(due, now, share)
        return 0.0

    # -- jobs -------------------------------------------------------------------------------------

    async def claim(self, job_id: str, min_interval: float) -> Claim:
        """Granted unless another member holds a lease on the job, or fetched it less than
        `min_interval` ago (then its answer, if any, comes with the refusal)."""
        def work(db: sqlite3.Connection, now: float) -> Claim:
            self._beat(db, now)
            lease = db.execute("SELECT until FROM leases WHERE account = ? AND job_id = ? AND member != ? AND until > ?",
                               (self.account, job_id, self.member, now)).fetchone()
            row = db.execute("SELECT member, polled_at, latency, response, at FROM answers "
                             "WHERE account = ? AND job_id = ? AND at > ?", (self.account, job_id, now - min_interval)).fetchone()
            if row is not None and row[0] == self.member:
                row = None  # (our own answer: our own schedule says when to ask again)
            if lease is None and row is None:
                db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                           (self.account, job_id, self.member, now, now + min_interval))
                return Claim(True)
            until = max(lease[0] if lease else now, row[4] + min_interval if row else now)
            answer = None if row is None else self._answer(job_id, *row[:4])
            return Claim(False, answer, self.clock.time() + until - now)

        claim: Claim = await self._call(self._run, work, Claim(True))
        if claim.answer is not None:
            self._taken += 1
        return claim

    async def release(self, job_id: str) -> None:
        await self._call(self._run, lambda db, _now: db.execute(
            "DELETE FROM leases WHERE account = ? AND job_id = ? AND member = ?", (self.account, job_id, self.member)), None)

    async def publish(self, answer: SharedAnswer) -> None:
        try:
            response = json.dumps(answer.response, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return

        def store(db: sqlite3.Connection, now: float) -> None:
            # only an answer asked after the one stored replaces it (a slow poll that outlived its
            # lease must not undo a newer answer); the new row takes a new sequence number, so
            # every listener reads it
            db.execute("DELETE FROM answers WHERE account = ? AND job_id = ? AND polled_at < ?",
                       (self.account, answer.job_id, answer.polled_at))
            db.execute("INSERT OR IGNORE INTO answers (account, job_id, member, polled_at, at, latency, response) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (self.account, answer.job_id, self.member, answer.polled_at, now, answer.latency, response))

        await self._call(self._run, store, None)

    def drain(self) -> list[SharedAnswer]:
        """What the listener read since the last call (it never touches the file itself)."""
        found, self._inbox = self._inbox, []
        self._taken += len(found)
        return found

    def _answer(self, job_id: str, by: str, polled_at: float, latency: float, response: str) -> SharedAnswer | None:
        try:
            parsed = json.loads(response)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        return SharedAnswer(job_id, parsed, polled_at, latency, by)

    # -- membership ---------------------------------------------------------------------------------

    async def start(self, wake: Callable[[], None]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(wake))

    async def _listen(self, wake: Callable[[], None]) -> None:
        """Every `listen_every` seconds, a tick (`tick_now`), waking the engine when answers came.
        (Real time: it paces a look at the file, nothing that is measured.)"""
        while True:
            try:
                await asyncio.sleep(self.listen_every)
                if await self._look():
                    wake()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the listener must never die
                log.exception("team listener")

    async def tick_now(self) -> None:
        """One tick of the listener, now (after whatever was queued before it, `moved()` included):
        a heartbeat, the members and the combined rate counted for `status()`, the new answers of
        the others read for `drain()`, and now and then a prune of what is no longer needed."""
        await self._look()

    async def _look(self) -> bool:
        answers = await self._call(self._listen_once)
        self._inbox.extend(answers)
        return bool(answers)

    def _listen_once(self) -> list[SharedAnswer]:
        rows: list[tuple[Any, ...]] = self._run(self._tick, [])
        if rows:
            self._seq = rows[-1][0]  # (once the transaction is through: a retried one reads them again)
        answers = [self._answer(job_id, by, polled_at, latency, response)
                   for _seq, job_id, by, polled_at, latency, response in rows if by != self.member]
        return [answer for answer in answers if answer is not None]

    def _tick(self, db: sqlite3.Connection, now: float) -> list[tuple[Any, ...]]:
        self._beat(db, now)
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            db.execute("DELETE FROM starts WHERE at <= ? AND until <= ?", (now - RATE_SPAN - 5.0, now))
            db.execute("DELETE FROM leases WHERE until <= ?", (now - 60.0,))
            db.execute("DELETE FROM members WHERE seen <= ?", (now - 60.0,))
            db.execute("DELETE FROM answers WHERE at <= ?", (now - ANSWER_KEEP_SECONDS,))
        starts = db.execute("SELECT COUNT(*) FROM starts WHERE account = ? AND at > ? AND at <= ?",
                            (self.account, now - RATE_SPAN, now)).fetchone()[0]
        self._rate = starts / RATE_SPAN
        return db.execute("SELECT seq, job_id, member, polled_at, latency, response FROM answers "
                          "WHERE seq > ? AND account = ? ORDER BY seq", (self._seq, self.account)).fetchall()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        worker, self._closing = self._worker, True
        if worker is None:
            self._closing = False
            return
        try:
            await asyncio.get_running_loop().run_in_executor(worker, self._leave)
        except Exception:  # noqa: BLE001 - leaving never raises
            log.exception("leaving the team file")
        finally:
            worker.shutdown(wait=False)
            self._worker, self._closing = None, False

    def _leave(self) -> None:
        if self._db is None:
            return

        def leave(db: sqlite3.Connection, _now: float) -> None:
            db.execute("DELETE FROM leases WHERE account = ? AND member = ?", (self.account, self.member))
            db.execute("DELETE FROM starts WHERE account = ? AND member = ? AND booked = 1", (self.account, self.member))
            db.execute("DELETE FROM members WHERE account = ? AND member = ?", (self.account, self.member))

        self._closing = False  # (this one may wait a little for the lock)
        self._run(leave, None, limit=LEAVE_LIMIT)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def status(self) -> TeamStatus:
        """What the listener and the last operations saw: no IO here (the status bar asks every second)."""
        if self.problem is not None:
            return TeamStatus("fallback", members=self._members or 1, problem=self.problem, taken=self._taken,
                              share=self._share)
        return TeamStatus("local", members=self._members or 1, combined_rate=self._rate, taken=self._taken)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _same_version(db: sqlite3.Connection) -> None:
    """A new file (user_version 0) or one of this version; DatabaseError (the problem shown) otherwise."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        raise sqlite3.DatabaseError(f"made by another version of vclm-watch: schema {version}, this one uses "
                                    f"{SCHEMA_VERSION}")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED, extended codes included)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc) or "busy" in str(exc)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
