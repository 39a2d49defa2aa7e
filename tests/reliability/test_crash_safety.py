"""Nothing lost: the watchlist file survives a process killed mid-save, a full or read-only disk,
two writers at once, and a file from a newer version of the program."""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from watchlist_writer import KILL_POINTS, generation, generation_of, job_id

from tui.core.jobstate import JobRecord
from tui.core.watchlist import (
    WatchlistError,
    WatchlistStore,
    WatchlistTooNew,
    WatchlistUnparsable,
    dumps,
    loads,
)

WRITER = Path(__file__).resolve().parent / "watchlist_writer.py"
JOBS = 200  # jobs in the watchlist the killed writer saves
RANDOM_KILLS = 30
PROCESS_TIMEOUT = 20.0


def writer(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read()


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".watchlist.toml.*.tmp"))


def on_disk_generation(path: Path) -> int:
    """The generation the file holds, checked to be exactly that generation's bytes (never a mix)."""
    raw = path.read_bytes()
    gen = generation_of(loads(raw.decode("utf-8")))
    assert raw == dumps(generation(gen, JOBS)).encode("utf-8"), f"the file is not generation {gen} as saved"
    return gen


@pytest.fixture
def watchlist(tmp_path: Path) -> Path:
    path = tmp_path / "watchlist.toml"
    path.write_text(dumps(generation(0, JOBS)), encoding="utf-8")
    return path


# -- killed mid-save -----------------------------------------------------------------------------

def test_a_save_killed_at_random_moments_always_leaves_the_old_or_the_new_version(watchlist: Path) -> None:
    rng = random.Random(20261125)
    last = 0
    for _ in range(RANDOM_KILLS):
        process = writer("generations", str(watchlist), str(JOBS))
        wait_ready(process)
        time.sleep(rng.uniform(0.0, 0.12))
        process.send_signal(signal.SIGKILL)
        process.wait(PROCESS_TIMEOUT)
        process.stdout.close()
        process.stderr.close()
        gen = on_disk_generation(watchlist)
        assert gen >= last, "the file went back to an older version"
        last = gen
    assert last > 0, "no save ever completed: the kills came too early to test anything"


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_save_killed_at_a_critical_point_leaves_the_old_or_the_new_version(watchlist: Path, point: str) -> None:
    for _ in range(3):
        before = on_disk_generation(watchlist)
        done = subprocess.run([sys.executable, str(WRITER), "generations", str(watchlist), str(JOBS), point],
                              capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
        assert done.returncode == -signal.SIGKILL, done.stderr
        expected = before + 1 if point == "after-replace" else before
        assert on_disk_generation(watchlist) == expected


def test_the_loader_ignores_a_temp_file_left_by_a_killed_save(watchlist: Path) -> None:
    stale = watchlist.with_name(".watchlist.toml.x1y2z3.tmp")
    stale.write_text(dumps(generation(99, 3)), encoding="utf-8")
    assert generation_of(WatchlistStore(watchlist).load()) == 0


def test_the_next_save_clears_temp_files_left_by_killed_saves(watchlist: Path) -> None:
    subprocess.run([sys.executable, str(WRITER), "generations", str(watchlist), str(JOBS), "before-replace"],
                   capture_output=True, timeout=PROCESS_TIMEOUT)
    assert temp_files(watchlist.parent), "the killed save left no temp file to clear"
    store = WatchlistStore(watchlist)
    store.save(store.load())
    assert temp_files(watchlist.parent) == []


# -- disk full, read-only ------------------------------------------------------------------------

def _raise(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


class _FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self.handle.__exit__(*exc_info)

    def fileno(self) -> int:
        return self.handle.fileno()

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        self.handle.flush()


def _full_disk_on_write(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))


def _read_only_lock(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    real_open = os.open
    lock = str(path.with_name(path.name + ".lock"))

    def open_(file, flags, *args, **kwargs):
        if str(file) == lock:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


# Tests run as root in CI, where a read-only mode bit stops nothing: the OS's refusals are made at
# the boundary the store calls instead.
WRITE_FAULTS = {
    "read-only directory (no temp file)": (lambda mp, path: mp.setattr(tempfile, "mkstemp", _raise(errno.EROFS)),
                                           errno.EROFS),
    "no permission in the directory": (lambda mp, path: mp.setattr(tempfile, "mkstemp", _raise(errno.EACCES)),
                                       errno.EACCES),
    "disk full while writing": (_full_disk_on_write, errno.ENOSPC),
    "disk full at fsync": (lambda mp, path: mp.setattr(os, "fsync", _raise(errno.ENOSPC)), errno.ENOSPC),
    "rename refused": (lambda mp, path: mp.setattr(os, "replace", _raise(errno.EROFS)), errno.EROFS),
    "read-only file system (no lock file)": (_read_only_lock, errno.EROFS),
}


def _store_with_a_new_job(path: Path) -> tuple[WatchlistStore, list[JobRecord]]:
    store = WatchlistStore(path)
    records = store.load()
    records.append(JobRecord(job_id="f" * 32, label="added while the disk was full"))
    return store, records


@pytest.mark.parametrize("fault", WRITE_FAULTS)
def test_a_failed_save_raises_a_watchlist_error_naming_the_file_and_the_cause(watchlist, monkeypatch, fault) -> None:
    break_disk, code = WRITE_FAULTS[fault]
    store, records = _store_with_a_new_job(watchlist)
    break_disk(monkeypatch, watchlist)
    with pytest.raises(WatchlistError) as caught:
        store.save(records)
    assert str(watchlist) in str(caught.value)
    assert os.strerror(code) in str(caught.value)
    assert isinstance(caught.value, OSError) and caught.value.errno == code  # callers catching OSError still do


@pytest.mark.parametrize("fault", WRITE_FAULTS)
def test_a_failed_save_leaves_the_file_and_the_list_in_memory_as_they_were(watchlist, monkeypatch, fault) -> None:
    break_disk, _ = WRITE_FAULTS[fault]
    before = watchlist.read_bytes()
    store, records = _store_with_a_new_job(watchlist)
    kept = [(r.job_id, r.label) for r in records]
    break_disk(monkeypatch, watchlist)
    with pytest.raises(WatchlistError):
        store.save(records)
    monkeypatch.undo()
    assert watchlist.read_bytes() == before
    assert [(r.job_id, r.label) for r in records] == kept
    assert temp_files(watchlist.parent) == []


@pytest.mark.parametrize("fault", WRITE_FAULTS)
def test_saving_again_once_the_disk_recovers_writes_everything(watchlist, monkeypatch, fault) -> None:
    break_disk, _ = WRITE_FAULTS[fault]
    store, records = _store_with_a_new_job(watchlist)
    break_disk(monkeypatch, watchlist)
    with pytest.raises(WatchlistError):
        store.save(records)
    monkeypatch.undo()
    store.save(records)
    assert {r.job_id for r in WatchlistStore(watchlist).load()} == {r.job_id for r in records}


def test_add_on_a_full_disk_exits_with_a_clear_error_not_a_traceback(watchlist, monkeypatch) -> None:
    from tui.cli import build_parser
    from tui.headless import commands

    args = build_parser().parse_args(["add", "e" * 32, "--watchlist", str(watchlist)])
    out, err = io.StringIO(), io.StringIO()
    _full_disk_on_write(monkeypatch, watchlist)
    code = commands.run(args, stdout=out, stderr=err, env={})
    monkeypatch.undo()
    assert code == 2
    assert "cannot save watchlist" in err.getvalue() and os.strerror(errno.ENOSPC) in err.getvalue()
    assert "Traceback" not in err.getvalue()


# -- a file from a newer version, a file that cannot be read --------------------------------------

NEWER = 'version = 99\nfuture_setting = "kept"\n\n[[jobs]]\nid = "' + "a" * 32 + '"\nlabel = "from the future"\n'


@pytest.fixture
def newer_file(tmp_path: Path) -> Path:
    path = tmp_path / "watchlist.toml"
    path.write_text(NEWER, encoding="utf-8")
    return path


def test_a_file_from_a_newer_version_is_refused_with_a_clear_message(newer_file: Path) -> None:
    with pytest.raises(WatchlistTooNew) as caught:
        WatchlistStore(newer_file).load()
    message = str(caught.value)
    assert str(newer_file) in message and "newer" in message and "untouched" in message


@pytest.mark.parametrize("how", ["save after load", "save without load", "update"])
def test_a_file_from_a_newer_version_is_never_overwritten(newer_file: Path, how: str) -> None:
    store = WatchlistStore(newer_file)
    mine = [JobRecord(job_id="b" * 32, label="mine")]
    with pytest.raises(WatchlistError):
        if how == "save after load":
            with pytest.raises(WatchlistTooNew):
                store.load()
            store.save(mine)
        elif how == "save without load":
            store.save(mine)
        else:
            store.update(lambda records: records + mine)
    assert newer_file.read_text(encoding="utf-8") == NEWER


def test_a_newer_file_appearing_under_a_running_monitor_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    store = WatchlistStore(path)
    records = [JobRecord(job_id="c" * 32, label="old")]
    store.save(records)
    path.write_text(NEWER, encoding="utf-8")  # a newer vclm-watch wrote it meanwhile
    with pytest.raises(WatchlistError):
        store.save(records)
    assert path.read_text(encoding="utf-8") == NEWER


def test_an_unreadable_file_keeps_its_bytes_and_the_error_says_where_to_look(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    garbage = b"version = 1\n[[jobs]\nid = \xff\xfe broken"
    path.write_bytes(garbage)
    store = WatchlistStore(path)
    with pytest.raises(WatchlistUnparsable) as caught:
        store.load()
    assert f"{path}:3:6" in str(caught.value)
    with pytest.raises(WatchlistUnparsable):
        store.update(lambda records: records + [JobRecord(job_id="e" * 32)])
    with pytest.raises(WatchlistUnparsable):
        store.save([JobRecord(job_id="e" * 32)])
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("watchlist.db")) == ["watchlist.toml", "watchlist.toml.lock"]


# -- two writers at once ---------------------------------------------------------------------------

WRITER_PAIRS = {
    "two `add` commands": ("adder", "adder"),
    "a monitor and an `add` command": ("monitor", "adder"),
    "two monitors": ("monitor", "monitor"),
}
IDS_EACH = 40


@pytest.mark.parametrize("pair", WRITER_PAIRS)
def test_two_writers_at_once_lose_no_id(tmp_path: Path, pair: str) -> None:
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([JobRecord(job_id="d" * 32, label="there before")])
    processes = [writer(mode, str(path), prefix, str(IDS_EACH)) for mode, prefix in zip(WRITER_PAIRS[pair], ("aa", "bb"))]
    for process in processes:
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT)
        assert process.returncode == 0, stderr
    expected = {"d" * 32} | {job_id(prefix, i) for prefix in ("aa", "bb") for i in range(IDS_EACH)}
    assert {r.job_id for r in WatchlistStore(path).load()} == expected
