"""Nothing lost in the job database either: real processes killed mid-write (the database's own
writes, the store's saves, a format-1 migration), a disk with no room, a directory that cannot be
written, several writers at once, and a database from a newer version beside a watchlist."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from jobdb_writer import MIGRATION_POINTS, SHARED, generation_of, read_only_report
from watchlist_writer import KILL_POINTS
from watchlist_writer import generation as file_generation
from watchlist_writer import generation_of as file_generation_of

from tui.core.jobdb import SCHEMA_VERSION, JobDatabase, database_path
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore, dumps, loads, loads_versioned

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DB_WRITER = HERE / "jobdb_writer.py"
FILE_WRITER = HERE / "watchlist_writer.py"
PROCESS_TIMEOUT = 30.0
JOBS = 30  # jobs per batch of the killed database writer
KILLS = 10
FILE_JOBS = 100  # jobs in the watchlist the killed store saves


def start(script: Path, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read()


def kill(process: subprocess.Popen) -> str:
    """SIGKILL it; what it had printed."""
    process.send_signal(signal.SIGKILL)
    out, _ = process.communicate(timeout=PROCESS_TIMEOUT)
    return out


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def observed(path: Path, ids: list[str]) -> list[JobRecord]:
    records = [JobRecord(job_id=job_id) for job_id in ids]
    with JobDatabase(path) as db:
        db.apply_to(records)
    return records


# -- the database's own writes, killed -------------------------------------------------------------

def test_a_writer_killed_at_random_moments_keeps_every_reported_batch_whole(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    ids = [f"{i:032x}" for i in range(JOBS)]
    rng = random.Random(20261128)
    last = 0
    for _ in range(KILLS):
        process = start(DB_WRITER, "batches", str(path), str(JOBS))
        wait_ready(process)
        time.sleep(rng.uniform(0.0, 0.15))
        reported = [int(line.split()[1]) for line in kill(process).splitlines() if line.startswith("committed ")]
        assert integrity(path) == "ok"
        gens = {generation_of(record) for record in observed(path, ids)}
        assert None not in gens, "a job holds a mix of two generations"
        assert len(gens) == 1, f"half a batch: the jobs hold generations {sorted(gens)}"
        (gen,) = gens
        committed = max(reported, default=last)
        assert committed <= gen <= committed + 1, f"generation {committed} was reported, the database holds {gen}"
        last = gen
    assert last > KILLS / 2, "few batches were ever committed: the kills came too early to test anything"


# -- the store's writes (file and database), killed ---------------------------------------------------

def test_a_store_save_killed_at_random_moments_leaves_a_whole_file_and_a_readable_database(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    store.save(file_generation(0, FILE_JOBS))
    store.close()
    rng = random.Random(11)
    last = (0, 0)
    for _ in range(KILLS // 2):
        process = start(FILE_WRITER, "generations", str(path), str(FILE_JOBS))
        wait_ready(process)
        time.sleep(rng.uniform(0.0, 0.25))
        kill(process)
        now = assert_file_and_database_agree(path)
        assert now[0] >= last[0] and now[1] >= last[1], "the file or the states went back to an older version"
        last = now
    assert last[0] > 0, "no save ever completed: the kills came too early to test anything"


def assert_file_and_database_agree(path: Path) -> tuple[int, int]:
    """The file is one generation whole, the database readable, and a new store shows that
    generation's labels with the states of one generation, never a later one (a save writes the
    file first; a save killed after its file leaves the states of an earlier one): (file, states)."""
    raw = path.read_bytes()
    gen = file_generation_of(loads(raw.decode("utf-8")))
    assert raw == dumps(file_generation(gen, FILE_JOBS)).encode("utf-8"), "the file is not one version whole"
    assert integrity(database_path(path)) == "ok"
    store = WatchlistStore(path)
    loaded = store.load()  # the members cache never answers for another version of the file
    store.close()
    assert [r.label for r in loaded] == [r.label for r in file_generation(gen, FILE_JOBS)]
    polls = {r.poll_count for r in loaded}
    assert len(polls) == 1, f"half a batch of states: {sorted(polls)}"
    (states,) = polls
    assert states <= gen, f"file generation {gen}, states of generation {states}"
    return gen, states


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_store_save_killed_at_a_critical_point_leaves_file_and_database_in_step(tmp_path: Path, point: str) -> None:
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    store.save(file_generation(0, FILE_JOBS))
    store.close()
    for _ in range(2):
        before, states = assert_file_and_database_agree(path)
        done = subprocess.run([sys.executable, str(FILE_WRITER), "generations", str(path), str(FILE_JOBS), point],
                              capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert assert_file_and_database_agree(path) == (before + 1 if point == "after-replace" else before, states)


def format1(n: int) -> bytes:
    """A watchlist of format 1 (states inside) with `n` jobs, each in its own state."""
    at = datetime(2026, 11, 28, 1, 40, 0, 123456, tzinfo=UTC)
    codes = ("JobQueuing", "JobRunning", "JobSuccess", "JobFailed")
    jobs = [{"id": f"{i:032x}", "label": f"old job {i} — ü", "added_at": at, "status_code": codes[i % 4],
             "status_msg": f"state {i}", "poll_count": i + 1, "last_polled": at, "last_request_id": f"req-{i}",
             "history": [{"at": at, "to": "JobQueuing"}, {"at": at, "from": "JobQueuing", "to": codes[i % 4]}]}
            for i in range(n)]
    return tomli_w.dumps({"version": 1, "jobs": jobs}).encode("utf-8")


def assert_every_state_kept(path: Path, n: int) -> None:
    store = WatchlistStore(path)
    records = store.load()
    assert [(r.job_id, r.label) for r in records] == [(f"{i:032x}", f"old job {i} — ü") for i in range(n)]
    codes = ("JobQueuing", "JobRunning", "JobSuccess", "JobFailed")
    assert [(r.status_code, r.poll_count, len(r.history)) for r in records] == \
           [(codes[i % 4], i + 1, 2) for i in range(n)], "a job's state was lost"
    store.close()


def assert_old_or_migrated(path: Path, old: bytes, n: int) -> None:
    raw = path.read_bytes()
    if raw != old:
        records, version = loads_versioned(raw.decode("utf-8"))
        assert version == 2 and len(records) == n, "the file is neither the old version nor the new one"
    assert integrity(database_path(path)) == "ok" if database_path(path).exists() else True


def complete_migration(path: Path, old: bytes, n: int) -> None:
    store = WatchlistStore(path)
    store.save(store.load())
    store.close()
    assert loads_versioned(path.read_text(encoding="utf-8"))[1] == 2
    backups = list(path.parent.glob("watchlist.format1*.toml"))
    assert old in [b.read_bytes() for b in backups], "the format-1 file was not kept"
    assert_every_state_kept(path, n)


@pytest.mark.parametrize("point", MIGRATION_POINTS)
def test_a_migration_killed_at_a_critical_point_loses_no_state_and_completes_next_time(tmp_path, point) -> None:
    path = tmp_path / "watchlist.toml"
    old = format1(20)
    path.write_bytes(old)
    done = subprocess.run([sys.executable, str(DB_WRITER), "migrate", str(path), point], capture_output=True,
                          text=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert_old_or_migrated(path, old, 20)
    assert_every_state_kept(path, 20)  # from the old file, or from the database
    complete_migration(path, old, 20)


def test_a_migration_killed_at_random_moments_loses_no_state_and_completes_next_time(tmp_path: Path) -> None:
    n = 400
    path = tmp_path / "watchlist.toml"
    old = format1(n)
    rng = random.Random(5)
    for _ in range(4):
        path.write_bytes(old)
        for leftover in tmp_path.glob("watchlist.*"):
            if leftover != path:
                leftover.unlink()
        process = start(DB_WRITER, "migrate", str(path))
        wait_ready(process)
        time.sleep(rng.uniform(0.0, 0.1))
        kill(process)
        assert_old_or_migrated(path, old, n)
        assert_every_state_kept(path, n)
        complete_migration(path, old, n)


# -- no room on the disk -------------------------------------------------------------------------

def test_a_full_disk_gives_a_clear_error_loses_nothing_committed_and_the_writer_recovers(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.db"
    done = subprocess.run([sys.executable, str(DB_WRITER), "disk-full", str(path)], capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    for error in (report["direct"], report["writer error"]):
        assert error is not None and str(path) in error
        assert "disk is full" in error or "ulimit -f" in error, error  # says why, not only "disk I/O error"
    assert report["flushed while full"] is False and report["pending while full"] == 20  # the batch is kept
    assert report["held while full"] == [1], "what was committed before the disk filled up was lost"
    assert report["flushed after"] is True and report["writer error after"] is None and report["closed"] is True
    assert integrity(path) == "ok"
    after = observed(path, [f"{i:032x}" for i in range(20)])
    assert {(r.poll_count, len(r.last_response["pad"])) for r in after} == {(2, 100_000)}


# -- a directory that cannot be written ------------------------------------------------------------

UNPRIVILEGED = 65534  # nobody


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's own are private to their owner)."""
    top = Path(tempfile.mkdtemp(prefix="vclm-watch-ro-"))
    os.chmod(top, 0o755)
    try:
        yield top
    finally:
        for directory in [top, *top.rglob("*")]:
            if directory.is_dir():
                os.chmod(directory, 0o755)
        shutil.rmtree(top, ignore_errors=True)


def as_unprivileged(path: Path) -> dict[str, object]:
    """read_only_report(path) in a forked child that is not root (where mode bits stop nothing).
    Forked, not started: the interpreter may live where that user cannot read."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(reader)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(UNPRIVILEGED)
                os.setuid(UNPRIVILEGED)
            answer = json.dumps(read_only_report(path))
        except BaseException:
            answer, code = json.dumps({"crash": traceback.format_exc()}), 1
        with contextlib.suppress(BaseException):
            os.write(writer, answer.encode("utf-8"))
        os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    report = json.loads(answer)
    if "crash" in report and "Operation not permitted" in report["crash"] and "setuid" in report["crash"]:
        pytest.skip("cannot drop to an unprivileged user here, and as root a read-only directory stops nothing")
    return report


@pytest.mark.parametrize("with_database", [True, False], ids=["database there", "no database yet"])
def test_a_read_only_directory_still_shows_the_watchlist_and_says_why_states_are_not_kept(shared_dir, with_database) -> None:
    directory = shared_dir / "lists"
    path = directory / "watchlist.toml"
    store = WatchlistStore(path)
    store.save([JobRecord(job_id=c * 32, label=f"job {c}", added_at=1.0, status_code="JobRunning") for c in "ab"])
    store.close()
    for leftover in directory.iterdir():
        if leftover.name != "watchlist.toml" and (leftover.suffix != ".db" or not with_database):
            leftover.unlink()
    for each in directory.iterdir():
        os.chown(each, UNPRIVILEGED, UNPRIVILEGED)
    os.chmod(directory, 0o555)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    report = as_unprivileged(path)
    assert "crash" not in report, report.get("crash")
    assert [job[:2] for job in report["jobs"]] == [["a" * 32, "job a"], ["b" * 32, "job b"]]
    problem = report["db_problem"]
    assert problem is not None and str(database_path(path)) in problem
    assert "cannot be written" in problem, problem  # why, in words
    assert report["save"] is not None and str(path) in report["save"]
    assert report["observations"] is not None and "cannot be written" in report["observations"]
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


# -- several writers at once ---------------------------------------------------------------------

def test_two_database_writers_and_a_watchlist_writer_at_once_lose_nothing_and_never_see_a_lock(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).update(lambda _: [])
    db = database_path(path)
    batches, adds = 300, 40
    observers = [start(DB_WRITER, "observer", str(db), prefix, str(batches), stdin=subprocess.PIPE)
                 for prefix in ("aa", "bb")]
    for process in observers:
        wait_ready(process)
    for process in observers:
        process.stdin.write("go\n")
        process.stdin.flush()
    adder = start(FILE_WRITER, "adder", str(path), "cc", str(adds))
    for process in [*observers, adder]:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "locked" not in err and "busy" not in err, err
    assert integrity(db) == "ok"
    with JobDatabase(db) as database:
        assert database.count() == SHARED + 2 * batches
    for prefix in ("aa", "bb"):
        own = observed(db, [f"{prefix}{b:030x}" for b in range(batches)])
        assert [r.poll_count for r in own] == list(range(batches)), f"a batch of {prefix} was lost"
    assert {r.poll_count for r in observed(db, [f"{i:032x}" for i in range(SHARED)])} == {batches - 1}
    store = WatchlistStore(path)
    assert [r.job_id for r in store.load()] == [f"cc{i:030x}" for i in range(adds)]
    with JobDatabase(db) as database:
        cached = database.cached_members(hashlib.sha256(path.read_bytes()).hexdigest())
    assert cached is None or [m[0] for m in cached] == [f"cc{i:030x}" for i in range(adds)]


# -- a database from a newer version ---------------------------------------------------------------

def test_add_beside_a_newer_database_exits_2_and_changes_neither_file(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    store.save([JobRecord(job_id="a" * 32, label="kept", added_at=1.0, status_code="JobRunning")])
    store.close()
    newer = sqlite3.connect(database_path(path), isolation_level=None)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "tui", "add", "b" * 32, "--watchlist", str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "newer vclm-watch" in done.stderr and str(database_path(path)) in done.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no -wal, -shm, nothing rewritten
