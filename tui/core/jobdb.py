"""The job database: everything observed about jobs, in SQLite beside the watchlist file.

The watchlist file holds what a person chose (ids, labels, when added); this database holds
what was seen: each job's last answer, its state history, its last error, RequestId, latency,
result URL and when it was received. It is written incrementally (only the jobs that changed,
in one transaction per batch) and, in the monitor, only from a writer thread
(`ObservationWriter`), never on the UI event loop.

It also keeps a copy of the watchlist's membership, keyed by the SHA-256 of the file's bytes:
a process that finds the file as the last vclm-watch left it reads ids and labels from here
instead of parsing megabytes of TOML (see `watchlist.py`).

SQLite in WAL mode: readers never block the writer, a process killed mid-write leaves the
last committed transaction, and several processes on one machine can share the file (each
write waits for the others up to `timeout`). The schema is versioned with `PRAGMA user_version`;
a database from a newer vclm-watch is refused and left untouched.

It also keeps the monitor's request outcomes per minute (`activity`: sent, accepted, refused,
cut-backs, errors by kind) for the last `ACTIVITY_KEEP_SECONDS`, so the overview's request and
error charts survive a restart; the writer thread adds them up per minute and prunes older rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import marshal
import os
import re
import resource
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui.core.jobstate import MAX_HISTORY, JobRecord, LastError, Transition

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
DEFAULT_KEEP_DAYS = 30.0  # how long jobs no longer watched keep their history (config `history_days`)
BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's transaction
ACTIVITY_KEEP_SECONDS = 86400.0  # request outcomes per minute are kept this long (older rows are pruned)
ACTIVITY_EVERY = 5.0  # seconds between two writes of request outcomes, at most one each (flush and close: at once)
# The error kinds kept per minute, and their columns (any other kind is counted as "other").
ACTIVITY_KINDS = {"InnerError": "inner_errors", "RequestLimitExceeded": "limit_errors", "transport": "transport_errors",
                  "auth": "auth_errors", "other": "other_errors"}

# Each entry takes the schema from version i to i + 1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            status_code TEXT,
            status_msg TEXT NOT NULL DEFAULT '',
            result_video_url TEXT NOT NULL DEFAULT '',
            url_received_at REAL,
            state_since REAL,
            last_change REAL,
            last_polled REAL,
            last_request_id TEXT,
            poll_count INTEGER NOT NULL DEFAULT 0,
            last_latency REAL,
            last_response TEXT,
            error_code TEXT,
            error_message TEXT,
            error_request_id TEXT,
            error_at REAL,
            written_at REAL NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE history (
            job_id TEXT NOT NULL,
            at REAL NOT NULL,
            from_code TEXT,
            to_code TEXT NOT NULL
        )""",
        "CREATE INDEX history_by_job ON history (job_id)",  # (entries in rowid order: the order written)
        """CREATE TABLE members (
            position INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,
            added_at REAL NOT NULL
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    (
        # A snapshot of the whole watchlist (members, states, history) that the monitor leaves at
        # exit, valid while `meta.changes` (counting writes of states) is what it was then: the
        # next start reads one blob instead of 100,000 rows of each table.
        "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, "
        "changes INTEGER NOT NULL, data BLOB NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('changes', '0')",
    ),
    (
        # What the server said with the last error (a gateway's 502 page, an answer not JSON):
        # kept, so the detail pane and `check` show it after a restart too. Old rows get none.
        "ALTER TABLE jobs ADD COLUMN error_http_status INTEGER",
        "ALTER TABLE jobs ADD COLUMN error_reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN error_content_type TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN error_excerpt TEXT NOT NULL DEFAULT ''",
    ),
    (
        # The monitor's request outcomes per minute (the overview's request and error charts), so a
        # restart shows the last hour's: one row a minute, added to as the minute goes on.
        """CREATE TABLE activity (
            minute INTEGER PRIMARY KEY,
            sent INTEGER NOT NULL DEFAULT 0,
            accepted INTEGER NOT NULL DEFAULT 0,
            refused INTEGER NOT NULL DEFAULT 0,
            cut_backs INTEGER NOT NULL DEFAULT 0,
            inner_errors INTEGER NOT NULL DEFAULT 0,
            limit_errors INTEGER NOT NULL DEFAULT 0,
            transport_errors INTEGER NOT NULL DEFAULT 0,
            auth_errors INTEGER NOT NULL DEFAULT 0,
            other_errors INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    (
        # The result downloaded (downloads.py): where, its SHA-256 and size, so the table marks a
        # saved job after a restart and a file still there with that checksum is not fetched again.
        "ALTER TABLE jobs ADD COLUMN saved_path TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN saved_sha256 TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE jobs ADD COLUMN saved_bytes INTEGER NOT NULL DEFAULT 0",
    ),
)

Member = tuple[str, str, float]  # job_id, label, added_at


@dataclass(frozen=True, slots=True)
class Activity:
    """Request outcomes in one minute: what was added to it when put, its totals when read."""

    minute: int  # when the minute starts (seconds since the epoch, a multiple of 60)
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    cut_backs: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)  # kind (`ACTIVITY_KINDS`) -> failed attempts


_ACTIVITY_COLUMNS = ("sent", "accepted", "refused", "cut_backs", *ACTIVITY_KINDS.values())


def _activity_counts(activity: Activity) -> list[int]:
    """The activity's numbers in the order of `_ACTIVITY_COLUMNS` (a kind not kept counts as "other")."""
    counts = [activity.sent, activity.accepted, activity.refused, activity.cut_backs, *[0] * len(ACTIVITY_KINDS)]
    columns = list(ACTIVITY_KINDS)
    for kind, n in activity.errors.items():
        counts[4 + (columns.index(kind) if kind in ACTIVITY_KINDS else columns.index("other"))] += n
    return counts


def _add_counts(into: dict[int, list[int]], minute: int, counts: Sequence[int]) -> None:
    """Add a minute's counts (`_ACTIVITY_COLUMNS`) to what `into` holds for it."""
    summed = into.get(minute)
    if summed is None:
        into[minute] = list(counts)
    else:
        for i, n in enumerate(counts):
            summed[i] += n


def _activity_of(minute: int, counts: Sequence[int]) -> Activity:
    errors = {kind: n for kind, n in zip(ACTIVITY_KINDS, counts[4:], strict=True) if n}
    return Activity(minute, counts[0], counts[1], counts[2], counts[3], errors)
# What `ls` shows of a job: job_id, label, added_at, status_code, status_msg, result_video_url,
# last_request_id, error code, error message, error request_id, last_polled, and what the server
# said with the error: its HTTP status, Content-Type and excerpt.
Listed = tuple[str, str, float, str | None, str | None, str | None, str | None, str | None, str | None,
               str | None, float | None, int | None, str | None, str | None]

# The file's header (https://www.sqlite.org/fileformat.html): the magic string, and where
# `PRAGMA user_version` is kept.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_USER_VERSION_AT = 60
_LISTING_MMAP = 1 << 30  # bytes of the file `listing` may map (SQLite caps it at its build's limit)
_LOW_SPACE = 1 << 20  # bytes free under which a failed write is put down to a full disk


class JobDatabaseError(Exception):
    """The database cannot be opened, read or written; the message says why. What was written
    before is kept (SQLite rolls back a transaction that fails)."""


class JobDatabaseTooNew(JobDatabaseError):
    """Written by a newer vclm-watch: refused, and left untouched."""


def database_path(watchlist_path: Path) -> Path:
    """The database that goes with a watchlist file: beside its target, `NAME.db` for `NAME.toml`."""
    real = Path(os.path.realpath(watchlist_path))
    return real.with_suffix(".db") if real.suffix == ".toml" else real.with_name(real.name + ".db")


# A lone surrogate (JSON's "\ud800" decodes to one) has no UTF-8 form and SQLite cannot take it:
# it is stored as U+FFFD, as in the watchlist file, rather than making every write fail.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str | None) -> str | None:
    if text is None or text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _clean_members(members: Iterable[Member]) -> list[Member]:
    return [(job_id, label if label.isascii() else _SURROGATE.sub("\ufffd", label), added_at)
            for job_id, label, added_at in members]


def _error(path: Path, exc: BaseException, doing: str) -> JobDatabaseError:
    text = str(exc) or type(exc).__name__
    cause = _cause(path, exc)
    return JobDatabaseError(f"job database {path}: {doing} failed: {text}" + (f" ({cause})" if cause else ""))


def _cause(path: Path, exc: BaseException) -> str | None:
    """What SQLite's answer does not say: which limit was hit (it reports a file that may not
    grow as "disk I/O error"), or that the directory cannot be written (WAL needs two files there)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
        try:
            fs = os.statvfs(path.parent)
            if fs.f_bavail * fs.f_frsize < _LOW_SPACE:
                return f"the disk holding {path.parent} is full"
        except OSError:
            pass
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY:
            return f"this process may not write files over {soft} bytes (ulimit -f)"
        return None
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) and not os.access(path.parent, os.W_OK):
        return (f"the directory {path.parent} cannot be written, and the database needs {path.name}-wal and "
                f"{path.name}-shm beside it")
    return None


class JobDatabase:
    """One connection to one job database. Not shared between threads: each thread opens its own."""

    def __init__(self, path: Path, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self._timeout = timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = not self.path.exists()
            if not fresh:
                # Before SQLite opens it: opening a database in WAL mode makes -wal and -shm files
                # beside it, and closing the last connection checkpoints a WAL into the file.
                self._check_before_opening()
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise _error(self.path, exc, "opening") from None
        try:
            # Read the version before anything writes: a newer database must stay as it is.
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._too_new(version)
            if fresh:
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)
            self._retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses no commit
            self._migrate(version)
        except JobDatabaseError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise _error(self.path, exc, "opening") from None

    def _retry_locked(self, step: Callable[[], object]) -> None:
        """Run `step`, again while SQLite says "database is locked" without waiting itself (it
        does not wait when processes open a fresh file together and switch it to WAL at once)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                step()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _too_new(self, version: int) -> JobDatabaseTooNew:
        return JobDatabaseTooNew(
            f"job database {self.path} was written by a newer vclm-watch (schema {version}, this one "
            f"reads up to {SCHEMA_VERSION}); it was left untouched. Upgrade vclm-watch, or use "
            "--watchlist for another file.")

    def _check_before_opening(self) -> None:
        """Refuse, without SQLite touching anything, a file that is not an SQLite database and a
        database from a newer vclm-watch (its schema version is in the file's header)."""
        with open(self.path, "rb") as handle:
            header = handle.read(_HEADER_SIZE)
        if not header:
            return  # an empty file is an empty database
        if not header.startswith(_SQLITE_MAGIC):
            raise JobDatabaseError(
                f"job database {self.path} is not an SQLite database (another program's file?); it was left "
                "untouched. Move it away, or use --watchlist for another file.")
        if len(header) == _HEADER_SIZE:
            version = int.from_bytes(header[_USER_VERSION_AT:_USER_VERSION_AT + 4], "big", signed=True)
            if version > SCHEMA_VERSION:
                raise self._too_new(version)
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            # A newer vclm-watch may have upgraded the schema in a transaction still in the WAL: read
            # the version read-only (a read-only connection never checkpoints the WAL into the file).
            uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
            try:
                reader = sqlite3.connect(uri, uri=True, timeout=self._timeout, check_same_thread=False)
            except sqlite3.Error:
                return  # (the read-write open below says what is wrong)
            try:
                version = reader.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error:
                return
            finally:
                reader.close()
            if version > SCHEMA_VERSION:
                raise self._too_new(version)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> JobDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _error(self.path, exc, doing) from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _error(self.path, exc, doing) from None
            raise

    def _migrate(self, version: int) -> None:
        while version < SCHEMA_VERSION:
            with self._transaction(f"upgrading the schema to version {version + 1}") as db:
                current = db.execute("PRAGMA user_version").fetchone()[0]
                if current == version:  # (another process may have done it meanwhile)
                    for statement in _MIGRATIONS[version]:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version + 1}")
                version = db.execute("PRAGMA user_version").fetchone()[0]

    # -- the membership cache ------------------------------------------------------------------

    def cached_members(self, digest: str) -> list[Member] | None:
        """The watchlist's members if the cache was made from a file with this digest, else None."""
        try:
            if not self._meta_is("members_digest", digest):
                return None
            return self._members()
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading the watchlist cache") from None

    def replace_members(self, digest: str, members: Sequence[Member]) -> None:
        """Cache the members of the file whose bytes have this digest (all of them)."""
        with self._transaction("caching the watchlist") as db:
            db.execute("DELETE FROM members")
            db.executemany("INSERT OR IGNORE INTO members (job_id, label, added_at) VALUES (?, ?, ?)",
                           _clean_members(members))
            self._set_meta(db, "members_digest", digest)

    def update_members(self, old_digest: str | None, new_digest: str, *, upsert: Sequence[Member],
                       delete: Collection[str]) -> bool:
        """Change the cache from the file `old_digest` to the file `new_digest` by touching only
        these rows; False (nothing done) when the cache is not of `old_digest`."""
        with self._transaction("caching the watchlist") as db:
            if old_digest is None or not self._meta_is("members_digest", old_digest):
                return False
            db.executemany("DELETE FROM members WHERE job_id = ?", ((job_id,) for job_id in delete))
            db.executemany(
                "INSERT INTO members (job_id, label, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job_id) DO UPDATE SET label = excluded.label, added_at = excluded.added_at",
                _clean_members(upsert))
            self._set_meta(db, "members_digest", new_digest)
        return True

    def _members(self) -> list[Member]:
        """The cached watchlist's members, in the file's order (sqlite3.Error for the caller to name)."""
        return self._db.execute("SELECT job_id, label, added_at FROM members ORDER BY position").fetchall()

    def has_members_of(self, digest: str) -> bool:
        """The cache holds the members of the file with this digest."""
        try:
            return self._meta_is("members_digest", digest)
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading the watchlist cache") from None

    def members_present(self, job_ids: Collection[str]) -> set[str]:
        """Which of these ids the cached watchlist holds (looked up, not read whole)."""
        try:
            return {job_id for job_id in job_ids
                    if self._db.execute("SELECT 1 FROM members WHERE job_id = ?", (job_id,)).fetchone() is not None}
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading the watchlist cache") from None

    def save_snapshot(self, digest: str, records: Sequence[JobRecord]) -> None:
        """Keep these records (the watchlist of the file with this digest, as the monitor leaves it)
        as one blob, valid until the next change to members or states (see `watched_records`)."""
        data = marshal.dumps(_snapshot_of(records))
        with self._transaction("saving the watchlist snapshot") as db:
            changes = db.execute("SELECT value FROM meta WHERE key = 'changes'").fetchone()[0]
            db.execute("INSERT OR REPLACE INTO snapshot (id, digest, changes, data) VALUES (1, ?, ?, ?)",
                       (digest, int(changes), data))

    def _snapshot(self, digest: str) -> list[JobRecord] | None:
        """The watchlist from the snapshot, if no state changed since it was taken; else None.
        Members added or removed since (`add`, `remove`) are applied: the snapshot keeps states."""
        row = self._db.execute("SELECT s.digest, s.data FROM snapshot s JOIN meta m ON m.key = 'changes' "
                               "WHERE s.id = 1 AND s.changes = CAST(m.value AS INTEGER)").fetchone()
        if row is None:
            return None
        try:
            records = _records_of_snapshot(marshal.loads(row[1]))
        except (ValueError, EOFError, TypeError, IndexError):  # (a damaged blob: the tables say it all)
            records = None
        if records is None:
            log.warning("job database %s: the watchlist snapshot cannot be read; reading the tables", self.path)
            return None
        if row[0] == digest:
            return records
        known = {record.job_id: record for record in records}
        members = self._members()
        fresh = [JobRecord(job_id=job_id, label=label, added_at=added_at) for job_id, label, added_at in members
                 if job_id not in known]
        self.apply_to(fresh, responses=False)  # (a job watched again may have states from before)
        new = {record.job_id: record for record in fresh}
        out = []
        for job_id, label, added_at in members:
            record = known.get(job_id) or new[job_id]
            record.label, record.added_at = label, added_at
            out.append(record)
        return out

    def watched_records(self, digest: str) -> list[JobRecord] | None:
        """The members of the file with this digest as records filled with their states and
        history (no raw answers), in the file's order, read in one snapshot; None when the
        cache is of another file. (What the monitor loads: one record built per job.)"""
        try:
            self._db.execute("BEGIN")
            try:
                if not self.has_members_of(digest):
                    return None
                snapshot = self._snapshot(digest)
                if snapshot is not None:
                    return snapshot
                # One query for members and states (the join's lookups run in SQLite, without the
                # GIL: the UI goes on importing meanwhile), one scan of the history in the order written.
                rows = self._db.execute(f"SELECT {_ROW} FROM members m LEFT JOIN jobs j ON j.job_id = m.job_id "
                                        "ORDER BY m.position").fetchall()
                histories = _histories(self._db.execute("SELECT job_id, at, from_code, to_code FROM history "
                                                        "ORDER BY rowid"))
            finally:
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading job states") from None
        return _records(rows, histories)

    def listing(self, digest: str) -> list[Listed] | None:
        """The members of the file with this digest, each with its last known state, in the file's
        order, in one query (what `ls` prints); None when the cache is of another file."""
        try:
            # Members are read in the file's order and their jobs looked up all over the table:
            # through a memory map, those pages are not copied again and again into a cache too
            # small to keep them (0.1-0.2 s of `ls` at 100,000 jobs). Only for this read: a file
            # truncated under a map (vclm-watch never shrinks it: no VACUUM) or an I/O error there
            # is a signal, not an error, and the monitor's connections stay as they were.
            self._db.execute(f"PRAGMA mmap_size = {_LISTING_MMAP}")
            self._db.execute("BEGIN")  # (one snapshot for both reads)
            try:
                if not self.has_members_of(digest):
                    return None
                return self._db.execute(
                    "SELECT m.job_id, m.label, m.added_at, j.status_code, j.status_msg, j.result_video_url, "
                    "j.last_request_id, j.error_code, j.error_message, j.error_request_id, j.last_polled, "
                    "j.error_http_status, j.error_content_type, j.error_excerpt "
                    "FROM members m LEFT JOIN jobs j ON j.job_id = m.job_id ORDER BY m.position").fetchall()
            finally:
                self._db.execute("COMMIT")
                self._db.execute("PRAGMA mmap_size = 0")
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading the watchlist cache") from None

    def mark_written(self, digest: str) -> None:
        """Say that vclm-watch itself wrote the file with this digest (its own layout, one job
        per line): a later writer may change it line by line instead of writing it out whole."""
        with self._transaction("caching the watchlist") as db:
            self._set_meta(db, "written_digest", digest)

    def written(self, digest: str) -> bool:
        try:
            return self._meta_is("written_digest", digest)
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading the watchlist cache") from None

    def _meta_is(self, key: str, value: str) -> bool:
        """Whether `meta` holds `value` under `key` (sqlite3.Error for the caller to name)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] == value

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   (key, value))

    # -- observations ----------------------------------------------------------------------------

    def write(self, records: Iterable[JobRecord], now: float | None = None) -> int:
        """Store what is known of these jobs (their rows and history replaced) in one transaction;
        a job given twice is stored as its last record."""
        now = time.time() if now is None else now
        rows = []
        history: list[tuple[str, float, str | None, str | None]] = []
        ids = []
        for record in {record.job_id: record for record in records}.values():
            ids.append((record.job_id,))
            err = record.last_error
            rows.append((
                record.job_id, _clean(record.status_code), _clean(record.status_msg), _clean(record.result_video_url),
                record.url_received_at, record.state_since, record.last_change, record.last_polled,
                _clean(record.last_request_id), record.poll_count, record.last_latency,
                _clean(_dump_response(record.last_response)),
                _clean(err.code) if err else None, _clean(err.message) if err else None,
                _clean(err.request_id) if err else None, err.at if err else None, now,
                err.http_status if err else None, _clean(err.reason) if err else "",
                _clean(err.content_type) if err else "", _clean(err.excerpt) if err else "",
                _clean(record.saved_path), _clean(record.saved_sha256), record.saved_bytes))
            history.extend((record.job_id, t.at, _clean(t.from_code), _clean(t.to_code))
                           for t in record.history[-MAX_HISTORY:])
        if not rows:
            return 0
        with self._transaction("saving job states") as db:
            _changed(db)
            db.executemany(f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * 24)})", rows)
            db.executemany("DELETE FROM history WHERE job_id = ?", ids)
            db.executemany("INSERT INTO history VALUES (?, ?, ?, ?)", history)
        return len(rows)

    def apply_to(self, records: Iterable[JobRecord], *, responses: bool = True) -> int:
        """Fill these records with what the database knows of them (their ids and labels are
        kept); returns how many it knew. A job with a known state is marked stale: a last known
        state, not refreshed in this run yet. Without `responses` the raw last answers are left
        out (the monitor shows them for answers of its own run: 100,000 of them are ~100 MB)."""
        wanted = {record.job_id: record for record in records}
        if not wanted:
            return 0
        columns = _COLUMNS if responses else _COLUMNS.replace("last_response", "NULL")
        try:
            if len(wanted) > 500:  # most of the database: one scan beats many lookups
                rows = self._db.execute(f"SELECT {columns} FROM jobs").fetchall()
                transitions = self._db.execute("SELECT job_id, at, from_code, to_code FROM history ORDER BY job_id, rowid")
            else:
                marks = ", ".join("?" * len(wanted))
                rows = self._db.execute(f"SELECT {columns} FROM jobs WHERE job_id IN ({marks})", list(wanted)).fetchall()
                transitions = self._db.execute(
                    f"SELECT job_id, at, from_code, to_code FROM history WHERE job_id IN ({marks}) ORDER BY job_id, rowid",
                    list(wanted))
            known = 0
            for row in rows:
                record = wanted.get(row[0])
                if record is not None:
                    _fill(record, row)
                    known += 1
            for job_id, at, from_code, to_code in transitions:
                record = wanted.get(job_id)
                if record is not None:
                    record.history.append(Transition(at, from_code, to_code))
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading job states") from None
        return known

    def prune(self, keep: Collection[str], now: float, keep_days: float = DEFAULT_KEEP_DAYS) -> int:
        """Forget jobs not in `keep` (the watchlist) that nothing wrote for `keep_days`."""
        cutoff = now - keep_days * 86400
        with self._transaction("pruning old jobs") as db:
            old = [job_id for (job_id,) in db.execute("SELECT job_id FROM jobs WHERE written_at < ?", (cutoff,))
                   if job_id not in keep]
            if old:  # (every monitor prunes at its start: forgetting nothing must leave the snapshot valid)
                _changed(db)
            db.executemany("DELETE FROM jobs WHERE job_id = ?", ((job_id,) for job_id in old))
            db.executemany("DELETE FROM history WHERE job_id = ?", ((job_id,) for job_id in old))
        return len(old)

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    # -- request outcomes per minute -------------------------------------------------------------

    def add_activity(self, activities: Iterable[Activity], now: float,
                     keep_seconds: float = ACTIVITY_KEEP_SECONDS) -> None:
        """Add these outcomes to their minutes' rows (several processes may add to one minute),
        and forget the minutes older than `keep_seconds`, in one transaction."""
        rows = [(a.minute, *_activity_counts(a)) for a in activities]
        names = ", ".join(_ACTIVITY_COLUMNS)
        sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in _ACTIVITY_COLUMNS)
        with self._transaction("saving request outcomes") as db:
            db.executemany(f"INSERT INTO activity (minute, {names}) VALUES (?{', ?' * len(_ACTIVITY_COLUMNS)}) "
                           f"ON CONFLICT (minute) DO UPDATE SET {sums}", rows)
            db.execute("DELETE FROM activity WHERE minute < ?", (now - keep_seconds,))

    def activity(self, since: float) -> list[Activity]:
        """The request outcomes of the minutes that start at `since` or later, oldest first."""
        try:
            rows = self._db.execute(f"SELECT minute, {', '.join(_ACTIVITY_COLUMNS)} FROM activity WHERE minute >= ? "
                                    "ORDER BY minute", (since,)).fetchall()
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "reading request outcomes") from None
        return [_activity_of(row[0], row[1:]) for row in rows]


_COLUMNS = ("job_id, status_code, status_msg, result_video_url, url_received_at, state_since, last_change, "
            "last_polled, last_request_id, poll_count, last_latency, last_response, error_code, error_message, "
            "error_request_id, error_at, written_at, error_http_status, error_reason, error_content_type, error_excerpt, "
            "saved_path, saved_sha256, saved_bytes")


def _changed(db: sqlite3.Connection) -> None:
    """Count a change of states (in the writing transaction): it voids the snapshot."""
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'changes'")


# A record's row, in the order of JobRecord's fields up to last_latency (history apart), then what
# the server said with its last error: what the monitor's load reads from the tables, and what its
# snapshot keeps. One builder, `_records`.
_ROW = ("m.job_id, m.label, m.added_at, j.status_code, j.status_msg, j.result_video_url, j.url_received_at, "
        "j.state_since, j.last_change, j.last_request_id, j.error_code, j.error_message, j.error_request_id, "
        "j.error_at, j.poll_count, j.last_polled, j.last_latency, "
        "j.error_http_status, j.error_reason, j.error_content_type, j.error_excerpt, "
        "j.saved_path, j.saved_sha256, j.saved_bytes")
ROW_FIELDS = 24
Row = tuple[Any, ...]


def _records(rows: Iterable[Row], histories: dict[str, list[Transition]]) -> list[JobRecord]:
    """Records from their rows (`_ROW`: a state column is None for a job never seen) and histories."""
    get = histories.get
    # (positional, in JobRecord's field order, in one comprehension: one call per job is what
    # makes 100,000 cheap)
    return [JobRecord(job_id, label, added_at, status, message or "", url or "", url_at, since, change,
                      get(job_id) or [], request_id,
                      None if code is None else _last_error(code, text, error_request, error_at, http_status, reason,
                                                            content_type, body_excerpt),
                      polls or 0, polled, latency, None, None, status is not None, saved_path or "",
                      saved_sha256 or "", saved_bytes or 0)
            for (job_id, label, added_at, status, message, url, url_at, since, change, request_id, code, text,
                 error_request, error_at, polls, polled, latency, http_status, reason, content_type, body_excerpt,
                 saved_path, saved_sha256, saved_bytes)
            in rows]


def _last_error(code: str, message: str | None, request_id: str | None, at: float | None, http_status: int | None,
                reason: str | None, content_type: str | None, body_excerpt: str | None) -> LastError:
    """A job's last error from its columns (those added by schema 3 are NULL in older rows)."""
    return LastError(code, message or "", request_id, at or 0.0, http_status, reason or "", content_type or "",
                     body_excerpt or "")


def _histories(rows: Iterable[tuple[str, float, str | None, str]]) -> dict[str, list[Transition]]:
    """Each job's transitions from (job_id, at, from_code, to_code) rows, in the order given."""
    out: dict[str, list[Transition]] = {}
    make = Transition._make
    for row in rows:
        history = out.get(row[0])
        if history is None:
            out[row[0]] = [make(row[1:])]
        else:
            history.append(make(row[1:]))
    return out


_SNAPSHOT_FORMAT = 3  # 1 (a list of a tuple per job, history inside), 2 (no saved file) are read as no snapshot


def _snapshot_of(records: Sequence[JobRecord]) -> tuple[int, list[Row], list[tuple[str, float, str | None, str]]]:
    """What `save_snapshot` keeps (for `marshal`): the records' rows, and their transitions as rows
    (plain tuples and strings: `marshal.loads` makes them in C, far faster than JSON or pickle)."""
    rows = []
    transitions: list[tuple[str, float, str | None, str]] = []
    for r in records:
        err = r.last_error
        rows.append((r.job_id, r.label, r.added_at, r.status_code, r.status_msg, r.result_video_url,
                     r.url_received_at, r.state_since, r.last_change, r.last_request_id,
                     err.code if err else None, err.message if err else None, err.request_id if err else None,
                     err.at if err else None, r.poll_count, r.last_polled, r.last_latency,
                     err.http_status if err else None, err.reason if err else None, err.content_type if err else None,
                     err.excerpt if err else None, r.saved_path, r.saved_sha256, r.saved_bytes))
        if r.history:
            job_id = r.job_id
            transitions.extend((job_id, *t) for t in r.history[-MAX_HISTORY:])
    return _SNAPSHOT_FORMAT, rows, transitions


def _records_of_snapshot(data: Any) -> list[JobRecord] | None:
    """The records a snapshot holds; None when it is of another format."""
    if not isinstance(data, tuple) or len(data) != 3 or data[0] != _SNAPSHOT_FORMAT:
        return None
    _, rows, transitions = data
    if rows and len(rows[0]) != ROW_FIELDS:
        return None
    return _records(rows, _histories(transitions))


def _dump_response(response: dict[str, Any] | None) -> str | None:
    if response is None:
        return None
    try:
        return json.dumps(response, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):  # (not JSON; a cycle; nested too deep)
        return None


def _fill(record: JobRecord, row: tuple[Any, ...]) -> None:
    (_, record.status_code, record.status_msg, record.result_video_url, record.url_received_at, record.state_since,
     record.last_change, record.last_polled, record.last_request_id, record.poll_count, record.last_latency,
     response, code, message, request_id, at, _, http_status, reason, content_type, body_excerpt,
     saved_path, saved_sha256, saved_bytes) = row
    record.saved_path, record.saved_sha256, record.saved_bytes = saved_path or "", saved_sha256 or "", saved_bytes or 0
    record.last_response = None
    if response is not None:
        with contextlib.suppress(ValueError):
            loaded = json.loads(response)
            record.last_response = loaded if isinstance(loaded, dict) else None
    record.last_error = (_last_error(code, message, request_id, at, http_status, reason, content_type, body_excerpt)
                         if code is not None else None)
    record.history = []
    record.stale = record.status_code is not None


def snapshot(record: JobRecord) -> JobRecord:
    """A copy that the writer thread can read while the engine goes on changing the original."""
    return replace(record, history=list(record.history))


class ObservationWriter:
    """Writes job records to the database from a thread of its own, in batches.

    `put(record)` (on any thread, the UI loop included) takes a snapshot and returns at once;
    the thread writes every `interval` seconds whatever was put since, the latest snapshot of
    each job only, in one transaction. A failed write (disk full, read-only, busy) keeps the
    batch for the next try and sets `error`; the next successful write clears it.

    `put_activity(activity)` adds request outcomes to their minute; what was added up is written
    every `activity_every` seconds at most (at once by `flush` and `close`), each minute's row
    added to in the database (an upsert), and minutes older than a day are pruned there.
    """

    def __init__(self, path: Path, *, interval: float = 0.5, clock: Callable[[], float] = time.time,
                 on_write: Callable[[int], None] | None = None,
                 prune: tuple[Collection[str], float] | None = None, activity_every: float = ACTIVITY_EVERY) -> None:
        self.path = path
        # (watched ids, days): before its first write, the thread forgets the jobs not watched
        # that nothing wrote for that many days (retention, config `history_days`).
        self._prune = prune
        self.pruned = 0
        self.interval = interval
        self._clock = clock
        self._on_write = on_write
        self._pending: dict[str, JobRecord] = {}
        self._activity: dict[int, list[int]] = {}  # minute -> counts added since the last write (`_ACTIVITY_COLUMNS`)
        self._activity_every = activity_every
        self._activity_at = time.monotonic() + activity_every  # when the outcomes added up are written next
        self._activity_now = False  # flush(): write them at once
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._writing = False
        self._pruning = prune is not None  # the prune at start: flush() waits for it too (it opens the database)
        self._closing = False
        self._attempts = 0  # writes tried so far, successful or not (what flush() waits for)
        self.error: JobDatabaseError | None = None
        self.written = 0  # records written (for tests and benchmarks)
        self._thread = threading.Thread(target=self._run, name="vclm-watch-db-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending) + (1 if self._writing else 0)

    def put(self, record: JobRecord) -> None:
        copy = snapshot(record)
        with self._lock:
            self._pending[record.job_id] = copy

    def put_many(self, records: Iterable[JobRecord]) -> None:
        copies = [snapshot(record) for record in records]
        with self._lock:
            for copy in copies:
                self._pending[copy.job_id] = copy

    def put_activity(self, activity: Activity) -> None:
        """Add request outcomes to their minute (any thread; returns at once)."""
        counts = _activity_counts(activity)
        with self._lock:
            _add_counts(self._activity, activity.minute, counts)

    def _activity_due(self) -> bool:
        return bool(self._activity) and (self._activity_now or self._closing or time.monotonic() >= self._activity_at)

    def flush(self, timeout: float | None = None) -> bool:
        """Write what was put so far now; True once it is written (False: timed out or failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            # A write that fails keeps its batch; flush() waits for one more try (the cause may
            # be gone), not just for the thread to go idle: a write begun before this call may
            # not hold what was put just now.
            tried = self._attempts + (2 if self._writing else 1)
            self._activity_now = True
            self._wake.notify()
            while self._pending or self._activity or self._writing or self._pruning:
                if self.error is not None and not self._writing and self._attempts >= tried:
                    return False
                if not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(0.05 if left is None else min(left, 0.05))  # (a missed wake-up costs 50 ms)
                self._wake.notify()
            return self.error is None

    def close(self, timeout: float = 2.0) -> bool:
        """Write what is pending and stop the thread, within `timeout` seconds in all; False when
        something could not be written (the database keeps failing) or the time ran out."""
        deadline = time.monotonic() + timeout
        done = self.flush(timeout)
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return done and not self._thread.is_alive()

    def _run(self) -> None:
        db: JobDatabase | None = None
        try:
            if self._prune is not None:
                try:
                    db = JobDatabase(self.path)
                    self.pruned = db.prune(self._prune[0], self._clock(), self._prune[1])
                except JobDatabaseError as exc:  # (the first write reports what is wrong)
                    log.warning("old jobs were not pruned from the job database: %s", exc)
                finally:
                    with self._lock:
                        self._pruning = False
                        self._idle.notify_all()
            while True:
                with self._lock:
                    if not self._pending and not self._closing and not self._activity_due():
                        self._wake.wait(self.interval)
                    if self._closing and (not (self._pending or self._activity) or self.error is not None):
                        return
                    due = self._activity_due()
                    if not self._pending and not due:
                        continue
                    batch, self._pending = self._pending, {}
                    activity: dict[int, list[int]] = {}
                    if due:
                        activity, self._activity = self._activity, {}
                        self._activity_now = False
                        self._activity_at = time.monotonic() + self._activity_every
                    self._writing = True
                written = False
                try:
                    if db is None:
                        db = JobDatabase(self.path)
                    now = self._clock()
                    if batch:
                        db.write(batch.values(), now=now)
                    written = True
                    if activity:
                        db.add_activity((_activity_of(minute, counts) for minute, counts in activity.items()), now)
                    error = None
                except JobDatabaseError as exc:
                    error = exc
                except Exception as exc:  # nothing may end the thread: the batch is kept, the error shown
                    error = _error(self.path, exc, "saving job states")
                with self._lock:
                    self._attempts += 1
                    self._writing = False
                    if error is not None:
                        if not written:
                            for job_id, copy in batch.items():  # keep the batch: newer snapshots win
                                self._pending.setdefault(job_id, copy)
                        for minute, counts in activity.items():  # ...and what was added up: added to since
                            _add_counts(self._activity, minute, counts)
                    if written:
                        self.written += len(batch)
                    self.error = error
                    self._idle.notify_all()
                if error is not None:
                    with self._lock:  # back off before retrying; close() still wakes it
                        self._wake.wait(min(self.interval * 4, 2.0))
                elif self._on_write is not None and batch:
                    try:
                        self._on_write(len(batch))
                    except Exception:  # the caller's bug must not stop the writes
                        log.exception("the job database writer's on_write callback failed")
        finally:
            if db is not None:
                db.close()
            with self._lock:
                self._idle.notify_all()
