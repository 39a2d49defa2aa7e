"""The job database: what is stored comes back as it was, the watchlist's cache, pruning, the
schema's version, and the writer thread that keeps all of it off the UI loop."""

from __future__ import annotations

import marshal
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tui.core.jobdb import (
    ACTIVITY_KEEP_SECONDS,
    SCHEMA_VERSION,
    Activity,
    JobDatabase,
    JobDatabaseError,
    JobDatabaseTooNew,
    ObservationWriter,
    database_path,
)
from tui.core.jobstate import MAX_HISTORY, JobRecord, LastError, Transition

REPO = Path(__file__).resolve().parents[2]
T0 = 1_764_294_000.123456  # times with microseconds
LONG_URL = ("https://vcg.example.com/result/3f1c.mp4?sign=" + "q" * 1500
            + "&token=a%2Fb%3D%3D&expires=1764297600#frag")


def full_record(job_id: str = "3f1c2a9e8b7d4c6f9e0a1b2c3d4e5f60") -> JobRecord:
    record = JobRecord(job_id=job_id, label="ünïcode — clip [red]x[/red]", added_at=T0,
                       status_code="JobSuccess", status_msg="处理完成 ✓ — done\nsecond line\t\x00nul",
                       result_video_url=LONG_URL, url_received_at=T0 + 95.500001, state_since=T0 + 95.5,
                       last_change=T0 + 95.25, last_request_id="8e2b7f1a-0c3d-4e5f-a6b7-c8d9e0f1a2b3",
                       last_error=LastError("RequestLimitExceeded", "too many — 请稍后", "9999-8888", T0 + 3.000007),
                       poll_count=12, last_polled=T0 + 95.999999, last_latency=0.123456789,
                       last_response={"Response": {"JobId": job_id, "StatusCode": "JobSuccess", "Nested": [1, 2.5, None,
                                      {"k": "ü"}], "Empty": {}, "Big": 2 ** 62}})
    record.history = [Transition(T0 + 1.25, None, "JobQueuing"), Transition(T0 + 20.5, "JobQueuing", "JobRunning"),
                      Transition(T0 + 95.5, "JobRunning", "JobSuccess")]
    return record


OBSERVED = ("status_code", "status_msg", "result_video_url", "url_received_at", "state_since", "last_change",
            "history", "last_request_id", "last_error", "poll_count", "last_polled", "last_latency", "last_response")


def observed(record: JobRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in OBSERVED}


def read_back(path: Path, job_id: str, **kept) -> JobRecord:
    record = JobRecord(job_id=job_id, **kept)
    with JobDatabase(path) as db:
        db.apply_to([record])
    return record


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "watchlist.db"


# -- records ---------------------------------------------------------------------------------

def test_every_observed_field_of_a_record_comes_back_as_it_was_written(db_path: Path) -> None:
    written = full_record()
    with JobDatabase(db_path) as db:
        assert db.write([written], now=T0 + 100) == 1
    back = read_back(db_path, written.job_id)
    assert observed(back) == observed(written)
    assert repr(back.url_received_at) == repr(written.url_received_at)  # to the last bit, not just close


def test_a_record_with_nothing_observed_comes_back_empty_and_not_stale(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        db.write([JobRecord(job_id="b" * 32)])
    back = read_back(db_path, "b" * 32)
    assert observed(back) == observed(JobRecord(job_id="b" * 32))
    assert back.stale is False


def test_reading_back_keeps_the_records_own_id_label_and_added_time(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        db.write([full_record()])
    back = read_back(db_path, full_record().job_id, label="mine", added_at=5.0)
    assert (back.label, back.added_at) == ("mine", 5.0)


@pytest.mark.parametrize("field", ["status_msg", "result_video_url", "last_request_id", "error", "response", "history"])
def test_a_lone_surrogate_is_stored_as_a_replacement_character_and_nothing_fails(db_path: Path, field: str) -> None:
    # Python's sqlite3 cannot encode a lone surrogate (JSON's "\ud800" decodes to one): it must
    # not make the write fail (nor end the writer thread), the rest is kept as it was.
    record = full_record()
    bad = "before \ud800 after"
    if field == "error":
        record.last_error = LastError("InternalError", bad, bad, T0)
    elif field == "response":
        record.last_response = {"Response": {"StatusMsg": bad}}
    elif field == "history":
        record.history = [Transition(T0, None, bad)]
    else:
        setattr(record, field, bad)
    with JobDatabase(db_path) as db:
        db.write([record])
    back = read_back(db_path, record.job_id)
    text = repr(observed(back))
    assert "before \ufffd after" in text and "\ud800" not in text
    assert back.poll_count == 12 and back.result_video_url in (LONG_URL, "before \ufffd after")


def test_history_is_bounded_and_keeps_its_order_even_for_changes_seen_at_the_same_moment(db_path: Path) -> None:
    record = JobRecord(job_id="c" * 32, status_code="JobRunning")
    codes = ["JobQueuing", "JobRunning", "JobSuccess", "JobFailed"]
    record.history = [Transition(T0 + i // 3, codes[i % 4], codes[(i + 1) % 4]) for i in range(MAX_HISTORY + 30)]
    with JobDatabase(db_path) as db:
        db.write([record])
        record.history = record.history[-10:]
        db.write([record])  # a rewrite replaces the history, it does not add to it
    assert read_back(db_path, record.job_id).history == record.history
    record.history = [Transition(T0 + i // 3, codes[i % 4], codes[(i + 1) % 4]) for i in range(MAX_HISTORY + 30)]
    with JobDatabase(db_path) as db:
        db.write([record])
    assert read_back(db_path, record.job_id).history == record.history[-MAX_HISTORY:]


def test_a_job_given_twice_in_one_write_is_stored_once_as_its_last_record(db_path: Path) -> None:
    first, last = full_record(), full_record()
    last.poll_count = 13
    last.history = last.history[:2]
    with JobDatabase(db_path) as db:
        assert db.write([first, last]) == 1
        assert db.count() == 1
    assert observed(read_back(db_path, first.job_id)) == observed(last)


def test_an_answer_that_cannot_be_stored_as_json_is_dropped_and_the_rest_written(db_path: Path) -> None:
    record = full_record()
    deep: dict = {}
    inner = deep
    for _ in range(100_000):
        inner["x"] = inner = {}
    record.last_response = deep
    with JobDatabase(db_path) as db:
        db.write([record])
    back = read_back(db_path, record.job_id)
    assert back.last_response is None and back.poll_count == 12


@pytest.mark.parametrize("how_many", [1, 600], ids=["one job (lookups)", "most of the database (one scan)"])
def test_history_comes_back_in_the_order_written_even_when_the_clock_stepped_back(db_path: Path, how_many) -> None:
    records = [JobRecord(job_id=f"{i:032x}", status_code="JobRunning") for i in range(how_many)]
    for record in records:
        record.history = [Transition(T0 + 60, None, "JobQueuing"), Transition(T0 - 3600, "JobQueuing", "JobRunning"),
                          Transition(T0, "JobRunning", "JobFailed")]
    with JobDatabase(db_path) as db:
        db.write(records)
    asked = [JobRecord(job_id=r.job_id) for r in records]
    with JobDatabase(db_path) as db:
        db.apply_to(asked)
    assert [r.history for r in asked] == [r.history for r in records]


@pytest.mark.parametrize("how_many", [3, 600], ids=["a few (lookups)", "most of the database (one scan)"])
def test_apply_to_fills_only_the_jobs_asked_and_marks_known_states_stale(db_path: Path, how_many: int) -> None:
    records = [full_record(f"{i:032x}") for i in range(how_many + 2)]
    records[1].status_code = None  # an error but never a state: nothing to mark stale
    with JobDatabase(db_path) as db:
        db.write(records)
    asked = [JobRecord(job_id=f"{i:032x}") for i in range(how_many)] + [JobRecord(job_id="f" * 32)]
    with JobDatabase(db_path) as db:
        assert db.apply_to(asked) == how_many
    for record in asked[:how_many]:
        assert observed(record) == observed(records[int(record.job_id, 16)])
    assert [r.stale for r in asked[:3]] == [True, False, True]
    assert observed(asked[-1]) == observed(JobRecord(job_id="f" * 32)) and asked[-1].stale is False


def test_two_connections_in_one_process_both_read_and_write(db_path: Path) -> None:
    with JobDatabase(db_path) as first, JobDatabase(db_path) as second:
        first.write([full_record("a" * 32)])
        second.write([full_record("b" * 32)])
        seen = [JobRecord(job_id="a" * 32), JobRecord(job_id="b" * 32)]
        assert first.apply_to(seen) == 2
        assert second.count() == 2


# -- the watchlist's membership cache --------------------------------------------------------

MEMBERS = [("a" * 32, "first", T0), ("b" * 32, "sécond [b]", T0 + 1), ("c" * 32, "", T0 + 2.000001)]


def test_the_members_cache_answers_only_for_the_digest_it_was_made_from(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        assert db.cached_members("d1") is None
        db.replace_members("d1", MEMBERS)
        assert db.cached_members("d1") == MEMBERS
        assert db.cached_members("d2") is None


def test_a_lone_surrogate_in_a_label_is_cached_as_a_replacement_character(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        db.replace_members("d1", [("a" * 32, "x\udcff", T0)])
        assert db.update_members("d1", "d2", upsert=[("b" * 32, "\ud800y", T0)], delete=[])
        assert db.cached_members("d2") == [("a" * 32, "x\ufffd", T0), ("b" * 32, "\ufffdy", T0)]


def _record_touches(path: Path) -> None:
    """Triggers (in the file, so every connection runs them) that log each row touched."""
    with sqlite3.connect(path) as other:
        other.executescript("""
            CREATE TABLE touched (job_id TEXT);
            CREATE TRIGGER t_ins AFTER INSERT ON members BEGIN INSERT INTO touched VALUES (new.job_id); END;
            CREATE TRIGGER t_upd AFTER UPDATE ON members BEGIN INSERT INTO touched VALUES (new.job_id); END;
            CREATE TRIGGER t_del AFTER DELETE ON members BEGIN INSERT INTO touched VALUES (old.job_id); END;
        """)
    other.close()


def _touched(path: Path) -> list[str]:
    with sqlite3.connect(path) as other:
        rows = [job_id for (job_id,) in other.execute("SELECT job_id FROM touched ORDER BY rowid")]
    other.close()
    return rows


def test_update_members_touches_only_the_rows_given(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        db.replace_members("d1", MEMBERS)
    _record_touches(db_path)
    with JobDatabase(db_path) as db:
        assert db.update_members("d1", "d2", upsert=[("b" * 32, "renamed", T0 + 1), ("e" * 32, "new", T0 + 9)],
                                 delete=["a" * 32])
        assert db.cached_members("d2") == [("b" * 32, "renamed", T0 + 1), ("c" * 32, "", T0 + 2.000001),
                                           ("e" * 32, "new", T0 + 9)]
    assert sorted(_touched(db_path)) == ["a" * 32, "b" * 32, "e" * 32]


@pytest.mark.parametrize("old", [None, "someone else's digest"])
def test_update_members_refuses_a_cache_made_from_another_file_and_changes_nothing(db_path: Path, old) -> None:
    with JobDatabase(db_path) as db:
        db.replace_members("d1", MEMBERS)
        assert db.update_members(old, "d2", upsert=[("e" * 32, "new", T0)], delete=["a" * 32]) is False
        assert db.cached_members("d1") == MEMBERS
        assert db.cached_members("d2") is None


# -- pruning ---------------------------------------------------------------------------------

def test_prune_forgets_only_unwatched_jobs_nobody_wrote_for_the_given_days(db_path: Path) -> None:
    day = 86400.0
    old_watched, old_unwatched, recent_unwatched = full_record("a" * 32), full_record("b" * 32), full_record("c" * 32)
    with JobDatabase(db_path) as db:
        db.write([old_watched, old_unwatched], now=T0)
        db.write([recent_unwatched], now=T0 + 9.5 * day)
        assert db.prune(keep={"a" * 32}, now=T0 + 10 * day + 1, keep_days=10) == 1
        assert db.count() == 2
        assert db.prune(keep={"a" * 32}, now=T0 + 10 * day + 1, keep_days=10) == 0
    assert read_back(db_path, "b" * 32).history == []  # its history went with it
    assert observed(read_back(db_path, "a" * 32)) == observed(old_watched)
    assert observed(read_back(db_path, "c" * 32)) == observed(recent_unwatched)


# -- the schema, and files that are not ours ---------------------------------------------------

def _user_version(path: Path) -> int:
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return reader.execute("PRAGMA user_version").fetchone()[0]
    finally:
        reader.close()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_fresh_database_gets_the_current_schema_version(db_path: Path) -> None:
    JobDatabase(db_path).close()
    assert _user_version(db_path) == SCHEMA_VERSION
    assert oct(db_path.stat().st_mode & 0o777) == oct(0o600)


def _newer(path: Path, *, wal: bool) -> None:
    with JobDatabase(path) as db:
        db.write([full_record()])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    other.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    other.close()


@pytest.mark.parametrize("wal", [True, False], ids=["WAL mode", "rollback journal"])
def test_a_database_from_a_newer_version_is_refused_and_left_byte_for_byte(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "watchlist.db"
    _newer(path, wal=wal)
    before = _files(tmp_path)
    too_new = rf"newer vclm-watch \(schema {SCHEMA_VERSION + 1}, this one reads up to {SCHEMA_VERSION}\).*left untouched"
    with pytest.raises(JobDatabaseTooNew, match=too_new):
        JobDatabase(path)
    assert _files(tmp_path) == before  # no -wal or -shm made beside it either


def test_a_newer_schema_still_in_the_write_ahead_log_is_refused_and_neither_file_changes(tmp_path: Path) -> None:
    # A newer vclm-watch upgraded the schema and was killed before the WAL went into the file:
    # the file's header still says version 1. Closing a read-write connection would checkpoint.
    source = tmp_path / "live" / "watchlist.db"
    with JobDatabase(source) as db:
        db.write([full_record()])
    newer = sqlite3.connect(source, isolation_level=None)
    newer.execute("PRAGMA wal_autocheckpoint = 0")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    left = tmp_path / "left"  # what the killed process left: the file and its WAL
    left.mkdir()
    for name in ("watchlist.db", "watchlist.db-wal"):
        (left / name).write_bytes((source.parent / name).read_bytes())
    newer.close()
    before = _files(left)
    with pytest.raises(JobDatabaseTooNew):
        JobDatabase(left / "watchlist.db")
    after = _files(left)
    assert {name: after[name] for name in before} == before


GARBAGE = {
    "random bytes": os.urandom(4096),
    "a TOML file": b'version = 2\njobs = [\n  { id = "aaaa" },\n]\n',
    "a short text": b"hello",
    "SQLite's magic then garbage": b"SQLite format 3\x00" + b"\xff" * 4000,
}


@pytest.mark.parametrize("kind", GARBAGE)
def test_a_file_that_is_not_a_database_is_refused_with_a_clear_message_and_left_as_it_was(tmp_path: Path, kind) -> None:
    path = tmp_path / "watchlist.db"
    path.write_bytes(GARBAGE[kind])
    with pytest.raises(JobDatabaseError) as caught:
        JobDatabase(path)
    assert str(path) in str(caught.value)
    assert "not" in str(caught.value) and "database" in str(caught.value)
    assert not isinstance(caught.value, JobDatabaseTooNew)
    assert _files(tmp_path) == {"watchlist.db": GARBAGE[kind]}


def test_an_empty_file_is_an_empty_database(db_path: Path) -> None:
    db_path.write_bytes(b"")
    with JobDatabase(db_path) as db:
        assert db.count() == 0
    assert _user_version(db_path) == SCHEMA_VERSION


OPENER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tui.core.jobdb import JobDatabase
from tui.core.jobstate import JobRecord
print("ready", flush=True)
sys.stdin.readline()
with JobDatabase(Path(sys.argv[1])) as db:
    db.write([JobRecord(job_id=sys.argv[3] * 32, status_code="JobRunning")])
"""


def test_processes_opening_a_fresh_file_at_the_same_moment_all_get_one_schema(db_path: Path) -> None:
    openers = [subprocess.Popen([sys.executable, "-c", OPENER, str(db_path), str(REPO), c], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in "abcd"]
    for process in openers:
        assert process.stdout.readline().strip() == "ready"
    for process in openers:  # go, all at once
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in openers:
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
    assert _user_version(db_path) == SCHEMA_VERSION
    with JobDatabase(db_path) as db:
        assert db.count() == 4


def test_the_database_of_a_watchlist_sits_beside_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real" / "list.toml"
    target.parent.mkdir()
    target.write_text("")
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    assert database_path(link) == target.with_suffix(".db")
    assert database_path(tmp_path / "list") == tmp_path / "list.db"


# -- the writer thread -----------------------------------------------------------------------

def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vclm-watch-db-writer"]


@pytest.fixture
def writer(db_path: Path):
    made: list[ObservationWriter] = []

    def make(**kwargs) -> ObservationWriter:
        kwargs.setdefault("interval", 3600.0)  # nothing written until flushed: the test decides when
        made.append(ObservationWriter(db_path, clock=lambda: T0, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close(timeout=5)


def test_put_hands_the_record_to_the_writer_thread_which_writes_it_at_flush(db_path: Path, writer) -> None:
    threads: list[str] = []
    w = writer(on_write=lambda n: threads.append(threading.current_thread().name))
    w.put(full_record())
    assert read_back(db_path, full_record().job_id).status_code is None  # not yet: only on the thread's turn
    assert w.flush(timeout=10)
    assert observed(read_back(db_path, full_record().job_id)) == observed(full_record())
    assert threads == ["vclm-watch-db-writer"] and w.written == 1


def test_only_the_latest_snapshot_of_a_job_is_written_in_one_batch(db_path: Path, writer) -> None:
    batches: list[int] = []
    w = writer(on_write=batches.append)
    record = full_record()
    for count in range(1, 6):
        record.poll_count = count
        w.put(record)
    w.put_many([record, full_record("b" * 32)])
    record.poll_count = 99
    w.put(record)
    assert w.flush(timeout=10)
    assert w.written == 2 and batches == [2]
    assert read_back(db_path, record.job_id).poll_count == 99


def test_a_snapshot_does_not_change_when_the_engine_changes_the_record_afterwards(db_path: Path, writer) -> None:
    w = writer()
    record = full_record()
    w.put(record)
    record.status_code = "JobFailed"  # the engine changes its records in place
    record.history.append(Transition(T0 + 200, "JobSuccess", "JobFailed"))
    record.poll_count += 1
    assert w.flush(timeout=10)
    assert observed(read_back(db_path, record.job_id)) == observed(full_record())


def test_a_record_sqlite_cannot_take_does_not_stop_the_writer(db_path: Path, writer) -> None:
    w = writer()
    record = full_record()
    record.status_msg = "\udfff"
    w.put(record)
    assert w.flush(timeout=10), w.error
    w.put(full_record("b" * 32))
    assert w.flush(timeout=10)
    assert read_back(db_path, "b" * 32).status_code == "JobSuccess"


REFUSE = ("CREATE TRIGGER full BEFORE INSERT ON jobs "
          "BEGIN SELECT RAISE(ABORT, 'database or disk is full (made so by the test)'); END")


def _sql(path: Path, statement: str) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute(statement)
    finally:
        other.close()


def test_a_failed_write_names_the_file_and_the_cause_keeps_the_batch_and_recovers(db_path: Path, writer) -> None:
    JobDatabase(db_path).close()
    _sql(db_path, REFUSE)  # SQLite itself refuses every write of a job, as a full disk makes it
    w = writer()
    w.put_many([full_record("a" * 32), full_record("b" * 32)])
    assert w.flush(timeout=10) is False
    assert w.error is not None
    assert str(db_path) in str(w.error) and "database or disk is full" in str(w.error)
    assert w.pending == 2  # kept for the next try
    _sql(db_path, "DROP TRIGGER full")  # space is back
    w.put(full_record("c" * 32))
    assert w.flush(timeout=10) is True  # a flush tries again at once, not at the end of the back-off
    assert w.error is None and w.pending == 0
    with JobDatabase(db_path) as db:
        assert db.count() == 3


def test_a_database_that_cannot_be_opened_yet_is_opened_at_the_next_try(db_path: Path, writer) -> None:
    db_path.mkdir()  # something in the way: SQLite cannot open it
    w = writer()
    w.put(full_record())
    assert w.flush(timeout=10) is False
    assert str(db_path) in str(w.error) and "opening" in str(w.error)
    db_path.rmdir()
    assert w.flush(timeout=10) is True
    assert read_back(db_path, full_record().job_id).poll_count == 12


def test_close_writes_what_is_pending_and_stops_the_thread(db_path: Path) -> None:
    before = set(_writer_threads())
    w = ObservationWriter(db_path, interval=3600.0)
    (thread,) = set(_writer_threads()) - before
    w.put(full_record())
    assert w.close(timeout=10) is True
    assert not thread.is_alive()
    assert read_back(db_path, full_record().job_id).poll_count == 12


def test_close_gives_up_on_a_database_that_keeps_failing(db_path: Path) -> None:
    JobDatabase(db_path).close()
    _sql(db_path, REFUSE)
    before = set(_writer_threads())
    w = ObservationWriter(db_path, interval=3600.0)
    (thread,) = set(_writer_threads()) - before
    w.put(full_record())
    result: list[bool] = []
    closer = threading.Thread(target=lambda: result.append(w.close(timeout=0.5)))
    closer.start()
    closer.join(30)  # a bound for a hang, far above the timeout given
    assert result == [False]
    assert not thread.is_alive()
    assert w.error is not None


def test_the_writer_forgets_unwatched_jobs_older_than_the_retention_before_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    day = 86400.0
    with JobDatabase(path) as db:
        db.write([JobRecord(job_id=c * 32, status_code="JobSuccess") for c in "abc"], now=1000 * day)
        db.write([JobRecord(job_id="d" * 32, status_code="JobSuccess")], now=1025 * day)
    writer = ObservationWriter(path, clock=lambda: 1031 * day, prune=({"a" * 32}, 30.0))
    writer.put(JobRecord(job_id="e" * 32, status_code="JobRunning"))
    assert writer.close(5.0)
    assert writer.pruned == 2  # b and c: not watched, written 31 days ago; a is watched, d is recent
    with JobDatabase(path) as db:
        known = [JobRecord(job_id=c * 32) for c in "abcde"]
        db.apply_to(known)
    assert [r.status_code for r in known] == ["JobSuccess", None, None, "JobSuccess", "JobRunning"]


def test_flush_waits_for_the_prune_at_start_even_with_nothing_put(tmp_path: Path) -> None:
    # (a caller that flushes, then moves the directory away, must not race the thread's first open)
    path = tmp_path / "watchlist.db"
    day = 86400.0
    with JobDatabase(path) as db:
        db.write([JobRecord(job_id=c * 32, status_code="JobSuccess") for c in "abc"], now=1000 * day)
    opened, release = threading.Event(), threading.Event()
    real_prune = JobDatabase.prune

    def held_prune(self, *args, **kwargs):  # a prune that takes a while (a big database)
        opened.set()
        release.wait(10)
        return real_prune(self, *args, **kwargs)

    JobDatabase.prune = held_prune  # type: ignore[method-assign]
    try:
        writer = ObservationWriter(path, clock=lambda: 1031 * day, prune=({"a" * 32}, 30.0))
        assert opened.wait(10)
        assert not writer.flush(0)  # the prune is under way: nothing is flushed yet
        release.set()
        assert writer.flush(10.0)
        assert writer.pruned == 2
        assert writer.close(5.0)
    finally:
        JobDatabase.prune = real_prune  # type: ignore[method-assign]


def _watched(tmp_path: Path, records: list[JobRecord]) -> tuple[JobDatabase, str]:
    db = JobDatabase(tmp_path / "watchlist.db")
    db.replace_members("digest-1", [(r.job_id, r.label, r.added_at) for r in records])
    db.write(records)
    return db, "digest-1"


def _snapshot_records() -> list[JobRecord]:
    return [JobRecord(job_id=c * 32, label=f"job {c}", added_at=1.5, status_code="JobFailed", status_msg="bad \u00e9",
                      last_error=LastError("InternalError", "oops", "req-1", 7.25), poll_count=3, last_polled=9.5,
                      history=[Transition(2.0, None, "JobRunning"), Transition(9.5, "JobRunning", "JobFailed")],
                      stale=True)
            for c in "ab"] + [JobRecord(job_id="c" * 32, label="never seen", added_at=2.0)]


def test_a_snapshot_gives_back_the_watchlist_as_it_was_saved(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    from_tables = db.watched_records(digest)
    db.save_snapshot(digest, records)
    assert db.watched_records(digest) == from_tables == records


def test_a_change_of_state_after_the_snapshot_voids_it(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    db.save_snapshot(digest, records)
    db.write([JobRecord(job_id="a" * 32, label="job a", added_at=1.5, status_code="JobSuccess", stale=True)])
    assert db.watched_records(digest)[0].status_code == "JobSuccess"


def test_members_added_and_removed_after_the_snapshot_are_applied_to_it(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    db.write([JobRecord(job_id="e" * 32, status_code="JobSuccess", last_polled=4.0)])  # watched once, before
    db.save_snapshot(digest, records)
    assert db.update_members(digest, "digest-2", upsert=[("d" * 32, "new", 3.0), ("e" * 32, "back", 4.0),
                                                         ("a" * 32, "relabelled", 1.5)], delete=["b" * 32])
    assert db.watched_records("digest-1") is None
    got = db.watched_records("digest-2")
    assert [(r.job_id, r.label) for r in got] == [("a" * 32, "relabelled"), ("c" * 32, "never seen"),
                                                  ("d" * 32, "new"), ("e" * 32, "back")]
    assert got[0].history == records[0].history and got[0].last_error == records[0].last_error
    assert (got[2].status_code, got[3].status_code) == (None, "JobSuccess")


def test_a_prune_that_forgets_nothing_keeps_the_snapshot_and_one_that_forgets_a_job_voids_it(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    db.write([JobRecord(job_id="e" * 32, status_code="JobSuccess")], now=T0)  # not watched, written long ago
    # the snapshot says what the tables do not (99 polls), so it shows which of them was read
    db.save_snapshot(digest, [replace(r, poll_count=99) for r in records])
    assert db.prune({r.job_id for r in records} | {"e" * 32}, now=T0 + 86400 * 60) == 0  # (a monitor's start)
    assert [r.poll_count for r in db.watched_records(digest)] == [99, 99, 99]
    assert db.prune({r.job_id for r in records}, now=T0 + 86400 * 60) == 1
    assert [r.poll_count for r in db.watched_records(digest)] == [3, 3, 0]


def test_a_snapshot_of_another_format_is_passed_over_for_the_tables(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    db.save_snapshot(digest, [replace(r, poll_count=99) for r in records])
    (blob,) = db._db.execute("SELECT data FROM snapshot").fetchone()
    fmt, *rest = marshal.loads(blob)
    db._db.execute("UPDATE snapshot SET data = ?", (marshal.dumps((fmt + 1, *rest)),))
    assert db.watched_records(digest) == records


def test_a_damaged_snapshot_is_passed_over_for_the_tables(tmp_path: Path) -> None:
    records = _snapshot_records()
    db, digest = _watched(tmp_path, records)
    db.save_snapshot(digest, records)
    db._db.execute("UPDATE snapshot SET data = x'00ff17'")
    assert db.watched_records(digest) == records


# -- what the server said with an error (schema 3), and databases of schema 2 ----------------------------

def _gateway_error() -> LastError:
    return LastError("Transport.http_status", "the endpoint answered HTTP 502 Bad Gateway", None, T0 + 7.000001,
                     502, "Bad Gateway", "text/html; charset=utf-8",
                     "<html><title>502 — 网关错误</title> [red]x[/red] \\x1b ü</html>…")


def test_what_the_server_said_comes_back_as_written_from_the_tables_and_the_snapshot(tmp_path: Path) -> None:
    records = _snapshot_records()
    records[0].last_error = _gateway_error()
    records[1].last_error = LastError("Transport.not_json", "the answer is not JSON", None, 8.5, 200, "OK",
                                      "text/plain", r"\x1f\x8b\x08 hello\r\n")
    db, digest = _watched(tmp_path, records)
    assert read_back(tmp_path / "watchlist.db", records[0].job_id).last_error == _gateway_error()
    from_tables = db.watched_records(digest)
    db.save_snapshot(digest, records)
    from_snapshot = db.watched_records(digest)
    assert from_tables == from_snapshot == records
    assert [r.last_error for r in from_snapshot] == [r.last_error for r in records]


# The schema as vclm-watch wrote it at version 2 (before the columns of what the server said).
V2_SCHEMA = (
    """CREATE TABLE jobs (job_id TEXT PRIMARY KEY, status_code TEXT, status_msg TEXT NOT NULL DEFAULT '',
        result_video_url TEXT NOT NULL DEFAULT '', url_received_at REAL, state_since REAL, last_change REAL,
        last_polled REAL, last_request_id TEXT, poll_count INTEGER NOT NULL DEFAULT 0, last_latency REAL,
        last_response TEXT, error_code TEXT, error_message TEXT, error_request_id TEXT, error_at REAL,
        written_at REAL NOT NULL) WITHOUT ROWID""",
    "CREATE TABLE history (job_id TEXT NOT NULL, at REAL NOT NULL, from_code TEXT, to_code TEXT NOT NULL)",
    "CREATE INDEX history_by_job ON history (job_id)",
    """CREATE TABLE members (position INTEGER PRIMARY KEY, job_id TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
        added_at REAL NOT NULL)""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, "
    "changes INTEGER NOT NULL, data BLOB NOT NULL)",
    "INSERT INTO meta (key, value) VALUES ('changes', '0')",
)
V2_JOB = "a" * 32


def _v2_database(path: Path, *, snapshot: bool, snapshot_msg: str = "running") -> None:
    """A database of schema 2 holding one watched job that failed with an API error."""
    import marshal

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in V2_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO jobs VALUES (?, 'JobRunning', 'running', '', NULL, 2.0, 2.0, 9.5, 'req-0', 3, 0.25, "
               "NULL, 'InternalError', 'oops', 'req-1', 7.25, 10.0)", (V2_JOB,))
    db.execute("INSERT INTO history VALUES (?, 2.0, NULL, 'JobRunning')", (V2_JOB,))
    db.execute("INSERT INTO members (job_id, label, added_at) VALUES (?, 'old', 1.5)", (V2_JOB,))
    db.execute("INSERT INTO meta (key, value) VALUES ('members_digest', 'digest-1')")
    if snapshot:  # the snapshot's items as schema 2 flattened them: 18 fields, no more
        item = (V2_JOB, "old", 1.5, "JobRunning", snapshot_msg, "", None, 2.0, 2.0, "req-0", "InternalError", "oops",
                "req-1", 7.25, 3, 9.5, 0.25, ((2.0, None, "JobRunning"),))
        db.execute("INSERT INTO snapshot VALUES (1, 'digest-1', 0, ?)", (marshal.dumps([item]),))
    db.execute("PRAGMA user_version = 2")
    db.close()


V2_ERROR = LastError("InternalError", "oops", "req-1", 7.25)


@pytest.mark.parametrize("snapshot", [True, False], ids=["with its snapshot", "tables only"])
def test_a_schema_2_database_is_migrated_and_keeps_every_job_and_error(tmp_path: Path, snapshot: bool) -> None:
    path = tmp_path / "watchlist.db"
    _v2_database(path, snapshot=snapshot)
    with JobDatabase(path) as db:
        assert _user_version(path) == SCHEMA_VERSION == 5
        watched = db.watched_records("digest-1")
    assert watched is not None and len(watched) == 1
    record = watched[0]
    assert (record.job_id, record.label, record.status_code, record.poll_count) == (V2_JOB, "old", "JobRunning", 3)
    assert record.history == [Transition(2.0, None, "JobRunning")]
    assert record.last_error == V2_ERROR  # and nothing said by a server: none was kept then
    assert read_back(path, V2_JOB).last_error == V2_ERROR


def test_a_snapshot_left_by_schema_2_is_passed_over_for_the_tables_which_lose_nothing(tmp_path: Path) -> None:
    # (a snapshot is a cache of the tables in a format of its own: one of an older format is not read)
    path = tmp_path / "watchlist.db"
    _v2_database(path, snapshot=True, snapshot_msg="as the snapshot has it")  # (the tables say "running")
    with JobDatabase(path) as db:
        record = db.watched_records("digest-1")[0]
    assert (record.status_msg, record.last_error) == ("running", V2_ERROR)


def test_a_migrated_database_takes_what_the_server_said_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    _v2_database(path, snapshot=True)
    record = read_back(path, V2_JOB)
    record.last_error = _gateway_error()
    with JobDatabase(path) as db:
        db.write([record])
        assert db.watched_records("digest-1")[0].last_error == _gateway_error()
    assert read_back(path, V2_JOB).last_error == _gateway_error()


# -- request outcomes per minute (schema 4), and databases of schema 3 ---------------------------

MINUTE = 1_764_294_000  # a minute's start (a multiple of 60)


def test_request_outcomes_are_added_to_their_minute_and_read_back_oldest_first(db_path: Path) -> None:
    with JobDatabase(db_path) as db:
        db.add_activity([Activity(MINUTE + 60, sent=5, accepted=5),
                         Activity(MINUTE, sent=10, accepted=6, refused=3, cut_backs=1,
                                  errors={"RequestLimitExceeded": 3, "transport": 1})], now=MINUTE + 90)
        db.add_activity([Activity(MINUTE, sent=2, accepted=1, errors={"InnerError": 1, "a kind not kept": 2})],
                        now=MINUTE + 95)  # (another process, or a later batch: added, not replaced)
    with JobDatabase(db_path) as db:
        assert db.activity(since=MINUTE) == [
            Activity(MINUTE, sent=12, accepted=7, refused=3, cut_backs=1,
                     errors={"InnerError": 1, "RequestLimitExceeded": 3, "transport": 1, "other": 2}),
            Activity(MINUTE + 60, sent=5, accepted=5)]
        assert db.activity(since=MINUTE + 1) == [Activity(MINUTE + 60, sent=5, accepted=5)]


def test_minutes_older_than_a_day_are_pruned_when_outcomes_are_written(db_path: Path) -> None:
    day = ACTIVITY_KEEP_SECONDS
    with JobDatabase(db_path) as db:
        db.add_activity([Activity(MINUTE - int(day) - 60, sent=1), Activity(MINUTE - int(day), sent=2),
                         Activity(MINUTE - 3600, sent=3)], now=MINUTE - 3600)
        assert [a.sent for a in db.activity(since=0)] == [1, 2, 3]  # all within a day of then
        db.add_activity([Activity(MINUTE, sent=4)], now=MINUTE)
        assert [a.sent for a in db.activity(since=0)] == [2, 3, 4]  # the minute that began over a day ago is gone


def test_the_writer_adds_outcomes_up_per_minute_and_writes_them_at_flush(db_path: Path, writer) -> None:
    w = writer()
    for _ in range(3):
        w.put_activity(Activity(MINUTE, sent=2, accepted=1, errors={"InnerError": 1}))
    w.put_activity(Activity(MINUTE + 60, sent=1, cut_backs=1))
    with JobDatabase(db_path) as db:
        assert db.activity(since=0) == []  # not yet: only on the thread's turn
    assert w.flush(timeout=10)
    w.put_activity(Activity(MINUTE + 60, sent=1, accepted=1))
    assert w.close(timeout=10)
    with JobDatabase(db_path) as db:
        assert db.activity(since=0) == [Activity(MINUTE, sent=6, accepted=3, errors={"InnerError": 3}),
                                        Activity(MINUTE + 60, sent=2, accepted=1, cut_backs=1)]


def test_the_writer_writes_outcomes_at_most_every_few_seconds_not_with_every_batch(db_path: Path) -> None:
    batches = threading.Semaphore(0)
    w = ObservationWriter(db_path, interval=0.01, clock=lambda: T0, activity_every=3600.0,
                          on_write=lambda _n: batches.release())
    try:
        w.put_activity(Activity(MINUTE, sent=1))
        w.put(full_record())
        assert batches.acquire(timeout=10)  # the record's batch went out on its own (no flush asked)...
        with JobDatabase(db_path) as db:
            assert db.count() == 1
            assert db.activity(since=0) == []  # ...the outcomes wait for their turn
    finally:
        assert w.close(timeout=10)
    with JobDatabase(db_path) as db:
        assert db.activity(since=0) == [Activity(MINUTE, sent=1)]  # close writes them


def test_outcomes_that_could_not_be_written_are_kept_and_added_to_until_they_are(db_path: Path, writer) -> None:
    JobDatabase(db_path).close()
    _sql(db_path, "CREATE TRIGGER full BEFORE INSERT ON activity "
                  "BEGIN SELECT RAISE(ABORT, 'database or disk is full (made so by the test)'); END")
    w = writer()
    w.put_activity(Activity(MINUTE, sent=3, accepted=3))
    assert w.flush(timeout=10) is False
    assert "database or disk is full" in str(w.error)
    w.put_activity(Activity(MINUTE, sent=1, errors={"auth": 1}))
    _sql(db_path, "DROP TRIGGER full")
    assert w.flush(timeout=10) is True
    with JobDatabase(db_path) as db:
        assert db.activity(since=0) == [Activity(MINUTE, sent=4, accepted=3, errors={"auth": 1})]


# The schema as vclm-watch wrote it at version 3 (before the request outcomes per minute).
V3_SCHEMA = (*V2_SCHEMA[:-1],
             "ALTER TABLE jobs ADD COLUMN error_http_status INTEGER",
             "ALTER TABLE jobs ADD COLUMN error_reason TEXT NOT NULL DEFAULT ''",
             "ALTER TABLE jobs ADD COLUMN error_content_type TEXT NOT NULL DEFAULT ''",
             "ALTER TABLE jobs ADD COLUMN error_excerpt TEXT NOT NULL DEFAULT ''",
             V2_SCHEMA[-1])


def test_a_schema_3_database_is_migrated_keeps_every_job_and_records_request_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in V3_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO jobs VALUES (?, 'JobRunning', 'running', '', NULL, 2.0, 2.0, 9.5, 'req-0', 3, 0.25, "
               "NULL, 'Transport.http_status', 'bad gateway', NULL, 7.25, 10.0, 502, 'Bad Gateway', 'text/html', "
               "'<html>')", (V2_JOB,))
    db.execute("INSERT INTO history VALUES (?, 2.0, NULL, 'JobRunning')", (V2_JOB,))
    db.execute("INSERT INTO members (job_id, label, added_at) VALUES (?, 'old', 1.5)", (V2_JOB,))
    db.execute("INSERT INTO meta (key, value) VALUES ('members_digest', 'digest-1')")
    db.execute("PRAGMA user_version = 3")
    db.close()
    with JobDatabase(path) as db:
        assert _user_version(path) == SCHEMA_VERSION == 5
        (record,) = db.watched_records("digest-1")
        assert db.activity(since=0) == []
        db.add_activity([Activity(MINUTE, sent=1, accepted=1)], now=MINUTE)
    assert (record.job_id, record.label, record.status_code, record.poll_count) == (V2_JOB, "old", "JobRunning", 3)
    assert record.last_error == LastError("Transport.http_status", "bad gateway", None, 7.25, 502, "Bad Gateway",
                                          "text/html", "<html>")
    assert record.history == [Transition(2.0, None, "JobRunning")]
    with JobDatabase(path) as db:
        assert db.activity(since=0) == [Activity(MINUTE, sent=1, accepted=1)]


# -- the result saved (schema 5), and databases of schema 4 ------------------------------------------

SAVED = {"saved_path": "/data/vclm/ü é/" + "a" * 32 + ".mp4", "saved_sha256": "5" * 64, "saved_bytes": 52_428_800}


def test_the_saved_file_comes_back_as_written_from_the_tables_the_snapshot_and_apply_to(tmp_path: Path) -> None:
    records = _snapshot_records()
    records[0] = replace(records[0], status_code="JobSuccess", **SAVED)
    db, digest = _watched(tmp_path, records)
    from_tables = db.watched_records(digest)
    db.save_snapshot(digest, records)
    from_snapshot = db.watched_records(digest)
    assert from_tables == from_snapshot == records
    assert {name: getattr(from_snapshot[0], name) for name in SAVED} == SAVED
    assert (from_tables[1].saved_path, from_tables[1].saved_sha256, from_tables[1].saved_bytes) == ("", "", 0)
    back = read_back(tmp_path / "watchlist.db", records[0].job_id)
    assert {name: getattr(back, name) for name in SAVED} == SAVED


# The schema as vclm-watch wrote it at version 4 (before the saved file's columns).
V4_SCHEMA = (*V3_SCHEMA,
             """CREATE TABLE activity (minute INTEGER PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0,
                accepted INTEGER NOT NULL DEFAULT 0, refused INTEGER NOT NULL DEFAULT 0,
                cut_backs INTEGER NOT NULL DEFAULT 0, inner_errors INTEGER NOT NULL DEFAULT 0,
                limit_errors INTEGER NOT NULL DEFAULT 0, transport_errors INTEGER NOT NULL DEFAULT 0,
                auth_errors INTEGER NOT NULL DEFAULT 0, other_errors INTEGER NOT NULL DEFAULT 0)""")


@pytest.mark.parametrize("snapshot", [True, False], ids=["with its snapshot", "tables only"])
def test_a_schema_4_database_is_migrated_keeps_every_job_and_records_saved_files(tmp_path: Path,
                                                                                 snapshot: bool) -> None:
    path = tmp_path / "watchlist.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in V4_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO jobs VALUES (?, 'JobSuccess', 'done', 'https://x.example/a.mp4', 5.0, 2.0, 2.0, 9.5, "
               "'req-0', 3, 0.25, NULL, NULL, NULL, NULL, NULL, 10.0, NULL, '', '', '')", (V2_JOB,))
    db.execute("INSERT INTO history VALUES (?, 2.0, NULL, 'JobSuccess')", (V2_JOB,))
    db.execute("INSERT INTO members (job_id, label, added_at) VALUES (?, 'old', 1.5)", (V2_JOB,))
    db.execute("INSERT INTO meta (key, value) VALUES ('members_digest', 'digest-1')")
    db.execute("INSERT INTO activity (minute, sent) VALUES (?, 4)", (MINUTE,))
    if snapshot:  # schema 4's snapshot format (2: 21 fields a job) is passed over for the tables
        item = (V2_JOB, "old", 1.5, "JobSuccess", "from the snapshot", "https://x.example/a.mp4", 5.0, 2.0, 2.0,
                "req-0", None, None, None, None, 3, 9.5, 0.25, None, None, None, None)
        db.execute("INSERT INTO snapshot VALUES (1, 'digest-1', 0, ?)",
                   (marshal.dumps((2, [item], [(V2_JOB, 2.0, None, "JobSuccess")])),))
    db.execute("PRAGMA user_version = 4")
    db.close()
    with JobDatabase(path) as db:
        assert _user_version(path) == SCHEMA_VERSION == 5
        (record,) = db.watched_records("digest-1")
        assert db.activity(since=0) == [Activity(MINUTE, sent=4)]
    assert (record.job_id, record.status_code, record.status_msg, record.result_video_url) == (
        V2_JOB, "JobSuccess", "done", "https://x.example/a.mp4")
    assert (record.saved_path, record.saved_sha256, record.saved_bytes) == ("", "", 0)
    assert record.history == [Transition(2.0, None, "JobSuccess")]
    with JobDatabase(path) as db:
        db.write([replace(record, **SAVED)])
    assert {name: getattr(read_back(path, V2_JOB), name) for name in SAVED} == SAVED
