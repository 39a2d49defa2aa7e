"""The simulator's result files: the video served at each ResultVideoUrl, with ranges, expiry and faults.

Opt-in (`Simulator(result_base=...)`, or `serve(..., serve_results=True)` on loopback): without a
base the URLs handed out point nowhere, as before. Content is made from a seeded generator in
blocks (one random block per file and version, turned and stamped differently for each block), so
any byte range of any size is produced on demand without holding the file; a file's
"version" changes at the moments a test sets, which changes its bytes and its ETag.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tui.api.clock import Clock
from tui.api.models import JOB_SUCCESS

BLOCK_BYTES = 64 * 1024  # the generator's unit, and the largest chunk a front-end is handed
DEFAULT_SIZE_RANGE = (64 * 1024, 256 * 1024)  # small by default: tests download many
LOG_KEPT = 10_000
RESULT_NAME = re.compile(r"^([0-9a-f]{32})\.mp4$")


def sign_result(seed: int, job_id: str, expiry: int) -> str:
    """The `sign=` of a result URL (the simulator's stand-in for an object store's signature)."""
    return hashlib.sha256(f"{seed}:{job_id}:{expiry}".encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=64)
def _base_block(seed: int, job_id: str, version: int) -> bytes:
    return random.Random(f"{seed}/result/{job_id}/{version}").randbytes(BLOCK_BYTES)


def _block(seed: int, job_id: str, version: int, index: int) -> bytes:
    """Block `index` of a file: the file's own random block, turned by an amount that depends on
    the index, and stamped with the index (so no two blocks of a file are the same, and a range
    taken from the wrong place, or from another version, has other bytes). A copy, not a run of
    the generator: drawn anew for each block, the bytes cost the simulator 0.5 s of CPU per
    200 MB, which on a small machine it took from the client it serves."""
    base = _base_block(seed, job_id, version)
    turn = (index * 40_503 + 8) % (BLOCK_BYTES - 8) + 8
    return index.to_bytes(8, "big") + base[turn:] + base[8:turn]


def content_chunks(seed: int, job_id: str, version: int, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end-1 of a job's file at `version`, at most BLOCK_BYTES at a time."""
    pos = start
    while pos < end:
        index, skip = divmod(pos, BLOCK_BYTES)
        take = min(BLOCK_BYTES - skip, end - pos)
        yield _block(seed, job_id, version, index)[skip:skip + take]
        pos += take


@dataclass
class FileRequest:
    """One request for a result file, as the simulator's log records it (bytes_sent grows while
    the body is sent)."""

    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int = 0
    dropped: bool = False


class ConnectionDropped(Exception):
    """Raised by a ResultBody at the byte where its connection is to be cut."""


@dataclass
class ResultBody:
    """The body of a file answer: chunks produced on demand, counted into the log entry.

    `drop_after`: cut the connection after this many body bytes. `bytes_per_second`: send no
    faster, waiting on `clock` (the simulator's).
    """

    chunks: Iterable[bytes]
    entry: FileRequest
    clock: Clock
    drop_after: int | None = None
    bytes_per_second: float | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        step = BLOCK_BYTES
        if self.bytes_per_second:
            step = max(1, min(BLOCK_BYTES, int(self.bytes_per_second)))
        for chunk in self.chunks:
            for i in range(0, len(chunk), step):
                piece = chunk[i:i + step]
                if self.drop_after is not None and self.entry.bytes_sent + len(piece) >= self.drop_after:
                    piece = piece[: self.drop_after - self.entry.bytes_sent]
                    if piece:
                        self.entry.bytes_sent += len(piece)
                        yield piece
                    self.entry.dropped = True
                    raise ConnectionDropped(f"connection dropped after {self.entry.bytes_sent} bytes")
                if self.bytes_per_second:
                    await self.clock.sleep(len(piece) / self.bytes_per_second)
                self.entry.bytes_sent += len(piece)
                yield piece


@dataclass(frozen=True, slots=True)
class FileAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    stream: ResultBody | None = None


@dataclass
class ResultFaults:
    """Faults of result downloads: per job (`drop_next`, `trickle`) or, for drops, by chance."""

    p_drop: float = 0.0  # per file answer with a body
    drop_after_bytes: int = 64 * 1024  # where a drop drawn by chance cuts the body
    bytes_per_second: float | None = None  # a trickle for every file
    _drops: dict[str, deque[int]] = field(default_factory=dict, repr=False)
    _trickles: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_drop <= 1.0:
            raise ValueError(f"p_drop must be a probability between 0 and 1, not {self.p_drop!r}")
        if self.drop_after_bytes < 0:
            raise ValueError("drop_after_bytes must not be negative")

    def drop_next(self, job_id: str, after_bytes: int, times: int = 1) -> None:
        """The next `times` answers with a body for this job cut the connection after `after_bytes`."""
        if after_bytes < 0 or times < 0:
            raise ValueError("after_bytes and times must not be negative")
        self._drops.setdefault(job_id, deque()).extend([after_bytes] * times)

    def trickle(self, job_id: str, bytes_per_second: float | None) -> None:
        """Send this job's file at most this fast (None: full speed again)."""
        if bytes_per_second is None:
            self._trickles.pop(job_id, None)
        elif bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be above 0")
        else:
            self._trickles[job_id] = bytes_per_second

    def drop_for(self, job_id: str, rng: random.Random) -> int | None:
        u = rng.random()  # one draw per answer, so the stream does not depend on the triggers
        pending = self._drops.get(job_id)
        if pending:
            return pending.popleft()
        return self.drop_after_bytes if u < self.p_drop else None

    def rate_for(self, job_id: str) -> float | None:
        return self._trickles.get(job_id, self.bytes_per_second)


def parse_range(value: str, size: int) -> tuple[int, int] | None | str:
    """`Range: bytes=...` against a file of `size`: (start, end exclusive), None to ignore the
    header (malformed, several ranges), or "unsatisfiable"."""
    unit, sep, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or not sep or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) \
            or (last and not last.isdigit()):
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    end = size - 1 if not last else int(last)
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1) + 1


def _error_xml(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    ).encode()


XML_HEADERS = (("Content-Type", "application/xml"),)


class ResultFiles:
    """The files behind the result URLs of one Simulator: sizes, versions, faults and a log.

    Takes what it needs from the simulator (seed, clock, a job lookup, the simulated time), not
    the simulator itself.
    """

    def __init__(
        self,
        *,
        seed: int,
        clock: Clock,
        find_job: Callable[[str], object | None],
        status_of: Callable[[str], str],
        sim_now: Callable[[], float],
        base: str | None = None,
        size_range: tuple[int, int] = DEFAULT_SIZE_RANGE,
        faults: ResultFaults | None = None,
    ) -> None:
        if not 0 <= size_range[0] <= size_range[1]:
            raise ValueError(f"size_range must be (min, max) with 0 <= min <= max, not {size_range!r}")
        self.seed = seed
        self.clock = clock
        self.base = base
        self.size_range = size_range
        self.faults = faults or ResultFaults()
        self.log: deque[FileRequest] = deque(maxlen=LOG_KEPT)
        self._find_job = find_job
        self._status_of = status_of
        self._sim_now = sim_now
        self._sizes: dict[str, int] = {}
        self._changes: dict[str, list[float]] = {}
        self._rng = random.Random(f"{seed}/result-faults")

    # -- settings ---------------------------------------------------------------------------

    @property
    def path_prefix(self) -> str | None:
        """The URL path under which files are served, or None when not serving."""
        if self.base is None:
            return None
        path = urlsplit(self.base).path or "/"
        return path if path.endswith("/") else path + "/"

    def set_size(self, job_id: str, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self._sizes[job_id] = size

    def change_at(self, job_id: str, sim_time: float) -> None:
        """From simulated second `sim_time` on, the job's file is a new version (bytes and ETag)."""
        self._changes.setdefault(job_id, []).append(sim_time)

    # -- what a file is ---------------------------------------------------------------------

    def size_of(self, job_id: str) -> int:
        if job_id not in self._sizes:
            self._sizes[job_id] = random.Random(f"{self.seed}/result-size/{job_id}").randint(*self.size_range)
        return self._sizes[job_id]

    def version_of(self, job_id: str) -> int:
        now = self._sim_now()
        return sum(1 for t in self._changes.get(job_id, ()) if t <= now)

    def etag_of(self, job_id: str, version: int | None = None) -> str:
        v = self.version_of(job_id) if version is None else version
        digest = hashlib.sha256(f"{self.seed}:{job_id}:{v}:{self.size_of(job_id)}".encode()).hexdigest()[:32]
        return f'"{digest}"'

    def content(self, job_id: str, version: int | None = None, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The file's bytes (the current version unless told), in chunks: what tests compare to."""
        v = self.version_of(job_id) if version is None else version
        return content_chunks(self.seed, job_id, v, start, self.size_of(job_id) if end is None else end)

    def url_for(self, job_id: str, expiry: int) -> str | None:
        if self.base is None:
            return None
        base = self.base if self.base.endswith("/") else self.base + "/"
        return f"{base}{job_id}.mp4?sign={sign_result(self.seed, job_id, expiry)}&t={expiry}"

    # -- serving ----------------------------------------------------------------------------

    def serves(self, path: str) -> bool:
        prefix = self.path_prefix
        return prefix is not None and urlsplit(path).path.startswith(prefix)

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> FileAnswer:
        """The answer to one request for a file (headers lower-cased); logged."""
        range_header = headers.get("range")
        entry = FileRequest(method, target, range_header, 0)
        answer = self._answer(method, target, headers, entry)
        entry.status = answer.status
        if answer.stream is None and method != "HEAD":
            entry.bytes_sent = len(answer.body)
        self.log.append(entry)
        return answer

    def _answer(self, method: str, target: str, headers: Mapping[str, str], entry: FileRequest) -> FileAnswer:
        if method not in ("GET", "HEAD"):
            return FileAnswer(405, XML_HEADERS + (("Allow", "GET, HEAD"),),
                              _error_xml("MethodNotAllowed", "GET or HEAD only."))
        split = urlsplit(target)
        name = split.path[len(self.path_prefix or "/"):]
        match = RESULT_NAME.match(name)
        job_id = match.group(1) if match else None
        if job_id is None or self._find_job(job_id) is None or self._status_of(job_id) != JOB_SUCCESS:
            return FileAnswer(404, XML_HEADERS, _error_xml("NoSuchKey", "The specified key does not exist."))
        query = parse_qs(split.query)
        sign, expiry = query.get("sign", [""])[0], query.get("t", [""])[0]
        if not expiry.isdigit() or sign != sign_result(self.seed, job_id, int(expiry)):
            return FileAnswer(403, XML_HEADERS, _error_xml("SignatureDoesNotMatch",
                                                           "The request signature we calculated does not match."))
        if self.clock.time() > int(expiry):
            return FileAnswer(403, XML_HEADERS, _error_xml("AccessDenied", "Request has expired."))

        size, version = self.size_of(job_id), self.version_of(job_id)
        etag = self.etag_of(job_id, version)
        common = (("Content-Type", "video/mp4"), ("Accept-Ranges", "bytes"), ("ETag", etag))
        status, start, end = 200, 0, size
        if_range = headers.get("if-range")
        if entry.range is not None and (if_range is None or if_range == etag):
            wanted = parse_range(entry.range, size)
            if wanted == "unsatisfiable":
                return FileAnswer(416, common + (("Content-Range", f"bytes */{size}"),))
            if isinstance(wanted, tuple):
                status, (start, end) = 206, wanted
        extra: tuple[tuple[str, str], ...] = (("Content-Length", str(end - start)),)
        if status == 206:
            extra += (("Content-Range", f"bytes {start}-{end - 1}/{size}"),)
        if method == "HEAD":
            return FileAnswer(status, common + extra)
        body = ResultBody(content_chunks(self.seed, job_id, version, start, end), entry, self.clock,
                          drop_after=self.faults.drop_for(job_id, self._rng),
                          bytes_per_second=self.faults.rate_for(job_id))
        return FileAnswer(status, common + extra, stream=body)
