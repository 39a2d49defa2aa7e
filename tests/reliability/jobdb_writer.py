"""A process that writes the job database, for its crash-safety tests (run as a script).

    jobdb_writer.py batches PATH N        write generation after generation of N jobs' observations
                                          through an ObservationWriter, forever; prints "committed G"
                                          once generation G is in the database
    jobdb_writer.py migrate PATH [POINT]  load a format-1 watchlist and save it (the migration); with
                                          POINT, SIGKILL itself there (see MIGRATION_POINTS)
    jobdb_writer.py observer PATH PREFIX BATCHES
                                          after a line on stdin, write BATCHES batches straight to the
                                          database (each one new job and the same few again)
    jobdb_writer.py disk-full PATH        fill the file-size limit (RLIMIT_FSIZE) under a database
                                          and a writer, then lift it; prints what happened as JSON
    jobdb_writer.py read-only PATH        load a watchlist and try to save it; prints what happened
                                          as JSON (the tests call read_only_report in a forked child)

Prints "ready" once started.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.core import jobdb  # noqa: E402
from tui.core.jobstate import JobRecord, Transition  # noqa: E402
from tui.core.watchlist import WatchlistError, WatchlistStore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watchlist_writer import _arm as arm_save  # noqa: E402
from watchlist_writer import _die  # noqa: E402

BASE_TIME = 1_764_000_000.0
SHARED = 4  # jobs every observer writes in every batch (the same rows, fought over)


def observation(gen: int, i: int, pad: int = 200) -> JobRecord:
    """Job `i` as seen in generation `gen`: every value says which generation it belongs to."""
    record = JobRecord(job_id=f"{i:032x}", status_code="JobRunning", status_msg=f"gen {gen}", poll_count=gen,
                       last_polled=BASE_TIME + gen, last_request_id=f"req-{gen}-{i}",
                       last_response={"gen": gen, "pad": "x" * pad})
    record.history = [Transition(BASE_TIME + gen + k, None, f"gen {gen}") for k in range(1 + gen % 4)]
    return record


def generation(gen: int, n: int, pad: int = 200) -> list[JobRecord]:
    """Generation `gen` of `n` jobs' observations."""
    return [observation(gen, i, pad) for i in range(n)]


def generation_of(record: JobRecord) -> int | None:
    """The record's generation, checked to be that generation's record whole (else None)."""
    gen = record.poll_count
    expected = observation(gen, int(record.job_id, 16))
    for name in ("status_code", "status_msg", "last_polled", "last_request_id", "last_response", "history"):
        if getattr(record, name) != getattr(expected, name):
            return None
    return gen


def _batches(path: Path, n: int) -> None:
    with jobdb.JobDatabase(path) as db:
        probe = [JobRecord(job_id=f"{0:032x}")]
        db.apply_to(probe)
    gen = probe[0].poll_count
    writer = jobdb.ObservationWriter(path, interval=3600.0)
    print("ready", flush=True)
    while True:
        gen += 1
        writer.put_many(generation(gen, n))
        if not writer.flush(30):
            raise SystemExit(f"generation {gen} not written: {writer.error}")
        print(f"committed {gen}", flush=True)


# Points of a migration where the process can be made to die.
MIGRATION_POINTS = ("after-db-write", "fsync-1", "fsync-2", "before-replace", "after-replace")


def _arm(point: str) -> None:
    """Make the migration die at `point` (this process is thrown away, so patching is fine)."""
    if point == "after-db-write":  # the states are in the database, the file not touched yet
        real_write = jobdb.JobDatabase.write

        def write_then_die(self, *args, **kwargs):
            real_write(self, *args, **kwargs)
            _die()

        jobdb.JobDatabase.write = write_then_die  # type: ignore[method-assign]
    elif point.startswith("fsync-"):  # 1: the old file's copy (NAME.format1.toml); 2: the new file
        nth = int(point.split("-")[1])
        real_fsync = os.fsync
        calls = []

        def fsync(fd):
            calls.append(fd)
            if len(calls) == nth:
                _die()
            real_fsync(fd)

        os.fsync = fsync
    else:  # before-replace, after-replace: as in a save of the watchlist file
        arm_save(point)


def _migrate(path: Path, point: str | None) -> None:
    store = WatchlistStore(path)
    records = store.load()
    if point:
        _arm(point)
    print("ready", flush=True)
    store.save(records)
    print("saved", flush=True)


def _observer(path: Path, prefix: str, batches: int) -> None:
    with jobdb.JobDatabase(path) as db:
        print("ready", flush=True)
        sys.stdin.readline()
        for b in range(batches):
            shared = [JobRecord(job_id=f"{i:032x}", status_code="JobRunning", status_msg=f"{prefix} {b}", poll_count=b)
                      for i in range(SHARED)]
            own = JobRecord(job_id=f"{prefix}{b:0{32 - len(prefix)}x}", status_code="JobQueuing", poll_count=b)
            db.write(shared + [own])  # a "database is locked" escaping here fails the test
    print("done", flush=True)


def _limit_file_size(size: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))


def _disk_full(path: Path) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    report: dict[str, object] = {}
    with jobdb.JobDatabase(path) as db:
        db.write(generation(1, 20))
    print("ready", flush=True)
    biggest = max(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))
    _limit_file_size(biggest + 16384)  # no room for a generation with big answers
    big = generation(2, 20, pad=100_000)
    try:
        with jobdb.JobDatabase(path) as db:
            db.write(big)
        report["direct"] = None
    except jobdb.JobDatabaseError as exc:
        report["direct"] = str(exc)
    writer = jobdb.ObservationWriter(path, interval=3600.0)
    writer.put_many(big)
    report["flushed while full"] = writer.flush(30)
    report["writer error"] = str(writer.error) if writer.error else None
    report["pending while full"] = writer.pending
    held = [JobRecord(job_id=r.job_id) for r in big]
    with jobdb.JobDatabase(path) as db:
        db.apply_to(held)
    report["held while full"] = sorted({generation_of(r) for r in held}, key=str)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is back
    report["flushed after"] = writer.flush(30)
    report["writer error after"] = str(writer.error) if writer.error else None
    report["closed"] = writer.close(10)
    print(json.dumps(report), flush=True)


def read_only_report(path: Path) -> dict[str, object]:
    """Load the watchlist, try to save it and its jobs' states; what happened (nothing may raise)."""
    store = WatchlistStore(path, lock_wait=0)
    report: dict[str, object] = {"uid": os.geteuid()}
    records = store.load()
    report["jobs"] = [[r.job_id, r.label, r.status_code] for r in records]
    try:
        store.save(records + [JobRecord(job_id="e" * 32, label="new")])
        report["save"] = None
    except WatchlistError as exc:
        report["save"] = str(exc)
    try:
        store.write_observations(records)
        report["observations"] = None
    except WatchlistError as exc:
        report["observations"] = str(exc)
    # (a load that finds no database yet creates none, and has nothing to say: the first write does)
    report["db_problem"] = store.db_problem
    store.close()
    return report


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    if mode == "batches":
        _batches(target, int(sys.argv[3]))
    elif mode == "migrate":
        _migrate(target, sys.argv[3] if len(sys.argv) > 3 else None)
    elif mode == "observer":
        _observer(target, sys.argv[3], int(sys.argv[4]))
    elif mode == "disk-full":
        _disk_full(target)
    elif mode == "read-only":
        print(json.dumps(read_only_report(target)), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
