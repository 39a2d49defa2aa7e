"""A process that writes one watchlist file, for the crash-safety tests (run as a script).

    watchlist_writer.py generations PATH N [POINT]
                                             save generation after generation of N jobs, forever; with
                                             POINT, SIGKILL itself at that point of the first save
    watchlist_writer.py adder PATH PREFIX N  add N ids one by one, as `vclm-watch add` does (update)
    watchlist_writer.py monitor PATH PREFIX N  add N ids one by one to an in-memory list saved with
                                               save(), applying what others did, as the monitor does

Prints "ready" once started; for generations, "saved G" after each save.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tui.core.jobstate import JobRecord, Transition  # noqa: E402
from tui.core.watchlist import WatchlistStore  # noqa: E402

BASE_TIME = 1_764_000_000.0


def generation(gen: int, n: int) -> list[JobRecord]:
    """Generation `gen` of a watchlist of `n` jobs: the same ids every time, everything else new."""
    records = []
    for i in range(n):
        record = JobRecord(job_id=f"{i:032x}", label=f"gen {gen} job {i}", added_at=BASE_TIME,
                           status_code="JobRunning", status_msg=f"处理中 {gen}", poll_count=gen,
                           last_polled=BASE_TIME + gen, last_request_id=f"req-{gen}-{i}")
        record.history = [Transition(BASE_TIME, None, "JobInit"), Transition(BASE_TIME + 1, "JobInit", "JobRunning")]
        records.append(record)
    return records


def generation_of(records: list[JobRecord]) -> int:
    return int(records[0].label.split()[1]) if records else 0


def job_id(prefix: str, i: int) -> str:
    return f"{prefix}{i:0{32 - len(prefix)}x}"


# Points of a save where the process can be made to die (the critical ones, hit on purpose).
KILL_POINTS = ("mid-write", "before-fsync", "before-replace", "after-replace")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str) -> None:
    """Make the next save die at `point` (this process is thrown away, so patching `os` is fine)."""
    if point == "mid-write":
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                return self.handle.__exit__(*exc_info)

            def fileno(self):
                return self.handle.fileno()

            def write(self, data):
                self.handle.write(data[: len(data) // 2])
                self.handle.flush()
                _die()

        os.fdopen = lambda *args, **kwargs: HalfWriter(real_fdopen(*args, **kwargs))
    elif point == "before-fsync":
        os.fsync = lambda fd: _die()
    elif point == "before-replace":
        os.replace = lambda src, dst: _die()
    elif point == "after-replace":
        real_replace = os.replace

        def replace_then_die(src, dst):
            real_replace(src, dst)
            _die()

        os.replace = replace_then_die
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def _generations(path: Path, n: int, point: str | None) -> None:
    store = WatchlistStore(path)
    gen = generation_of(store.load())
    if point:
        _arm(point)
    print("ready", flush=True)
    while True:
        gen += 1
        store.save(generation(gen, n))
        print(f"saved {gen}", flush=True)


def _adder(path: Path, prefix: str, n: int) -> None:
    store = WatchlistStore(path)
    print("ready", flush=True)
    for i in range(n):
        new = job_id(prefix, i)
        store.update(lambda records, new=new: records + [JobRecord(job_id=new, label=f"added by {prefix}")])


def _monitor(path: Path, prefix: str, n: int) -> None:
    store = WatchlistStore(path)
    records = store.load()
    print("ready", flush=True)
    for i in range(n):
        records.append(JobRecord(job_id=job_id(prefix, i), label=f"added by {prefix}"))
        result = store.save(records)
        removed = set(result.removed)
        records = [r for r in records if r.job_id not in removed] + result.added


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    if mode == "generations":
        _generations(target, int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
    elif mode == "adder":
        _adder(target, sys.argv[3], int(sys.argv[4]))
    elif mode == "monitor":
        _monitor(target, sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
