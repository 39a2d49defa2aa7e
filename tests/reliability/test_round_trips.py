"""What the monitor stores comes back as it was after a restart, however long or strange (labels,
messages, URLs with long security tokens, control characters as they may arrive): cut on screen
only, never in the file or in `--json`."""

from __future__ import annotations

import io
import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tui.cli import build_parser
from tui.core.jobstate import JobRecord, LastError, Transition
from tui.core.watchlist import MAX_HISTORY, WatchlistStore
from tui.headless import commands

ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG_TOKEN = "x-cos-security-token=" + "AbC0_-" * 700  # a 4 KiB STS token, as COS presigned URLs carry
LONG_URL = f"https://vclm-1250000000.cos.ap-guangzhou.myqcloud.com/out/result.mp4?q-sign-algorithm=sha1&{LONG_TOKEN}"

job_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
# Any text the service or a user may send, control characters and other scripts included (lone
# surrogates have no UTF-8 form: see test_a_lone_surrogate_does_not_stop_saves); some very long.
texts = st.text(max_size=60) | st.text(min_size=200, max_size=3000) | st.sampled_from([LONG_URL, "", " ", "\x1b[31m", "\r\n\t\x00"])
# The file keeps times to the microsecond (TOML datetimes), as the clock's times are used.
times = st.integers(min_value=0, max_value=4_102_444_800 * 10**6).map(lambda us: us / 10**6)
maybe = lambda strategy: st.none() | strategy  # noqa: E731


@st.composite
def records(draw) -> JobRecord:
    record = JobRecord(job_id=draw(job_ids), label=draw(texts), added_at=draw(times))
    record.status_code = draw(maybe(texts | st.sampled_from(["JobInit", "JobRunning", "JobSuccess", "JobFailed"])))
    record.status_msg = draw(texts)
    record.result_video_url = draw(texts)
    record.url_received_at = draw(maybe(times))
    record.state_since = draw(maybe(times))
    record.last_change = draw(maybe(times))
    record.last_polled = draw(maybe(times))
    record.last_request_id = draw(maybe(texts))
    record.poll_count = draw(st.integers(min_value=0, max_value=2**40))
    record.last_error = draw(maybe(st.builds(LastError, texts, texts, maybe(texts), times)))
    record.history = draw(st.lists(st.builds(Transition, times, maybe(texts), texts), max_size=MAX_HISTORY))
    record.stale = record.status_code is not None  # what a reload marks: a last known state
    return record


def _restart(records_in: list[JobRecord]) -> tuple[list[JobRecord], bytes, bytes]:
    """Save, load in a new store (a restart), save again: (loaded, first file, second file)."""
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "watchlist.toml"
        WatchlistStore(path).save(records_in)
        first = path.read_bytes()
        loaded = WatchlistStore(path).load()
        (Path(workdir) / "again.toml").write_bytes(b"")
        WatchlistStore(Path(workdir) / "again.toml").save(loaded)
        return loaded, first, (Path(workdir) / "again.toml").read_bytes()


@ROUND_TRIP
@given(st.lists(records(), max_size=4, unique_by=lambda r: r.job_id))
@example([JobRecord(job_id="a" * 32, label="L" * 1000, status_code="JobSuccess", result_video_url=LONG_URL,
                    status_msg="长" * 3000, last_error=LastError("E" * 500, "m" * 5000, "r" * 300, 1.0),
                    history=[Transition(1.0, "X" * 400, "Y" * 400)], stale=True)])
def test_every_stored_field_comes_back_identical_after_a_restart(given_records):
    loaded, first, second = _restart(given_records)
    assert loaded == given_records
    assert first == second  # and the file itself is stable


def test_a_lone_surrogate_does_not_stop_saves(tmp_path):
    """JSON's "\\ud800" decodes to a lone surrogate, which UTF-8 cannot hold: it is stored as
    U+FFFD, and the rest of the record as it was, rather than every save failing."""
    record = JobRecord(job_id="b" * 32, label="ok", status_msg="bad \ud800 half", result_video_url=LONG_URL)
    store = WatchlistStore(tmp_path / "watchlist.toml")
    store.save([record])
    (loaded,) = WatchlistStore(tmp_path / "watchlist.toml").load()
    assert loaded.status_msg == "bad \ufffd half"
    assert loaded.result_video_url == LONG_URL and loaded.label == "ok"


def test_ls_json_gives_stored_values_whole(tmp_path, monkeypatch):
    label = "a label longer than any column: " + string.ascii_letters * 20
    record = JobRecord(job_id="c" * 32, label=label, status_code="JobSuccess", status_msg="done " * 300,
                       result_video_url=LONG_URL)
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save([record])
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(build_parser().parse_args(["ls", "--json", "--watchlist", str(path)]), stdout=out, stderr=err,
                        env={"HOME": str(tmp_path)})
    assert code == 0, err.getvalue()
    row = json.loads(out.getvalue())
    assert (row["Label"], row["StatusMsg"], row["ResultVideoUrl"]) == (label, "done " * 300, LONG_URL)
