"""The watchlist file: TOML, written atomically under a lock, merged with other writers.

It holds what a person chose, one job per line: id, label, when added (format 2). What was
observed (states, history, errors, URLs) lives in the job database beside it (`jobdb.py`), so
a poll never rewrites this file. The database also caches the file's members under the SHA-256
of its bytes, so that a file as the last vclm-watch left it is not parsed again. A file of
format 1 (states inside) is migrated by the first process that writes: its observations go to
the database, the old file is kept beside it (`NAME.format1.toml`), and it is rewritten.

Several processes may share one file (a TUI and `vclm-watch add` from a shell). Every write
takes an exclusive lock on a sidecar `.lock` file, re-reads what is on disk and merges it
with what this process changed since it last synced, so nobody's change is lost. The file is
replaced by rename after fsync: a reader sees the old version or the new one, never half.
A file that cannot be parsed (a TOML syntax error, a bad entry) is someone's to fix: it is
never moved, replaced or written over, and the error names its line and column. A file from
a newer version of the program is refused and left alone too.

The lock is never waited for without a deadline: the monitor only tries it (its event loop
must not stop) and retries at its next tick; shell commands wait up to `lock_wait` seconds
(VCLM_WATCH_LOCK_TIMEOUT, 10 by default), then give up having written nothing. A path that
is a symlink is resolved once: saves replace the target and the link stays. Anything but a
regular file (a directory, a FIFO, a device) is refused before it is read.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.api.models import JOB_ID_RE
from tui.core import atomic, jobdb, paths
from tui.core.jobstate import MAX_HISTORY, JobRecord, LastError, Transition
from tui.core.options import DEFAULT_LOCK_WAIT

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 1: states in the file (before the job database); 2: ids, labels, when added


# What a file that is not a watchlist raises when parsed (tomllib's errors are ValueErrors).
# tomllib and tomli_w are imported where a file is parsed or a label needs escapes: a file
# vclm-watch wrote is spliced by `add` and `remove`, never parsed.
_UNPARSABLE = (ValueError, UnicodeDecodeError, RecursionError)


class WatchlistError(Exception):
    """The watchlist file cannot be used; the message says why and what was done."""


class WatchlistUnparsable(WatchlistError):
    """The file is not a watchlist this program can read: a TOML syntax error, a bad entry, bytes
    that are not UTF-8. It was left as it is, and nothing is written to it until it parses."""

    def __init__(self, path: Path, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.path, self.reason, self.line, self.column = path, reason, line, column
        where = f"{path}:{line}:{column}" if line is not None else str(path)
        super().__init__(f"watchlist {where} cannot be read: {reason}. Fix it there (or delete the file to "
                         "start an empty watchlist); it was left as it is, and nothing is written to it until "
                         "it parses")

    @property
    def location(self) -> str:
        """Where to look: line and column when known."""
        if self.line is None:
            return str(self.path)
        return f"{self.path}, line {self.line}" + (f", column {self.column}" if self.column else "")


class WatchlistTooNew(WatchlistError):
    pass


class WatchlistBusy(WatchlistError):
    """Another process holds the watchlist's lock and did not let go in time; nothing was
    read or written by this attempt (retrying later loses nothing)."""


class WatchlistWriteError(WatchlistError, OSError):
    """The file could not be locked or written (disk full, read-only, no permission); the file on disk
    is as it was, and so is the caller's list: saving again once the cause is fixed loses nothing."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:
        return self.args[0]


def _from_ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: Any) -> str:
    # Never cut: what was stored comes back as it was (screens cut what they show, with a marker).
    return value if isinstance(value, str) else ""


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# A lone surrogate (JSON's "\ud800" decodes to one) has no UTF-8 form: it is stored as U+FFFD
# rather than making every save fail.
_SURROGATE = re.compile("[\ud800-\udfff]")


def record_from_toml(item: Any, where: str, *, observed: bool = True) -> JobRecord:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a job entry must be a table")
    job_id = item.get("id")
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise ValueError(f"{where}: invalid job id {str(job_id)[:60]!r}")
    record = JobRecord(job_id=job_id.lower(), label=_text(item.get("label")))
    record.added_at = _from_ts(item.get("added_at")) or 0.0
    if not observed:  # format 2: what was seen lives in the job database, whatever else the file says
        return record
    record.status_code = _opt_text(item.get("status_code"))
    record.stale = record.status_code is not None  # a last known state, not refreshed in this run yet
    record.status_msg = _text(item.get("status_msg"))
    record.result_video_url = _text(item.get("result_video_url"))
    record.url_received_at = _from_ts(item.get("url_received_at"))
    record.state_since = _from_ts(item.get("state_since"))
    record.last_change = _from_ts(item.get("last_change"))
    record.last_polled = _from_ts(item.get("last_polled"))
    record.last_request_id = _opt_text(item.get("last_request_id"))
    count = item.get("poll_count")
    record.poll_count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0
    err = item.get("last_error")
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        record.last_error = LastError(err["code"], _text(err.get("message")),
                                      _opt_text(err.get("request_id")), _from_ts(err.get("at")) or 0.0)
    history = item.get("history")
    if isinstance(history, list):
        for entry in history[-MAX_HISTORY:]:
            if isinstance(entry, dict) and isinstance(entry.get("to"), str):
                at = _from_ts(entry.get("at"))
                if at is not None:
                    record.history.append(Transition(at, _opt_text(entry.get("from")), entry["to"]))
    return record


_HEADER = ("# vclm-watch watchlist: one job per line (id, label, when added). Edit it freely: a running\n"
           "# monitor picks changes up within seconds. States and history live in the job database beside it.\n")
_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f\ud800-\udfff]*')


def _toml_string(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    import tomli_w

    return tomli_w.dumps({"v": _SURROGATE.sub("\ufffd", text)})[4:-1]  # tomli-w escapes what must be


@functools.lru_cache(maxsize=1 << 17)
def _job_line(job_id: str, label: str, added_at: float) -> str:
    when = datetime.fromtimestamp(added_at, tz=UTC).isoformat()
    return f'  {{ id = "{job_id}", label = {_toml_string(label)}, added_at = {when} }},\n'


def dumps(records: Iterable[JobRecord]) -> str:
    """The file's text: one line per job, so that a person can read, edit, diff and grep it."""
    return dumps_members((r.job_id, r.label, r.added_at) for r in records)


def dumps_members(members: Iterable[jobdb.Member]) -> str:
    # A line once made is cached: rewriting a big file after one change mostly joins strings.
    lines = [_job_line(job_id, label, added_at) for job_id, label, added_at in members]
    return f"{_HEADER}version = {FORMAT_VERSION}\njobs = [\n{''.join(lines)}]\n"


SPLICE_LIMIT = 200  # more changed lines than this: the file is written out whole


def splice(raw: bytes, old: list[jobdb.Member], new: list[jobdb.Member]) -> bytes | None:
    """The file `raw` (as this program writes it, holding `old`) changed to hold `new` by cutting,
    replacing and appending lines, without formatting the lines that stay; None when `new` is
    not `old` with lines removed or changed in place and new ones at the end (or too many)."""
    before = {m[0]: m for m in old}
    kept = sum(1 for m in new if m[0] in before)
    if any(m[0] not in before for m in new[:kept]) or any(m[0] in before for m in new[kept:]):
        return None
    after = {m[0] for m in new}
    if [m[0] for m in new[:kept]] != [m[0] for m in old if m[0] in after]:
        return None  # reordered
    edits = {job_id: b"" for job_id in before if job_id not in after}
    edits.update((m[0], _job_line(*m).encode("utf-8")) for m in new[:kept] if before[m[0]] != m)
    if len(edits) + len(new) - kept > SPLICE_LIMIT:
        return None
    return splice_lines(raw, edits, new[kept:])


def splice_lines(raw: bytes, edits: dict[str, bytes], appended: Iterable[jobdb.Member]) -> bytes | None:
    """`raw` with the line of each job in `edits` replaced (b"" cuts it) and `appended` added at
    the end; None when a line is not where this program's layout puts it."""
    pieces = splice_pieces(raw, edits, appended)
    return None if pieces is None else b"".join(pieces)


def _line_mark(job_id: str) -> bytes:
    """What precedes a job's line in this program's layout: the newline ending the line before."""
    return f'\n  {{ id = "{job_id}",'.encode()


def splice_pieces(raw: bytes, edits: dict[str, bytes], appended: Iterable[jobdb.Member]) -> list[memoryview] | None:
    """`splice_lines` as the pieces of the new file, in order, without joining them: slices of
    `raw` between the changed lines, and the new lines. The first piece is `raw` up to the first
    change, which is never before `unchanged_prefix(raw, edits)`."""
    if not raw.endswith(b"]\n"):
        return None
    cuts = []
    for job_id, line in edits.items():
        start = raw.find(_line_mark(job_id))
        if start < 0:
            return None
        end = raw.find(b"\n", start + 1)
        cuts.append((start + 1, end + 1, line))
    cuts.sort()
    cuts.append((len(raw) - 2, len(raw) - 2, "".join(_job_line(*m) for m in appended).encode("utf-8")))
    view = memoryview(raw)
    pieces, at = [], 0
    for start, end, line in cuts:
        pieces += [view[at:start], memoryview(line)]
        at = end
    pieces.append(view[at:])
    return pieces


def unchanged_prefix(raw: bytes, changed: Collection[str], finds: int = 4) -> int:
    """How many bytes at the start of `raw` a splice that changes (or cuts) the lines of the
    `changed` ids, and appends, leaves as they are; 0 for more than `finds` ids (each is a
    search of the file, and more of them would cost more than hashing it twice)."""
    if len(changed) > finds:
        return 0
    found = [at for at in (raw.find(_line_mark(job_id)) for job_id in changed) if at >= 0]
    return max(0, min([len(raw) - 2, *found]))


class SplicedDigests:
    """SHA-256 of a file and of the file a splice makes of it: the bytes the two start with (all
    of them but the last line, for an `add`) are hashed once for both, not twice."""

    def __init__(self, raw: bytes, prefix: int) -> None:
        self.raw, self.prefix = raw, prefix
        self._head = hashlib.sha256(memoryview(raw)[:prefix])
        whole = self._head.copy()
        whole.update(memoryview(raw)[prefix:])
        self.digest = whole.hexdigest()  # of `raw`

    def of(self, pieces: list[memoryview]) -> str:
        """The digest of the file `pieces` (from `splice_pieces` on `raw`) make."""
        if not pieces or pieces[0].obj is not self.raw or len(pieces[0]) < self.prefix:
            return hashlib.sha256(b"".join(pieces)).hexdigest()  # (not a splice starting with the prefix)
        digest = self._head.copy()
        digest.update(pieces[0][self.prefix:])
        for piece in pieces[1:]:
            digest.update(piece)
        return digest.hexdigest()


def loads(text: str, source: str = "watchlist") -> list[JobRecord]:
    """Parse a watchlist; ValueError for anything malformed, WatchlistTooNew for a newer format."""
    return loads_versioned(text, source)[0]


def loads_versioned(text: str, source: str = "watchlist") -> tuple[list[JobRecord], int]:
    """The records and the file's format: 1 carries states (to migrate), 2 only what was chosen."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply") from None
    version = data.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{source}: version must be a positive integer")
    if version > FORMAT_VERSION:
        raise WatchlistTooNew(
            f"{source} was written by a newer vclm-watch (format {version}, this one reads up to "
            f"{FORMAT_VERSION}); it was left untouched. Upgrade vclm-watch, or use --watchlist for another file."
        )
    jobs = data.get("jobs", [])
    if not isinstance(jobs, list):
        raise ValueError(f"{source}: 'jobs' must be an array of tables")
    records: dict[str, JobRecord] = {}
    for index, item in enumerate(jobs):
        try:
            record = record_from_toml(item, f"job #{index + 1}", observed=version < 2)
        except ValueError as exc:
            raise BadEntry(f"{source}: {exc}", index, str(exc)) from None
        records.setdefault(record.job_id, record)
    return list(records.values()), version


class BadEntry(ValueError):
    """One job entry of an otherwise valid TOML file is malformed; `index` counts from 0."""

    def __init__(self, message: str, index: int, detail: str) -> None:
        super().__init__(message)
        self.index = index
        self.detail = detail  # the message without the file's name


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = " (at end of document)"
_JOBS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(?:jobs|\"jobs\"|'jobs')[ \t]*\]\]", re.MULTILINE)


def unparsable(path: Path, raw: bytes, exc: BaseException) -> WatchlistUnparsable:
    """The error for a file that does not parse, with the line and column to look at when known."""
    import tomllib

    line: int | None = None
    column: int | None = None
    reason = _short(exc)
    if isinstance(exc, UnicodeDecodeError):
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        reason = "it is not UTF-8 text"
    elif isinstance(exc, tomllib.TOMLDecodeError):
        found = _TOML_AT.search(reason)
        if found:
            line, column = int(found[1]), int(found[2])
            reason = reason[:found.start()]
        elif reason.endswith(_AT_END):
            last_lines = raw.decode("utf-8", errors="replace").split("\n")
            line, column = len(last_lines), len(last_lines[-1]) + 1
            reason = reason[:-len(_AT_END)] + " at the end of the file"
        reason = f"not valid TOML ({reason})"
    elif isinstance(exc, BadEntry):
        reason = exc.detail
        text = raw.decode("utf-8", errors="replace")
        headers = list(_JOBS_HEADER.finditer(text))
        if exc.index < len(headers):  # the entry's [[jobs]] line (not known for an inline array)
            line, column = text.count("\n", 0, headers[exc.index].start()) + 1, 1
    elif reason.startswith(f"{path}: "):
        reason = reason[len(f"{path}: "):]
    return WatchlistUnparsable(path, reason, line, column)


@dataclass
class SyncResult:
    added: list[JobRecord] = field(default_factory=list)  # added by another process
    removed: list[str] = field(default_factory=list)  # removed by another process
    relabelled: list[JobRecord] = field(default_factory=list)  # label changed by another process


class StoreDatabase:
    """A watchlist store's side of its job database: opening it (or not, for one who only
    reads), filling records with states, and keeping the file's members cached there."""

    path: Path
    read_only: bool
    _format1: tuple[bytes, list[JobRecord]] | None

    def __init__(self, given_path: Path) -> None:
        self.db_path = jobdb.database_path(given_path)
        self._db: jobdb.JobDatabase | None = None
        self.db_problem: str | None = None  # why the job database cannot be used (states are not kept)
        self._members: list[jobdb.Member] | None = None  # the members of the file as last read or written here
        self._digest: str | None = None  # SHA-256 of the file's bytes as last read or written here
        self._written = False  # ...and whether a vclm-watch wrote those bytes (its own layout)
        self._db_too_new = False  # the database is from a newer vclm-watch: refused, every time it is asked for

    def database(self, create: bool = True) -> jobdb.JobDatabase | None:
        """The job database beside the file, opened at first use; None (with `db_problem` saying
        why) when it cannot be used, or (without `create`) when there is none yet: one who only
        reads creates nothing. One from a newer vclm-watch makes the store read-only."""
        if self._db is None and not create and not self.db_path.exists():
            return None
        if self._db is None and self.db_problem is None:
            try:
                self._db = jobdb.JobDatabase(self.db_path)
            except jobdb.JobDatabaseTooNew as exc:
                self.read_only = self._db_too_new = True
                self.db_problem = str(exc)
            except jobdb.JobDatabaseError as exc:
                self.db_problem = str(exc)
        if self._db_too_new:
            raise WatchlistTooNew(str(self.db_problem))
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _observed(self, records: list[JobRecord]) -> list[JobRecord]:
        """Fill records read from a format-2 file (or the cache) with what the database knows."""
        if self._format1 is not None:
            return records  # a format-1 file carries its own states until it is migrated
        db = self.database(create=False)
        if db is not None:
            try:
                db.apply_to(records, responses=False)  # (raw answers: "none in this run")
            except jobdb.JobDatabaseError as exc:
                self.db_problem = str(exc)
        return records

    def write_observations(self, records: Iterable[JobRecord]) -> None:
        """Store these jobs' states now (shell commands and tests; the monitor uses a writer thread)."""
        db = self.database()
        if db is None:
            raise WatchlistWriteError(f"job states not saved: {self.db_problem}")
        try:
            db.write(records)
        except jobdb.JobDatabaseError as exc:
            raise WatchlistWriteError(str(exc)) from None

    def save_snapshot(self, records: list[JobRecord]) -> bool:
        """Leave these records (the monitor's, at exit) as a snapshot the next start reads in one
        go; only when they are the file's members as last read or written here. True if saved."""
        if self._digest is None or self._members != [(r.job_id, r.label, r.added_at) for r in records]:
            return False
        db = self.database()
        if db is None:
            return False
        try:
            db.save_snapshot(self._digest, records)
        except jobdb.JobDatabaseError as exc:
            log.warning("no snapshot for the next start: %s", exc)
            return False
        return True

    def _cache(self, members: list[jobdb.Member], digest: str) -> None:
        """Tell the database which members the file now holds (touching only the rows that
        changed), and that this program wrote it (so the next writer may splice it)."""
        old, old_digest = self._members, self._digest
        self._members, self._digest = members, digest
        self._written = False
        db = self.database()
        if db is None:
            return
        try:
            change = _member_changes(old, members) if old is not None else None
            if change is None or not db.update_members(old_digest, digest, upsert=change[0], delete=change[1]):
                db.replace_members(digest, members)
            db.mark_written(digest)
            self._written = True
        except jobdb.JobDatabaseError as exc:
            log.warning("the watchlist cache was not updated: %s", exc)


class WatchlistStore(StoreDatabase):
    """One watchlist file, and what this process last saw of it (for three-way merges)."""

    def __init__(self, path: Path, *, lock_wait: float = DEFAULT_LOCK_WAIT,
                 on_wait: Callable[[float], None] | None = None) -> None:
        # Resolved once: a symlinked file keeps its link (the rename replaces the target), and
        # the lock sits beside the target, where every other writer of that file looks for it.
        super().__init__(Path(path))
        self.given_path = Path(path)
        self.path = Path(os.path.realpath(self.given_path))
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = lock_wait  # seconds to wait for another process's lock (0: try once)
        self.on_wait = on_wait  # told (with the seconds it will wait) when a wait begins
        self._base_labels: dict[str, str] | None = {}  # id -> label, as of the last load or save...
        self._base_members: list[jobdb.Member] = []  # ...or, until asked for, the members loaded
        self._seen_stat: tuple[int, int, int] | None = None
        self.read_only = False  # set when the file (or its database) is too new: never written
        self._format1: tuple[bytes, list[JobRecord]] | None = None  # a format-1 file read, to migrate at the next write
        self.migrated_to: Path | None = None  # where the format-1 file was kept, once migrated
        self._raw: bytes | None = None  # the file as this program wrote it (or read it so), for splicing
        self._full: list[JobRecord] | None = None  # records read whole from the database by the last parse
        # Set while the file does not parse: nothing is written until it does (or is deleted).
        self.broken: WatchlistUnparsable | None = None
        self._preloading: threading.Thread | None = None  # see preload()
        self._preloaded: list[JobRecord] | None = None

    @property
    def _base(self) -> dict[str, str]:
        # (made when first needed: a monitor's start on 100,000 jobs waits for nothing it does not use)
        if self._base_labels is None:
            self._base_labels = {job_id: label for job_id, label, _ in self._base_members}
        return self._base_labels

    @_base.setter
    def _base(self, labels: dict[str, str]) -> None:
        self._base_labels = labels

    @property
    def needs_migration(self) -> bool:
        """The file read last is of format 1 (states inside): the next write migrates it."""
        return self._format1 is not None

    # -- low level -----------------------------------------------------------------------

    def check_kind(self) -> None:
        """Refuse at once a path that is not a regular file (a directory, a FIFO, a device)."""
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            return  # missing (created by the first save) or unreadable (reported when read)
        kind = paths.special_kind(mode)
        if kind is not None:
            raise WatchlistError(_not_a_file(self.given_path, kind))

    @contextlib.contextmanager
    def locked(self, wait: float | None = None) -> Iterator[None]:
        """Hold the lock; WatchlistBusy if another process holds it for longer than `wait`
        seconds (default `lock_wait`; 0 tries once). The lock is never waited for unbounded."""
        self.check_kind()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise WatchlistWriteError(f"cannot lock watchlist {self.path} ({self.lock_path}): "
                                      f"{exc.strerror or exc}", exc.errno) from exc
        try:
            self._acquire(fd, self.lock_wait if wait is None else wait)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _acquire(self, fd: int, wait: float) -> None:
        try:
            atomic.acquire(fd, wait, self.on_wait)
        except atomic.LockTimeout:
            raise WatchlistBusy(
                f"another vclm-watch holds the lock on the watchlist {self.path} ({self.lock_path})"
                + (f" and did not release it within {wait:g} s" if wait > 0 else "") + "; nothing was changed") from None
        except OSError as exc:
            raise WatchlistWriteError(f"cannot lock watchlist {self.path}: {exc.strerror or exc}", exc.errno) from exc

    def _stat_key(self) -> tuple[int, int, int] | None:
        """What tells one version of the file from another: every save renames a new inode in."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _parse_file(self, observed: bool = False) -> list[JobRecord]:
        """The file's members as records ([] when there is none): see `_parse_members`. With
        `observed`, filled with what the job database knows of them."""
        self._full = None
        members = self._parse_members(observed)
        if self._format1 is not None:
            return self._format1[1]  # (it carries its own states until it is migrated)
        if self._full is not None:
            return self._full
        records = [JobRecord(job_id=job_id, label=label, added_at=added_at) for job_id, label, added_at in members]
        return self._observed(records) if observed else records

    def _parse_members(self, observed: bool = False) -> list[jobdb.Member]:
        """The file's members ([] when there is none): WatchlistError when it cannot be read,
        WatchlistTooNew, or WatchlistUnparsable (with where to look) when it is not a watchlist.
        Read from the database's cache when the file is as the last vclm-watch left it."""
        try:
            raw = paths.read_regular_file(self.path)
        except FileNotFoundError:
            self._members, self._digest, self._format1, self._raw = [], None, None, None
            return []
        except paths.NotAFile as exc:
            raise WatchlistError(_not_a_file(self.given_path, exc.kind)) from None
        except OSError as exc:
            raise WatchlistError(f"cannot read watchlist {self.path}: {exc.strerror or exc}") from None
        digest = hashlib.sha256(raw).hexdigest()
        db = self.database(create=False)
        cached = None
        ours = False
        if db is not None:
            try:
                if observed:  # the records with their states, in one read (and the members from them)
                    self._full = db.watched_records(digest)
                    cached = None if self._full is None else [(r.job_id, r.label, r.added_at) for r in self._full]
                else:
                    cached = db.cached_members(digest)
                ours = cached is not None and db.written(digest)
            except jobdb.JobDatabaseError as exc:
                self.db_problem = str(exc)
        self._format1 = None
        if cached is not None:
            members = cached
        else:
            try:
                records, version = loads_versioned(raw.decode("utf-8"), str(self.path))
            except WatchlistTooNew:
                raise
            except _UNPARSABLE as exc:
                raise unparsable(self.path, raw, exc) from None
            members = [(r.job_id, r.label, r.added_at) for r in records]
            if version < FORMAT_VERSION:
                self._format1 = (raw, records)
            elif db is not None:
                with contextlib.suppress(jobdb.JobDatabaseError):
                    db.replace_members(digest, members)  # the next reader of this very file parses nothing
        self._members, self._digest = members, digest
        self._raw = raw if ours else None  # bytes in this program's own layout: changed by splicing
        return members

    def _read_unlocked(self) -> list[JobRecord]:
        """The file's records; when it does not parse, `broken` says why and the error is raised."""
        return self._checked(self._parse_file)

    def _checked(self, read: Callable[[], Any]) -> Any:
        try:
            result = read()
        except WatchlistTooNew:
            self.read_only = True
            raise
        except WatchlistUnparsable as exc:
            self.broken = exc
            raise
        self.broken = None
        return result

    def peek(self) -> list[JobRecord]:
        """Read without the lock (for those who only look).

        Writers replace the file by rename, so an unlocked read sees a whole version.
        """
        return self._parse_file(observed=True)

    def _write_unlocked(self, records: Iterable[JobRecord]) -> None:
        self._write_members([(r.job_id, r.label, r.added_at) for r in records])

    def _write_members(self, members: list[jobdb.Member]) -> None:
        if self.read_only:
            raise WatchlistError(f"watchlist {self.path} is not written: it is from a newer version or unreadable")
        if self.broken is not None:
            raise self.broken
        data = None
        if self._raw is not None and self._members is not None and self._format1 is None:
            data = splice(self._raw, self._members, members)
        if data is None:
            data = dumps_members(members).encode("utf-8")
        if self._format1 is not None:
            self._migrate(*self._format1)
        self._replace_file(data)
        self._cache(members, hashlib.sha256(data).hexdigest())
        self._raw = data if self._written else None

    def _replace_file(self, data: bytes | list[memoryview]) -> None:
        try:
            atomic.replace_file(self.path, data)
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._seen_stat = self._stat_key()

    def _migrate(self, raw: bytes, observed: list[JobRecord]) -> None:
        """A format-1 file (states inside) is about to be rewritten: its states go to the
        database first, and its bytes to NAME.format1.toml beside it, kept as they were."""
        db = self.database()
        if db is None:
            raise WatchlistWriteError(f"watchlist {self.path} (format 1) is not rewritten: its job states could not "
                                      f"be moved to the job database ({self.db_problem}); the file was left as it was")
        try:
            self.migrated_to = migrate_format1(db, self.path, raw, observed)
        except jobdb.JobDatabaseError as exc:
            raise WatchlistWriteError(f"watchlist {self.path} (format 1) is not rewritten: {exc}") from None
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._format1 = None

    def _write_error(self, exc: OSError) -> WatchlistWriteError:
        return WatchlistWriteError(f"cannot save watchlist {self.path}: {exc.strerror or exc}; "
                                   "the file was left as it was", exc.errno)

    # -- what callers use ------------------------------------------------------------------

    def preload(self) -> WatchlistStore:
        """Start reading (as `load(wait=0)` would) in a thread, so that the reading overlaps what
        the caller does meanwhile (the monitor imports its UI); `load()` then takes the result."""
        def read() -> None:
            with contextlib.suppress(Exception):  # (load() reads again, and reports, whatever went wrong)
                self._preloaded = self._load(wait=0.0)
        self._preloading = threading.Thread(target=read, name="vclm-watch-preload", daemon=True)
        self._preloading.start()
        return self

    def load(self, *, wait: float | None = None) -> list[JobRecord]:
        """Read the file; WatchlistUnparsable (the file untouched) when it does not parse."""
        thread, self._preloading = self._preloading, None
        if thread is not None:
            thread.join()
            if self._preloaded is not None and not self.changed_on_disk():
                return self._preloaded
        return self._load(wait)

    def _load(self, wait: float | None) -> list[JobRecord]:
        try:
            with self.locked(wait):
                records = self._read_seen()
        except WatchlistBusy:
            # Another process is writing: its rename gives a whole version to an unlocked read.
            records = self._read_seen()
        except WatchlistWriteError:
            # No lock file can be made here (a read-only place): saves replace the file
            # atomically, so an unlocked read still sees a whole version.
            records = self._read_seen()
        # the members just read are the records' ids and labels (tuples: they cannot change meanwhile)
        self._base_labels, self._base_members = None, self._members or []
        return records

    def _read_seen(self) -> list[JobRecord]:
        """Read (with states), and remember which version of the file was read, whether it
        parsed or not: a broken file is read again only once someone has changed it."""
        try:
            return self._checked(lambda: self._parse_file(observed=True))
        finally:
            self._seen_stat = self._stat_key()

    def changed_on_disk(self) -> bool:
        return self._stat_key() != self._seen_stat

    def save(self, records: list[JobRecord], *, wait: float | None = None, observations: bool = True) -> SyncResult:
        """Write `records` merged with what other processes did since our last sync.

        Ids another process added are adopted (returned in `added`), ids it removed are
        dropped (returned in `removed`): the caller applies both to its own state. A file that
        does not parse raises WatchlistUnparsable and is not written. The file is rewritten only
        when ids, labels or their order changed; with `observations` the records' states are
        stored in the job database too (the monitor leaves that to its writer thread).
        """
        with self.locked(wait):
            if self.broken is None and self._seen_stat is not None and self._stat_key() == self._seen_stat:
                # nobody wrote since we last read or wrote it: the file is our base, nothing to merge
                result = SyncResult()
            else:
                disk = self._read_for_merge()
                # no file (never made, or deleted): nothing to merge, ours is written
                result = SyncResult() if disk is None else self._merge(records, disk)
            removed = set(result.removed)
            merged = [r for r in records if r.job_id not in removed] + result.added
            unchanged = (self._format1 is None and self._stat_key() == self._seen_stat and self._seen_stat is not None
                         and self._members == [(r.job_id, r.label, r.added_at) for r in merged])
            if not unchanged:
                self._write_unlocked(merged)
            else:
                atomic.remove_stale_temp_files(self.path)
            if observations:
                self.write_observations(merged)
        self._base = {r.job_id: r.label for r in merged}
        return result

    def sync(self, records: list[JobRecord], *, wait: float | None = None) -> SyncResult:
        """Pick up other processes' changes without writing (cheap when nothing changed).

        A file that does not parse raises WatchlistUnparsable; the merge base stays what was
        last read, so once the file is fixed, what the fix removed is removed here too.
        """
        if not self.changed_on_disk():
            return SyncResult()
        with self.locked(wait):
            try:
                disk = self._read_for_merge()  # WatchlistTooNew and WatchlistUnparsable propagate
            finally:
                self._seen_stat = self._stat_key()
        if disk is None:
            # the file is gone: not a removal of every job; the next save writes this process's list back
            self._base = {}
            return SyncResult()
        result = self._merge(records, disk)
        # The merge base is what is on disk now, not the caller's list: ids it added or removed
        # and has not saved yet stay its own changes, not another process's, at the next save.
        self._base = {job_id: record.label for job_id, record in disk.items()}
        return result

    def _read_for_merge(self) -> dict[str, JobRecord] | None:
        """The file's records by id under the held lock; None when there is no file."""
        if not self.path.exists():
            self.broken = None  # a broken file deleted: a fresh start
            return None
        return {r.job_id: r for r in self._read_unlocked()}

    def _merge(self, records: list[JobRecord], disk: dict[str, JobRecord]) -> SyncResult:
        local = {r.job_id: r for r in records}
        result = SyncResult()
        for job_id, record in disk.items():
            if job_id not in local and job_id not in self._base:
                result.added.append(record)
            elif job_id in local and job_id in self._base and record.label != self._base[job_id] \
                    and local[job_id].label == self._base[job_id]:
                local[job_id].label = record.label
                result.relabelled.append(local[job_id])
        for job_id in self._base:
            if job_id in local and job_id not in disk:
                result.removed.append(job_id)
        return result

    def update(self, change: Callable[[list[JobRecord]], list[JobRecord]], *,
               wait: float | None = None) -> list[JobRecord]:
        """Read, change and write under one lock (what the shell commands use); a file that does
        not parse raises WatchlistUnparsable, and nothing is written."""
        with self.locked(wait):
            records = self._read_unlocked()
            records = change(records)
            self._write_unlocked(records)
        self._base = {r.job_id: r.label for r in records}
        return records

    def add_remove(self, add: list[jobdb.Member], remove: Collection[str], *,
                   wait: float | None = None) -> tuple[list[str], list[str], list[str]]:
        """Add members not yet in the file and remove ids: (added, already there, removed).

        When the file is as a vclm-watch wrote it (its digest in the database), only the lines
        that change are touched: the ids are looked up in the database, the file's bytes are
        spliced, and nothing else is parsed or formatted, whatever the file's size."""
        with self.locked(wait):
            fast = self._add_remove_spliced(add, remove)
            if fast is not None:
                return fast
        plan: list[tuple[list[jobdb.Member], list[str], list[str]]] = []

        def change(members: list[jobdb.Member]) -> list[jobdb.Member]:
            plan[:] = [_plan(add, remove, {m[0] for m in members})]
            gone = set(plan[0][2])
            return [m for m in members if m[0] not in gone] + plan[0][0]

        self.update_members(change, wait=wait)
        appended, skipped, removed = plan[0]
        return [m[0] for m in appended], skipped, removed

    def _add_remove_spliced(self, add: list[jobdb.Member],
                            remove: Collection[str]) -> tuple[list[str], list[str], list[str]] | None:
        if self.read_only or len(add) + len(remove) > SPLICE_LIMIT:
            return None
        try:
            raw = paths.read_regular_file(self.path)
        except (OSError, paths.NotAFile):
            return None  # (the general path reports it)
        digests = SplicedDigests(raw, unchanged_prefix(raw, remove))
        digest = digests.digest
        try:
            db = self.database(create=False)
            if db is None or not db.written(digest) or not db.has_members_of(digest):
                return None
            present = db.members_present([m[0] for m in add] + list(remove))
        except (jobdb.JobDatabaseError, WatchlistTooNew):
            return None
        appended, skipped, removed = _plan(add, remove, present)
        if not appended and not removed:
            return [], skipped, []
        pieces = splice_pieces(raw, dict.fromkeys(removed, b""), appended)
        if pieces is None:
            return None
        self.broken = None
        self._format1, self._raw, self._members, self._digest = None, None, None, digest
        self._replace_file(pieces)
        new_digest = digests.of(pieces)
        try:
            if db.update_members(digest, new_digest, upsert=appended, delete=removed):
                db.mark_written(new_digest)
        except jobdb.JobDatabaseError as exc:
            log.warning("the watchlist cache was not updated: %s", exc)
        return [m[0] for m in appended], skipped, removed

    def update_members(self, change: Callable[[list[jobdb.Member]], list[jobdb.Member]], *,
                       wait: float | None = None) -> list[jobdb.Member]:
        """`update` on (id, label, added_at) alone: what `add` and `remove` use, so that a change
        to a 100,000-job watchlist reads no states and formats only the lines it changes."""
        with self.locked(wait):
            members = change(list(self._checked(self._parse_members)))
            self._write_members(members)
        self._base = {m[0]: m[1] for m in members}
        return members


def listing(store: WatchlistStore) -> list[jobdb.Listed]:
    """What `ls` shows of each job, read without the lock: from the database in one query when
    the file is as it was cached (no records built), else from `peek()`."""
    with contextlib.suppress(OSError, paths.NotAFile, jobdb.JobDatabaseError):
        db = store.database(create=False)
        if db is not None:
            listed = db.listing(hashlib.sha256(paths.read_regular_file(store.path)).hexdigest())
            if listed is not None:
                return listed
    return [listed_of(record) for record in store.peek()]


def listed_of(r: JobRecord) -> jobdb.Listed:
    err = r.last_error
    return (r.job_id, r.label, r.added_at, r.status_code, r.status_msg, r.result_video_url, r.last_request_id,
            err.code if err else None, err.message if err else None, err.request_id if err else None, r.last_polled,
            err.http_status if err else None, err.content_type if err else None, err.excerpt if err else None)


def _plan(add: list[jobdb.Member], remove: Collection[str],
          present: set[str]) -> tuple[list[jobdb.Member], list[str], list[str]]:
    """What adding `add` and removing `remove` does to a watchlist holding `present` (of them):
    (members to append, ids already there, ids to cut)."""
    appended: list[jobdb.Member] = []
    skipped: list[str] = []
    for member in add:
        if member[0] in present:
            skipped.append(member[0])
        else:
            appended.append(member)
            present.add(member[0])
    appended_ids = {m[0] for m in appended}
    return appended, skipped, [job_id for job_id in dict.fromkeys(remove) if job_id in present and job_id not in appended_ids]


def _member_changes(old: list[jobdb.Member], new: list[jobdb.Member]) -> tuple[list[jobdb.Member], list[str]] | None:
    """(members added or changed, ids removed) from `old` to `new`; None when the order changed."""
    before = {m[0]: m for m in old}
    now = {m[0] for m in new}
    if [m[0] for m in new if m[0] in before] != [m[0] for m in old if m[0] in now]:
        return None
    return [m for m in new if before.get(m[0]) != m], [job_id for job_id in before if job_id not in now]


def migrate_format1(db: jobdb.JobDatabase, path: Path, raw: bytes, observed: list[JobRecord]) -> Path:
    """Move a format-1 file's states into the database (unless it saw the job later) and keep
    the file's bytes beside it; returns where they were kept. JobDatabaseError or OSError."""
    known = [JobRecord(job_id=r.job_id) for r in observed]
    db.apply_to(known)
    db.write([r for r, k in zip(observed, known, strict=True)
              if k.last_polled is None or (r.last_polled is not None and r.last_polled > k.last_polled)])
    backup = path.with_name(f"{path.stem}.format1{path.suffix or '.toml'}")
    if backup.exists():
        backup = backup.with_name(f"{path.stem}.format1-{int(time.time())}{path.suffix or '.toml'}")
    atomic.write_new_file(backup, raw)
    log.info("watchlist %s migrated to format %d; the old file is kept as %s", path, FORMAT_VERSION, backup)
    return backup


def _not_a_file(shown: Path, kind: str) -> str:
    return (f"watchlist {shown} is {kind}, not a file: give the path of a watchlist file "
            "(--watchlist, or `watchlist` in the config)")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]

