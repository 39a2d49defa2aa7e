"""Keeping results: each finished job's video saved to a directory, streamed, resumable and verified.

A download goes to `JOBID.EXT.part` (EXT: the video extension the server names, else mp4), with a
small sidecar `.JOBID.part.json` keeping what is needed to resume it safely (the final name, the
validator, the size): a dropped connection resumes with `Range` + `If-Range`, and so does the next
run after a killed process. A changed file (another ETag, a 200 to a ranged request) starts over
rather than splice two versions. Once every byte announced is there: SHA-256, fsync, atomic
rename, and `on_saved`; never a file whose size was not announced. `.JOBID.lock` (flocked) makes
two processes saving one job into one directory take turns. A refused URL (403, 404, 410: expired
or signed wrong) gets one fresh URL through `fresh_url` (a poll through the same limiter as every
other), then the download goes on; when the service no longer has the result, the download ends
`gone`.

Security: only https URLs, or http to loopback (the simulator); redirects are followed by hand
within the same rule (never from a remote host to a loopback one) and carry only this module's own
headers (no Authorization, no X-TC-*: the API's client is never used here); the file name is made
here, never taken from the URL, and files are opened without following symlinks.

No Textual; the clock is injected; httpx is imported when the first download starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.retry import Backoff
from tui.api.urls import is_loopback_host, result_url_problem
from tui.core.atomic import fsync_directory

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

Phase = Literal["queued", "running", "done", "failed", "gone"]

DEFAULT_CONCURRENCY = 3
MAX_CONCURRENCY = 16
MAX_REDIRECTS = 5
MAX_RESULT_BYTES = 1 << 40  # an announced size past 1 TiB is a broken or hostile answer, not a video
MAX_STALLS = 5  # attempts in a row that bring no new byte before the download fails
MAX_RESTARTS = 3  # times the bytes kept may be dropped (the file changed) before the download fails
RETRY_BACKOFF = Backoff(1.0, 30.0)
LOCK_POLL = 0.2  # seconds between two tries at a job's lock another process (or manager) holds
WRITE_BUFFER = 1 << 20  # bytes gathered before they are handed to the part's writer thread
WRITES_AHEAD = 2  # batches handed over and not yet written before the loop waits (PartWriter)
HASH_BLOCK = 1 << 20
ERROR_BODY_KEPT = 4096  # bytes of a refusal's body read to say why
PUBLISH_EVERY = 0.25  # seconds between two progress reports of one download (phase changes: at once)
RATE_WINDOW = 3.0  # seconds of progress the rate is measured over
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
REFUSED_STATUSES = (403, 404, 410)  # what an expired or spoiled URL gets: worth one fresh URL
RETRIED_STATUSES = (408, 429, 500, 502, 503, 504)
USER_AGENT = "vclm-watch-download"

SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,20})-([0-9]{1,20})/([0-9]{1,20})$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/([0-9]{1,20})$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
DEFAULT_EXTENSION = ".mp4"  # what the service produces, when the server names nothing usable
VIDEO_EXTENSIONS = {
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
    "video/mpeg": ".mpg", "video/x-msvideo": ".avi", "video/3gpp": ".3gp", "image/gif": ".gif",
}
_VIDEO_SUFFIXES = frozenset(VIDEO_EXTENSIONS.values())


# -- what views see ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DownloadState:
    """What a view shows of one job's download (a new object at each change)."""

    job_id: str
    phase: Phase
    received: int = 0
    total: int | None = None
    rate: float = 0.0  # bytes/s lately
    path: str = ""  # the final file when done, else the .part
    sha256: str = ""
    error: str = ""  # plain text: why it failed
    resumes: int = 0  # requests that went on from where an earlier one stopped
    restarts: int = 0  # times the bytes kept were dropped (the file changed, or could not be resumed)

    @property
    def eta(self) -> float | None:
        """Seconds left at the recent rate (None: unknown size, or no rate yet)."""
        if self.phase != "running" or self.total is None or self.rate <= 0:
            return None
        return max(0, self.total - self.received) / self.rate


@dataclass(frozen=True, slots=True)
class DownloadTotals:
    active: int
    queued: int
    done: int
    failed: int  # failed or gone
    received: int  # bytes of the downloads queued or running
    total: int | None  # their sizes (None while one is unknown)
    rate: float


def totals_of(states: Iterable[DownloadState]) -> DownloadTotals:
    """The aggregate of some downloads (a status bar's, a live line's)."""
    active = queued = done = failed = received = 0
    total: int | None = 0
    rate = 0.0
    for state in states:
        if state.phase in ("queued", "running"):
            if state.phase == "running":
                active += 1
                rate += state.rate
            else:
                queued += 1
            received += state.received
            total = None if total is None or state.total is None else total + state.total
        elif state.phase == "done":
            done += 1
        else:
            failed += 1
    return DownloadTotals(active, queued, done, failed, received, total, rate)


# -- names, URLs, sizes (pure: the table and property tests drive these) ----------------------------

def job_id_problem(job_id: object) -> str | None:
    """None if `job_id` can name a file (letters, digits, '-', '_'), else why not."""
    if not isinstance(job_id, str) or not SAFE_JOB_ID.match(job_id):
        return "a job id that cannot name a file"
    return None


def _disposition_filename(value: str) -> str:
    """The file name a Content-Disposition gives (filename* first), or ""."""
    star = re.search(r"filename\*\s*=\s*([^;]*)", value, re.IGNORECASE)
    if star:
        raw = star.group(1).strip().strip('"')
        _, _, encoded = raw.rpartition("'")  # charset'lang'value
        from urllib.parse import unquote

        return unquote(encoded, errors="replace")
    plain = re.search(r"filename\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^;]*)", value, re.IGNORECASE)
    if plain:
        return plain.group(1).strip().strip('"')
    return ""


def extension_from(content_type: str | None, content_disposition: str | None) -> str:
    """The file's extension as the server names it: a known video Content-Type, else the suffix of
    Content-Disposition's file name if it is a known video one (`.mov`, `.webm`...), else `.mp4`.
    Nothing else of the server's name is used: never a directory, never a whole name, never an
    extension that would make the file something else (`.sh`, `.exe`, `.html`, `.desktop`)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in VIDEO_EXTENSIONS:
        return VIDEO_EXTENSIONS[kind]
    if content_disposition:
        name = _disposition_filename(content_disposition)
        name = re.split(r"[/\\]", name)[-1]
        stem, dot, suffix = name.rpartition(".")
        suffix = suffix.lower()
        if dot and stem and "." + suffix in _VIDEO_SUFFIXES:
            return "." + suffix
    return DEFAULT_EXTENSION


def result_name(job_id: str, content_type: str | None = None, content_disposition: str | None = None) -> str:
    """`JOBID.EXT`: cannot collide with another job's, nor leave the directory."""
    problem = job_id_problem(job_id)
    if problem:
        raise ValueError(problem)
    return job_id + extension_from(content_type, content_disposition)


def download_url_problem(url: object, *, came_from: str | None = None) -> str | None:
    """None if a download may go to `url` (https, or http to loopback; from a redirect, not from a
    remote host to a loopback one), else why not."""
    problem = result_url_problem(url)
    if problem is not None:
        return problem
    assert isinstance(url, str)
    if came_from is not None:
        before = urlsplit(came_from).hostname or ""
        after = urlsplit(url).hostname or ""
        if is_loopback_host(after) and not is_loopback_host(before):
            return "a remote server redirecting to this machine"
    return None


def parse_length(value: str | None) -> int | None:
    """A Content-Length: None when absent; ValueError when it is not a plain size we accept."""
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value):
        raise ValueError(f"a Content-Length that is not a size ({value[:40]!r})")
    size = int(value)
    if size > MAX_RESULT_BYTES:
        raise ValueError(f"an announced size past {MAX_RESULT_BYTES} bytes ({size})")
    return size


def parse_content_range(value: str | None) -> tuple[int, int, int]:
    """`bytes START-END/TOTAL` as (start, end exclusive, total); ValueError for anything else."""
    found = _CONTENT_RANGE.match((value or "").strip())
    if not found:
        raise ValueError(f"a partial answer without a usable Content-Range ({(value or '')[:60]!r})")
    start, last, total = (int(g) for g in found.groups())
    if not start <= last < total or total > MAX_RESULT_BYTES:
        raise ValueError(f"a Content-Range that does not add up ({value!r})")
    return start, last + 1, total


def unsatisfied_size(value: str | None) -> int | None:
    """The size a 416's `Content-Range: bytes */SIZE` gives; None when it gives none that we accept."""
    found = _UNSATISFIED_RANGE.match((value or "").strip())
    if not found:
        return None
    size = int(found.group(1))
    return size if size <= MAX_RESULT_BYTES else None


def _strong_validator(headers: httpx.Headers) -> str:
    """What If-Range may carry: a strong ETag, else a Last-Modified; "" when there is neither."""
    etag = (headers.get("etag") or "").strip()
    if etag and not etag.startswith("W/") and etag.isprintable() and len(etag) <= 200:
        return etag
    modified = (headers.get("last-modified") or "").strip()
    return modified if modified.isprintable() and len(modified) <= 100 else ""


def _plain(text: str, limit: int = 200) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())[:limit]


def _refusal_text(status: int, reason: str, body: bytes) -> str:
    """`HTTP 403 Forbidden: AccessDenied: Request has expired.` from an object store's XML error."""
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>([^<]{1,80})</Code>", text)
    message = re.search(r"<Message>([^<]{1,200})</Message>", text)
    said = ": ".join(_plain(m.group(1)) for m in (code, message) if m)
    line = f"HTTP {status}" + (f" {_plain(reason, 40)}" if reason else "")
    return f"{line}: {said}" if said else line


# -- the files ------------------------------------------------------------------------------------

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True, slots=True)
class PartInfo:
    """What the sidecar of a `.part` keeps: enough to resume it without splicing two versions."""

    name: str  # the final file's name
    validator: str  # the ETag (or Last-Modified) the bytes kept came with
    total: int | None


def sidecar_path(directory: Path, job_id: str) -> Path:
    return directory / f".{job_id}.part.json"


def read_part_info(directory: Path, job_id: str) -> PartInfo | None:
    """The sidecar of a job's `.part`, or None when there is none or it cannot be trusted."""
    path = sidecar_path(directory, job_id)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(4096).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    name, validator, total = data.get("name"), data.get("validator"), data.get("total")
    if not isinstance(name, str) or not isinstance(validator, str):
        return None
    stem, dot, ext = name.partition(".")
    if stem != job_id or not dot or "." + ext not in _VIDEO_SUFFIXES or not validator:
        return None
    if total is not None and (type(total) is not int or not 0 <= total <= MAX_RESULT_BYTES):
        return None
    return PartInfo(name, validator, total)


def write_part_info(directory: Path, job_id: str, info: PartInfo) -> None:
    """Written whole (a temporary file renamed over it), before the first byte of the part."""
    path = sidecar_path(directory, job_id)
    temporary = path.with_name(path.name + ".tmp")
    data = json.dumps({"name": info.name, "validator": info.validator, "total": info.total}).encode()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(path)


def file_sha256(path: Path, limit: int | None = None) -> str:
    """The SHA-256 of a file (its first `limit` bytes), read in blocks (run in a thread)."""
    return _hash_file(path, limit).hexdigest()


def _hash_file(path: Path, limit: int | None = None) -> Any:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        left = limit
        while left is None or left > 0:
            block = handle.read(HASH_BLOCK if left is None else min(HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest


def _write_all(fd: int, chunks: list[bytes], hasher: Any) -> None:
    """All of `chunks`, in order, hashed then written at the descriptor's offset. (In a thread:
    hashlib and write let the GIL go, so the bytes are hashed on another core while the loop
    receives more. Joined first: the thread then takes the GIL back twice per batch, not twice per
    chunk, and each time it may have to wait for the busy loop to let it go.)"""
    data = memoryview(b"".join(chunks))
    hasher.update(data)
    while data:
        data = data[os.write(fd, data):]


class PartWriter:
    """One try's bytes into its part file: hashed and written, in order, by a thread of its own.

    The loop hands over a batch and goes on receiving; it waits only when more than AHEAD batches
    are not written yet (memory stays bounded, and a slow disk slows the download, not the loop).
    A write that fails stops the ones after it (the part stays a prefix of the file). `hashed`:
    the bytes of the part written and hashed so far, -1 once a write failed or was cut short (the
    part is then hashed again if resumed)."""

    def __init__(self, fd: int, hasher: Any, hashed: int) -> None:
        self.fd, self.hasher, self.hashed = fd, hasher, hashed
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vclm-download")
        self._writes: deque[tuple[asyncio.Future[None], int]] = deque()  # handed over: each with where it ends
        self._broken = False

    def _write(self, chunks: list[bytes]) -> None:  # (in the thread, one batch after the other)
        if self._broken:
            raise OSError(errno.EIO, "an earlier write to the part failed")
        try:
            _write_all(self.fd, chunks, self.hasher)
        except BaseException:
            self._broken = True
            raise

    async def put(self, chunks: list[bytes], *, ahead: int = WRITES_AHEAD) -> None:
        """Hand `chunks` over (if any), then wait until no more than `ahead` batches are unwritten."""
        if chunks:
            end = (self._writes[-1][1] if self._writes else self.hashed) + sum(map(len, chunks))
            self._writes.append((asyncio.get_running_loop().run_in_executor(self._thread, self._write, chunks), end))
        while len(self._writes) > ahead:
            future, end = self._writes[0]
            try:
                await asyncio.shield(future)
            except BaseException:  # cancelled while waiting, or the disk refused
                await self._wait_all()
                raise
            self._writes.popleft()
            if self.hashed >= 0:
                self.hashed = end

    async def settle(self) -> None:
        """Every batch handed over written (or the first failure raised)."""
        await self.put([], ahead=0)

    async def _wait_all(self) -> None:
        """After a cancel or a failure: every write handed over ends before the caller goes on,
        however often the caller is cancelled meanwhile (then it is cancelled once they have);
        `hashed` is where the last good one ended."""
        cancelled = False
        for future, end in self._writes:
            while not future.done():
                try:
                    await asyncio.shield(future)
                except asyncio.CancelledError:
                    cancelled = cancelled or not future.done()  # (the thread is still writing: waited for)
                except Exception:  # noqa: BLE001 - seen below
                    break
            if future.cancelled() or future.exception() is not None:
                self.hashed = -1
            elif self.hashed >= 0:
                self.hashed = end
        self._writes.clear()
        if cancelled:
            raise asyncio.CancelledError

    def close(self) -> None:
        """The descriptor is closed by the thread, after every write handed to it: never under a
        write, nor while one is queued (a descriptor number reused at once would take its bytes)."""
        self._thread.submit(os.close, self.fd)
        self._thread.shutdown(wait=False)


# -- one job at a time per directory ------------------------------------------------------------------

def lock_path(directory: Path, job_id: str) -> Path:
    return directory / f".{job_id}.lock"


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _read_note(fd: int, job_id: str) -> tuple[str, int, str] | None:
    """What the holder before us wrote into the lock file as it let go: (name, bytes, sha256) of
    the file it saved, or None."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    name, size, sha256 = data.get("name"), data.get("bytes"), data.get("sha256")
    if not isinstance(name, str) or not isinstance(sha256, str) or type(size) is not int:
        return None
    stem, dot, ext = name.partition(".")
    if stem != job_id or not dot or "." + ext not in _VIDEO_SUFFIXES:
        return None
    return name, size, sha256


class JobLock:
    """`.JOBID.lock` in the directory, flocked for the whole of one job's download, so that two
    processes (or two managers) saving into one directory take turns instead of writing one `.part`
    together. The holder writes what it saved into the lock file, then removes it, then lets go: one
    that waited on it reads that note (the file, its size and SHA-256) and need not fetch it again;
    one that finds the file gone from under its lock tries again on the new one."""

    def __init__(self, directory: Path, job_id: str, clock: Clock) -> None:
        self.path = lock_path(directory, job_id)
        self.job_id = job_id
        self.clock = clock
        self.fd = -1
        self.note: tuple[str, int, str] | None = None  # what a holder before us saved

    async def acquire(self) -> None:
        """Taken without blocking the event loop: tried, and tried again on the clock while held."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await self.clock.sleep(LOCK_POLL)
                if _same_file(fd, self.path):
                    self.fd, fd = fd, -1
                    return
                self.note = _read_note(fd, self.job_id) or self.note  # (its holder removed it as it let go)
            finally:
                if fd >= 0:
                    os.close(fd)

    def release(self, saved: tuple[str, int, str] | None = None) -> None:
        """Let go (removing the file first); `saved` (name, bytes, sha256) is left for who waits."""
        fd, self.fd = self.fd, -1
        if fd < 0:
            return
        try:
            if saved is not None:
                name, size, sha256 = saved
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, json.dumps({"name": name, "bytes": size, "sha256": sha256}).encode(), 0)
            if _same_file(fd, self.path):
                with contextlib.suppress(OSError):  # (left behind, it is only taken again next time)
                    os.unlink(self.path)
        finally:
            os.close(fd)


# -- one download -----------------------------------------------------------------------------------

class DownloadFailed(Exception):
    """The download cannot go on: the message says why, in plain words."""


class ResultGone(Exception):
    """The service no longer has the result (no fresh URL)."""


class _Restart(Exception):
    """The bytes kept are of no use (the file changed, or cannot be resumed): start from 0."""


class _Retry(Exception):
    """A failure worth another try (a dropped connection, a 503)."""


class DownloadManager:
    """Downloads finished jobs' videos into one directory, a few at a time.

    `request(job_id, url)` queues one; `run()` works the queue until `close()`; views `subscribe`
    to each download's `DownloadState` and read `totals()`. `fresh_url(job_id)` is asked once per
    download when its URL is refused (one poll through the API's limiter); `on_saved(job_id, path,
    bytes, sha256)` is told of each file saved; `recorded(job_id)` gives what an earlier run saved
    (path, bytes, sha256), so a file still there (in this directory) with that checksum is not
    downloaded again.
    Downloads never hold the API's limiter or credentials: polling goes on at its pace.
    """

    def __init__(self, directory: Path, *, fresh_url: Callable[[str], Awaitable[str | None]],
                 concurrency: int = DEFAULT_CONCURRENCY, clock: Clock = SYSTEM_CLOCK,
                 transport: httpx.AsyncBaseTransport | None = None,
                 on_saved: Callable[[str, str, int, str], None] | None = None,
                 recorded: Callable[[str], tuple[str, int, str] | None] | None = None) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}, not {concurrency}")
        self.directory = Path(directory)
        self.fresh_url = fresh_url
        self.concurrency = concurrency
        self.clock = clock
        self.transport = transport
        self.on_saved = on_saved
        self.recorded = recorded
        self._states: dict[str, DownloadState] = {}
        self._urls: dict[str, str] = {}
        self._pending: deque[str] = deque()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subscribers: list[Callable[[DownloadState], None]] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self._running = False
        self._stopped = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._published_at: dict[str, float] = {}
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    # -- views ------------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[DownloadState], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def state(self, job_id: str) -> DownloadState | None:
        return self._states.get(job_id)

    def states(self) -> list[DownloadState]:
        return list(self._states.values())

    def totals(self) -> DownloadTotals:
        return totals_of(self._states.values())

    def _set(self, job_id: str, *, force: bool = False, **changes: Any) -> DownloadState:
        old = self._states.get(job_id)
        state = replace(old, **changes) if old is not None else DownloadState(job_id=job_id, **changes)
        self._states[job_id] = state
        now = self.clock.monotonic()
        phase_changed = old is None or old.phase != state.phase
        last = self._published_at.get(job_id)
        if force or phase_changed or last is None or now - last >= PUBLISH_EVERY:
            self._published_at[job_id] = now
            for callback in list(self._subscribers):
                try:
                    callback(state)
                except Exception:  # a broken view must not stop a download
                    log.exception("download subscriber failed")
        return state

    # -- the queue --------------------------------------------------------------------------------

    def request(self, job_id: str, url: str) -> bool:
        """Queue a download; False if it is already queued or running, or saved in this run and the
        file is still there (an earlier run's file is checked against its checksum when its turn comes)."""
        if self._closed:
            return False
        state = self._states.get(job_id)
        if state is not None and state.phase in ("queued", "running"):
            if url:
                self._urls[job_id] = url  # (a fresher URL is better; what was downloaded is kept)
            return False
        if state is not None and state.phase == "done" and state.path and os.path.isfile(state.path):
            return False
        self._urls[job_id] = url
        self._pending.append(job_id)
        self._samples.pop(job_id, None)
        self._set(job_id, phase="queued", received=0, total=None, rate=0.0, path="", sha256="", error="",
                  resumes=0, restarts=0)
        self._wakeup.set()
        return True

    async def run(self) -> None:
        """Work the queue until `close()` (a few at a time); never raises, never waits on polling."""
        if self._running or self._closed:
            return
        self._running = True
        self._stopped.clear()
        try:
            import httpx

            from tui.core.download_http import download_transport

            self._client = httpx.AsyncClient(
                transport=self.transport or download_transport(), follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            while not self._closed:
                while self._pending and len(self._tasks) < self.concurrency and not self._closed:
                    job_id = self._pending.popleft()
                    if job_id in self._tasks or self._states[job_id].phase != "queued":
                        continue
                    task = asyncio.create_task(self._one(job_id))
                    self._tasks[job_id] = task
                    task.add_done_callback(self._finished)
                self._wakeup.clear()
                if not self._closed:
                    await self._wakeup.wait()
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - run() never raises: the downloads in hand stay resumable
            log.exception("the download queue stopped")
        finally:
            await self._cancel_all()
            if self._client is not None:
                with contextlib.suppress(Exception):
                    await self._client.aclose()
                self._client = None
            self._running = False
            self._stopped.set()

    def _finished(self, task: asyncio.Task[None]) -> None:
        for job_id, mine in list(self._tasks.items()):
            if mine is task:
                del self._tasks[job_id]
        self._wakeup.set()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop now: downloads in progress keep their `.part` files (resumed by the next run)."""
        self._closed = True
        self._wakeup.set()
        await self._cancel_all()
        if self._running:
            await self._stopped.wait()

    async def wait_idle(self) -> None:
        """Until nothing is queued or running, while `run()` works (for commands that download and exit)."""
        while self._running and (self._pending or self._tasks):
            tasks = list(self._tasks.values())
            if tasks:
                await asyncio.wait(tasks)
            else:
                await asyncio.sleep(0)

    # -- one job ----------------------------------------------------------------------------------

    async def _one(self, job_id: str) -> None:
        try:
            self._set(job_id, phase="running")
            problem = job_id_problem(job_id)
            if problem:
                raise DownloadFailed(problem)
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = JobLock(self.directory, job_id, self.clock)
            await lock.acquire()  # (another process, or manager, saving this job here: its turn first)
            saved: tuple[str, int, str] | None = None
            try:
                found = await self._already_saved(job_id, lock.note)
                if found is None:
                    assert self._client is not None
                    transfer = Transfer(job_id, self._urls.get(job_id, ""), directory=self.directory,
                                        client=self._client, clock=self.clock, fresh_url=self.fresh_url,
                                        report=self._set, on_bytes=self._progress)
                    try:
                        await transfer.run()
                    finally:
                        self._urls[job_id] = transfer.url
                        self._samples.pop(job_id, None)
                state = self._states[job_id]
                saved = (Path(state.path).name, state.received, state.sha256)
            finally:
                lock.release(saved)
            if found == "recorded":
                return
            if self.on_saved is not None:  # (saved now, or by another while this one waited)
                try:
                    self.on_saved(job_id, state.path, state.received, state.sha256)
                except Exception:  # the file is saved; a broken recorder must not undo that
                    log.exception("recording the download of %s failed", job_id)
        except asyncio.CancelledError:
            current = self._states.get(job_id)
            if current is not None and current.phase == "running":
                self._set(job_id, phase="queued", rate=0.0)  # left resumable
            raise
        except ResultGone:
            self._set(job_id, phase="gone", rate=0.0, error="the service no longer has this result")
        except DownloadFailed as failure:
            self._set(job_id, phase="failed", rate=0.0, error=_plain(str(failure), 300))
        except OSError as error:
            where = f" ({error.filename})" if getattr(error, "filename", None) else ""
            self._set(job_id, phase="failed", rate=0.0, error=_plain(f"{error.strerror or error}{where}", 300))
        except Exception as error:  # noqa: BLE001 - nothing escapes a download: it fails, visibly
            log.exception("download of %s failed", job_id)
            self._set(job_id, phase="failed", rate=0.0, error=_plain(f"unexpected {type(error).__name__}: {error}"))

    async def _already_saved(self, job_id: str, note: tuple[str, int, str] | None = None) -> str | None:
        """A file still there with its size and checksum: nothing to do. "recorded": an earlier run's
        (`recorded`); "noted": the one another process or manager saved while this one waited for
        its lock (`note`: name, bytes, sha256); None: neither."""
        known = self.recorded(job_id) if self.recorded is not None else None
        if known and self._in_directory(known[0]) and await self._still_there(job_id, *known):
            return "recorded"
        if note is not None:
            name, size, sha256 = note
            if await self._still_there(job_id, str(self.directory / name), size, sha256):
                return "noted"
        return None

    def _in_directory(self, path: str) -> bool:
        """Whether `path` is a file of this manager's directory (one saved elsewhere is not saved here)."""
        try:
            return bool(path) and os.path.samefile(os.path.dirname(path) or ".", self.directory)
        except OSError:
            return False

    async def _still_there(self, job_id: str, path: str, size: int, sha256: str) -> bool:
        if not path or not sha256:
            return False
        try:
            if not os.path.isfile(path) or os.path.getsize(path) != size:
                return False
            actual = await asyncio.to_thread(file_sha256, Path(path))
        except OSError:
            return False
        if actual != sha256:
            return False
        self._set(job_id, phase="done", received=size, total=size, path=path, sha256=sha256, error="")
        return True

    def _progress(self, job_id: str, received: int) -> None:
        now = self.clock.monotonic()
        samples = self._samples.setdefault(job_id, deque())
        if not samples or now - samples[-1][0] >= RATE_WINDOW / 30:  # (a few dozen samples, however fast)
            samples.append((now, received))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        last = self._published_at.get(job_id)
        if last is not None and now - last < PUBLISH_EVERY:
            return  # (states, and totals(), are brought up to date a few times a second)
        first_at, first_bytes = samples[0]
        rate = (received - first_bytes) / (now - first_at) if now > first_at else self._states[job_id].rate
        self._set(job_id, received=received, rate=rate)


class Transfer:
    """One job's download, from its URL to the file in place: requests, resumes, restarts, checks.

    Reports through `report(job_id, **state changes)` and `on_bytes(job_id, received)`; run by
    `DownloadManager`, which owns the queue, the HTTP client and the states."""

    def __init__(self, job_id: str, url: str, *, directory: Path, client: httpx.AsyncClient, clock: Clock,
                 fresh_url: Callable[[str], Awaitable[str | None]], report: Callable[..., object],
                 on_bytes: Callable[[str, int], None]) -> None:
        self.job_id = job_id
        self.url = url
        self.directory = directory
        self.client = client
        self.clock = clock
        self.fresh_url = fresh_url
        self.report = report
        self.on_bytes = on_bytes
        self.received = 0
        self.total: int | None = None
        self.refreshed = False  # a fresh URL was asked for (once per download)
        self.stalls = 0  # tries in a row that brought no new byte
        self.resumes = 0
        self.restarts = 0
        self.hasher: Any = None  # the SHA-256 of the part's bytes so far, kept across tries
        self.hashed = 0
        self.sha256 = ""

    async def run(self) -> None:
        while True:
            try:
                await self._attempt()
                return
            except _Restart as why:
                log.info("download of %s starts over: %s", self.job_id, why)
                self._discard()
                self.restarts += 1
                self.stalls += 1
                if self.restarts > MAX_RESTARTS:
                    raise DownloadFailed(f"started over {MAX_RESTARTS} times, and again: {why}") from None
            except _Retry as why:
                self.stalls += 1
                if self.stalls > MAX_STALLS:
                    raise DownloadFailed(f"{why} ({MAX_STALLS + 1} tries in a row brought nothing new)") from None
            self.report(self.job_id, resumes=self.resumes, restarts=self.restarts, rate=0.0)
            if self.stalls > MAX_STALLS:
                raise DownloadFailed("the file keeps changing, or cannot be resumed")
            if self.stalls > 1:
                await self.clock.sleep(RETRY_BACKOFF.delay(self.stalls - 1))

    def _discard(self) -> None:
        info = read_part_info(self.directory, self.job_id)
        if info is not None:
            _remove(self.directory / (info.name + ".part"))
        _remove(sidecar_path(self.directory, self.job_id))
        self.received, self.total, self.hasher, self.hashed = 0, None, None, 0

    async def _open(self, headers: dict[str, str]) -> httpx.Response:
        """The answer to a GET of the job's URL (redirects followed by hand, within the rules)."""
        import httpx

        url, came_from = self.url, None
        for _ in range(MAX_REDIRECTS + 1):
            problem = download_url_problem(url, came_from=came_from)
            if problem:
                raise DownloadFailed(f"refused to download from {'a redirect to ' if came_from else ''}"
                                     f"a URL that is {problem}")
            request = self.client.build_request("GET", url, headers=headers)
            try:
                response = await self.client.send(request, stream=True)
            except httpx.TransportError as error:
                raise _Retry(f"connection failed: {_plain(str(error)) or type(error).__name__}") from None
            location = response.headers.get("location")
            if response.status_code in (301, 302, 303, 307, 308) and location:
                await response.aclose()
                came_from, url = url, urljoin(url, location.strip())
                continue
            return response
        raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects")

    async def _attempt(self) -> None:
        """One request: from where the part file stops (if it can be trusted) to the end, or a raise."""
        directory, job_id = self.directory, self.job_id
        info = read_part_info(directory, job_id)
        offset = 0
        if info is not None:
            part = directory / (info.name + ".part")
            try:
                offset = os.lstat(part).st_size if os.path.isfile(part) and not os.path.islink(part) else 0
            except OSError:
                offset = 0
            if info.total is not None and offset > info.total:
                raise _Restart("the part file is longer than the file")
        headers: dict[str, str] = {}
        if offset > 0 and info is not None:
            headers = {"Range": f"bytes={offset}-", "If-Range": info.validator}
        if not self.url:  # (none known yet: asked for, once, as for a refused one)
            await self._refresh("no URL yet")
        response = await self._open(headers)
        try:
            await self._receive(response, info, offset)
        finally:
            await response.aclose()

    async def _refused(self, response: httpx.Response) -> None:
        body = b""
        with contextlib.suppress(Exception):  # (aiter_bytes: an answer already read in memory too)
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= ERROR_BODY_KEPT:
                    break
        said = _refusal_text(response.status_code, response.reason_phrase, body[:ERROR_BODY_KEPT])
        if response.status_code in RETRIED_STATUSES:
            raise _Retry(said)
        if response.status_code in REFUSED_STATUSES and not self.refreshed:
            await self._refresh(said)
            raise _Retry(f"{said} (asked for a fresh URL)")
        after = " even with a fresh URL" if self.refreshed and response.status_code in REFUSED_STATUSES else ""
        raise DownloadFailed(f"the server refused the download{after}: {said}")

    async def _refresh(self, why: str) -> None:
        """One fresh URL for this download (ResultGone when the service has none)."""
        self.refreshed = True
        try:
            fresh = await self.fresh_url(self.job_id)
        except Exception as error:  # noqa: BLE001 - the poll failed: said, not raised further
            raise DownloadFailed(f"{why}; asking for a fresh URL failed: {_plain(str(error)) or type(error).__name__}") \
                from None
        if not fresh:
            raise ResultGone()
        self.url = fresh
        self.stalls = 0

    async def _receive(self, response: httpx.Response, info: PartInfo | None,
                       offset: int) -> None:
        status = response.status_code
        if (status == 416 and info is not None and info.total is not None and offset == info.total
                and unsatisfied_size(response.headers.get("content-range")) == info.total):
            # every byte is there already (a run killed between the last byte and the rename)
            await self._finish(info, offset)
            return
        if status == 416:
            raise _Restart("the server has no such range")
        if status not in (200, 206):
            await self._refused(response)
            return
        encoding = (response.headers.get("content-encoding") or "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise DownloadFailed(f"the server sent the file encoded ({_plain(encoding, 40)}), not as it is")
        total: int | None
        try:
            length = parse_length(response.headers.get("content-length"))
            validator = _strong_validator(response.headers)
            if status == 206:
                start, end, total = parse_content_range(response.headers.get("content-range"))
                if info is None or start != offset or (length is not None and length != end - start):
                    raise _Restart("a partial answer that does not continue the part file")
                if info.total is not None and total != info.total:
                    raise _Restart(f"the file's size changed ({info.total} to {total} bytes)")
                if validator and validator != info.validator:
                    raise _Restart("the file changed (another ETag)")
                name = info.name
                self.resumes += 1
            else:
                if offset > 0:  # the file changed (If-Range), or the server cannot resume: this answer, whole
                    log.info("download of %s starts over: a whole answer to a ranged request", self.job_id)
                    self.restarts += 1
                    if self.restarts > MAX_RESTARTS:
                        raise DownloadFailed(f"started over {MAX_RESTARTS} times, and the file changed again")
                if length is None:  # (a body cut short would end like a whole one: nothing to check it by)
                    raise DownloadFailed("the server did not say the file's size: not saved, since it could "
                                         "not be checked")
                start, total = 0, length
                name = result_name(self.job_id, response.headers.get("content-type"),
                                   response.headers.get("content-disposition"))
        except ValueError as error:
            raise DownloadFailed(str(error)) from None
        if status == 200:
            self._discard()  # (another name, perhaps: the old part goes)
        info = PartInfo(name, validator, total)
        if validator:
            write_part_info(self.directory, self.job_id, info)
        else:
            _remove(sidecar_path(self.directory, self.job_id))  # no validator: cannot be resumed safely
        await self._stream(response, info, start)

    async def _stream(self, response: httpx.Response, info: PartInfo, start: int) -> None:
        """The body into the part from `start`: gathered, then hashed and written by the part's
        thread (PartWriter: a write can wait on the disk for a long time, and hashing costs a core;
        the event loop, and polling, never wait on either; `hashed` moves on as each write ends)."""
        import httpx

        part = self.directory / (info.name + ".part")
        if self.hasher is None or self.hashed != start:
            self.hasher = (await asyncio.to_thread(_hash_file, part, start)) if start else hashlib.sha256()
            self.hashed = start
        flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | (0 if start else os.O_TRUNC)
        writer = PartWriter(os.open(part, flags, 0o644), self.hasher, self.hashed)  # (it closes the descriptor)
        fd = writer.fd
        received, total = start, info.total
        self.received, self.total = received, total
        began = received
        pending: list[bytes] = []  # the chunks gathered since the last batch was handed over
        gathered = 0
        try:
            self.report(self.job_id, phase="running", received=received, total=total, path=str(part), error="",
                        resumes=self.resumes, restarts=self.restarts)
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
            try:
                async for chunk in response.aiter_raw():
                    if total is not None and received + len(chunk) > total:
                        raise DownloadFailed(f"the server sent more than the {total} bytes it announced")
                    pending.append(chunk)
                    gathered += len(chunk)
                    received += len(chunk)
                    self.received = received
                    if gathered >= WRITE_BUFFER:
                        # (handed over before the wait: a cancel during it must not hand it over again)
                        batch, pending, gathered = pending, [], 0
                        await writer.put(batch)  # (written while more comes)
                    self.on_bytes(self.job_id, received)
            except httpx.TransportError as error:
                await writer.put(pending, ahead=0)
                if received > began:
                    self.stalls = 0
                what = _plain(str(error)) or type(error).__name__
                raise _Retry(f"connection lost after {received} bytes: {what}") from None
            except BaseException:
                # (a cancel, a failure: what arrived is kept, and stays a prefix of the file; the
                # writes handed over end before the descriptor is closed)
                with contextlib.suppress(BaseException):
                    await writer.put(pending, ahead=0)
                raise
            await writer.put(pending, ahead=0)
            if total is not None and received < total:
                if received > began:
                    self.stalls = 0
                raise _Retry(f"the answer ended at {received} of {total} bytes")
            await asyncio.to_thread(os.fsync, fd)
        finally:
            self.hashed = writer.hashed
            writer.close()  # (and the descriptor with it)
        await self._finish(replace(info, total=received), received)

    async def _finish(self, info: PartInfo, size: int) -> None:
        """The part holds every byte: checked, hashed, renamed into place, recorded."""
        part = self.directory / (info.name + ".part")
        final = self.directory / info.name
        if info.total is not None and size != info.total:
            raise _Restart("the part file does not have the announced size")
        fd = os.open(part, os.O_RDONLY | _NOFOLLOW)
        try:
            on_disk = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if on_disk != size:
            raise _Restart(f"the part file has {on_disk} bytes, not {size}")
        if self.hasher is not None and self.hashed == size:
            digest = self.hasher.hexdigest()
        else:
            digest = await asyncio.to_thread(file_sha256, part)
        self.sha256 = digest
        if os.path.islink(final) or os.path.isdir(final):
            raise DownloadFailed(f"{final} is in the way (a link or a directory)")
        os.replace(part, final)
        await asyncio.to_thread(fsync_directory, self.directory)
        _remove(sidecar_path(self.directory, self.job_id))
        self.report(self.job_id, phase="done", received=size, total=size, rate=0.0, path=str(final),
                  sha256=digest, error="", resumes=self.resumes, restarts=self.restarts)

