"""`add` and `remove` on a big watchlist that vclm-watch wrote: the file is spliced, read into
memory once, never joined into a second copy, and hashed once for both of its digests (before
and after), not twice. Counted in bytes, not timed."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from tui.core import watchlist
from tui.core.watchlist import SplicedDigests, WatchlistStore, splice_pieces, unchanged_prefix

JOBS = 20_000  # a 2.3 MB file: big enough that a copy of it dwarfs everything else an add holds
ADDED_AT = 1_764_000_000.0
SHA256 = hashlib.sha256  # (the test below counts what goes through hashlib's)


def job_id(i: int) -> str:
    return f"{i:032x}"


@pytest.fixture
def big(tmp_path):
    path = tmp_path / "watchlist.toml"
    members = [(job_id(i), f"clip-{i:05d}", ADDED_AT + i) for i in range(1, JOBS + 1)]
    WatchlistStore(path).update_members(lambda _: members)
    return path


def is_cached_as_written(path) -> bool:
    """The database knows the file as it is now as one vclm-watch wrote: the next add splices it."""
    store = WatchlistStore(path)
    db = store.database(create=False)
    try:
        digest = SHA256(path.read_bytes()).hexdigest()
        return db is not None and db.written(digest) and db.has_members_of(digest)
    finally:
        store.close()


class CountingSha256:
    """hashlib.sha256, counting every byte it is fed (copies share the count)."""

    def __init__(self, fed: list[int], data: bytes | memoryview = b"", inner=None) -> None:
        self.fed = fed
        self.inner = inner if inner is not None else SHA256()
        self.update(data)

    def update(self, data) -> None:
        self.fed[0] += len(data)
        self.inner.update(data)

    def copy(self) -> CountingSha256:
        return CountingSha256(self.fed, inner=self.inner.copy())

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


@pytest.fixture
def hashed(monkeypatch) -> list[int]:
    fed = [0]
    monkeypatch.setattr(watchlist.hashlib, "sha256", lambda data=b"": CountingSha256(fed, data))
    return fed


def test_an_add_holds_the_file_in_memory_once(big):
    size = big.stat().st_size
    before = big.read_bytes()
    store = WatchlistStore(big)
    tracemalloc.start()
    try:
        assert store.add_remove([("f" * 32, "new", ADDED_AT)], ()) == (["f" * 32], [], [])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()
    assert peak < 1.5 * size  # the file read once (no pieces joined), the new one never made whole
    line = f'  {{ id = "{"f" * 32}", label = "new", added_at = 2025-11-24T16:00:00+00:00 }},\n'.encode()
    assert big.read_bytes() == before[:-2] + line + b"]\n"
    assert is_cached_as_written(big)


def test_an_add_hashes_the_file_once_for_both_digests(big, hashed):
    size = big.stat().st_size
    store = WatchlistStore(big)
    assert store.add_remove([("f" * 32, "", ADDED_AT)], ())[0] == ["f" * 32]
    store.close()
    assert size < hashed[0] < size + 1000
    assert is_cached_as_written(big)  # and the digest it recorded is the new file's


def test_removing_a_line_near_the_end_hashes_little_more_than_the_file(big, hashed):
    size = big.stat().st_size
    store = WatchlistStore(big)
    assert store.add_remove([], [job_id(JOBS - 1)])[2] == [job_id(JOBS - 1)]
    store.close()
    assert size < hashed[0] < size * 1.01
    assert job_id(JOBS - 1) not in big.read_text(encoding="utf-8")
    assert is_cached_as_written(big)


@pytest.mark.parametrize("cut, appended", [
    ([], [("f" * 32, "new", ADDED_AT)]),
    ([job_id(1)], []),
    ([job_id(3)], [("f" * 32, "", ADDED_AT)]),
    ([job_id(5), job_id(2)], []),
    ([job_id(i) for i in range(1, 9)], [("e" * 32, "", ADDED_AT)]),  # more than `finds`: no shared prefix
    ([job_id(99)], []),  # not in the file: the splice refuses it
], ids=["append", "cut-first", "cut-and-append", "cut-two", "cut-many", "cut-absent"])
def test_both_digests_are_those_of_the_bytes(tmp_path, cut, appended):
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).update_members(lambda _: [(job_id(i), "", ADDED_AT) for i in range(1, 11)])
    raw = path.read_bytes()
    digests = SplicedDigests(raw, unchanged_prefix(raw, cut))
    assert digests.digest == hashlib.sha256(raw).hexdigest()
    pieces = splice_pieces(raw, dict.fromkeys(cut, b""), appended)
    if job_id(99) in cut:
        assert pieces is None
        return
    assert pieces is not None
    assert digests.of(pieces) == hashlib.sha256(b"".join(pieces)).hexdigest()
    text = b"".join(pieces).decode()
    assert all(job_id_ not in text for job_id_ in cut) and all(m[0] in text for m in appended)
