"""Files that readers see whole: written beside, fsynced, renamed over; and locks taken with a deadline.

What every writer of the watchlist file uses (a reader sees the old version or the new one,
never half of one; a process killed mid-write leaves a temp file the next writer removes).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class LockTimeout(Exception):
    """Another process held the lock for longer than the wait allowed."""


def replace_file(path: Path, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Make `path` hold `data` (mode 0600): a temp file beside it, fsynced, renamed over it,
    then the directory fsynced. OSError when any step fails; the old file is then as it was.
    `data` may come in pieces, written one after the other (a spliced file is never joined)."""
    remove_stale_temp_files(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            for piece in (data,) if isinstance(data, bytes) else data:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename (or a new entry) in `directory` durable; a directory that cannot be opened or
    synced is let be (the file itself is whole either way)."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_new_file(path: Path, data: bytes) -> None:
    """Create `path` (never over an existing file) holding `data`, fsynced: FileExistsError if it is there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def remove_stale_temp_files(path: Path) -> None:
    """Temp files of writers killed mid-write (call it holding the file's lock)."""
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")
    for stale in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(stale)


def acquire(fd: int, wait: float, on_wait: Callable[[float], None] | None = None) -> None:
    """Take an exclusive flock on `fd`, trying for at most `wait` seconds (0: once): LockTimeout
    when another process holds it that long; OSError when it cannot be locked at all. `on_wait`
    is told (with the seconds left) once, when the waiting begins."""
    deadline = time.monotonic() + max(0.0, wait)
    pause = 0.005
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeout()
        if not told and on_wait is not None:
            told = True
            on_wait(left)
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)
