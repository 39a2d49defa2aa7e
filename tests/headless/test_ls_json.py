"""`ls --json` made fast (no dict per job, each second's date formatted once, the text encoded
once) and still, byte for byte, what `JSONEncoder().encode(ls_row(...))` made of every job."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clikit import CLI_TIMEOUT, REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.api.models import JOB_FAILED, JOB_RUNNING, JOB_SUCCESS
from tui.core.jobstate import JobRecord, LastError, Transition
from tui.core.watchlist import WatchlistStore, listing
from tui.headless.output import Printer, ls_json_lines, ls_row, terminal_safe

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = 1_764_000_000.0

# What `ls --json` wrote before it was made fast (git 8f72479), restated here as the specification:
# each job's `ls_row` through the json encoder, then C1 controls and bidi/format characters escaped.
_UNSAFE = re.compile("[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escaped(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def the_old_way(rows, *, ensure_ascii: bool) -> str:
    encode = json.JSONEncoder(ensure_ascii=ensure_ascii).encode
    return _escaped("".join(encode(ls_row(row)) + "\n" for row in rows))


HOSTILE = "\x1b[31m\x9b31m\u202e\u200b\ufeff\u061c\u2066\x7f\x00\x1f\n\t\\\"'[red]\u2028"


def every_kind_of_job() -> list[JobRecord]:
    """Jobs with every kind of field `ls` shows: finished with a URL, failed, failing with and
    without a message, never answered but erring, never polled, unknown states, odd labels, and
    times whose milliseconds round every way."""
    def job(n: int, **fields) -> JobRecord:
        fields.setdefault("added_at", T0 + n)
        return JobRecord(job_id=f"{n:032x}", **fields)

    return [
        job(1, label='trailer "cut" \\ 1', status_code=JOB_SUCCESS, status_msg="处理完成",
            result_video_url="https://example.invalid/a.mp4?sig=a%2Fb&x=\"1\"", last_request_id="req-1",
            last_polled=T0 + 100.0004999, history=[Transition(T0, None, JOB_RUNNING), Transition(T0 + 60, JOB_RUNNING,
                                                                                                  JOB_SUCCESS)]),
        job(2, label="clip ✂ 🎬 ünïcode", status_code=JOB_FAILED, status_msg=f"failed: {HOSTILE}",
            last_request_id=f"req-{HOSTILE}", last_polled=T0 + 0.9999996,
            last_error=LastError("FailedOperation.InnerError", f"boom {HOSTILE}", f"err-{HOSTILE}", T0 + 1)),
        job(3, label="", status_code=JOB_RUNNING, status_msg="", last_polled=T0 + 0.0005,
            last_error=LastError("RequestLimitExceeded", "", None, T0 + 2)),
        job(4, label="never answered", last_polled=T0 + 0.0015,
            last_error=LastError("AuthFailure.SignatureFailure", "signature\nexpired", "req-4", T0 + 3)),
        job(5, label="never polled"),
        job(6, label="never polled, added at 0", added_at=0.0),
        job(7, label="a state from the future", status_code="JobSomethingNew", status_msg="\u0085new",
            last_polled=-1.5, added_at=T0 + 0.0004),
        job(9, label="behind a gateway", status_code=JOB_RUNNING, last_polled=T0 + 5.25,
            last_error=LastError("Transport.http_status", "the endpoint answered HTTP 502 Bad Gateway", None, T0 + 5,
                                 502, "Bad Gateway", "text/html", f"<html><h1>502 {HOSTILE}</h1>")),
        job(8, label="x" * 200, status_code=JOB_SUCCESS, result_video_url="https://example.invalid/" + "p" * 500,
            last_polled=T0 + 59.9995, added_at=T0 + 86_399.9996),
    ]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A watchlist of every kind of job, saved as the product saves it (ids and labels in the file,
    states in the job database beside it)."""
    path = tmp_path / "watchlist.toml"
    WatchlistStore(path).save(every_kind_of_job())
    return path


def _ls_json_bytes(path: Path, **env: str) -> bytes:
    """`vclm-watch ls --json` as a process, its standard output as bytes (a pipe: UTF-8)."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **env)
    done = subprocess.run([sys.executable, "-m", "tui", "ls", "--json", "--watchlist", str(path)], cwd=REPO,
                          env=full_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_jobs_are_listed_from_the_database_with_every_kind_of_field(saved):
    store = WatchlistStore(saved)
    database = store.database(create=False)
    assert database is not None
    rows = database.listing(hashlib.sha256(saved.read_bytes()).hexdigest())
    assert rows is not None and rows == listing(store)
    assert [row[0] for row in rows] == [job.job_id for job in every_kind_of_job()]
    assert {row[3] is None for row in rows} == {True, False} and {row[7] is None for row in rows} == {True, False}


def test_ls_json_writes_what_the_encoder_of_ls_row_wrote_byte_for_byte(saved):
    expected = the_old_way(listing(WatchlistStore(saved)), ensure_ascii=False)
    assert _ls_json_bytes(saved) == expected.encode("utf-8")


def test_ls_json_to_an_ascii_stream_writes_what_the_ascii_encoder_wrote(saved):
    expected = the_old_way(listing(WatchlistStore(saved)), ensure_ascii=True)
    assert expected.isascii()
    assert _ls_json_bytes(saved, PYTHONIOENCODING="ascii") == expected.encode("ascii")


def test_ls_json_of_a_hand_edited_file_read_without_the_cache_is_the_same_too(saved):
    with saved.open("a", encoding="utf-8") as handle:
        handle.write("# edited by hand\n")  # another digest: the file is parsed, records built
    expected = the_old_way(listing(WatchlistStore(saved)), ensure_ascii=False)
    assert _ls_json_bytes(saved) == expected.encode("utf-8")


@pytest.mark.parametrize("chunk", [1, 3, 1000])
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_the_printer_writes_the_listing_as_the_old_way_whatever_the_chunk(saved, chunk, encoding):
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, newline="\n")
    Printer(stream).ls_json(listing(WatchlistStore(saved)), chunk=chunk)
    stream.flush()
    expected = the_old_way(listing(WatchlistStore(saved)), ensure_ascii=encoding == "ascii")
    assert stream.buffer.getvalue() == expected.encode(encoding)


def test_on_standard_output_the_bytes_follow_what_was_written_before_and_precede_what_comes_after(saved, monkeypatch):
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n")
    monkeypatch.setattr(sys, "__stdout__", stdout)
    stdout.write("before\n")  # (held in the text layer until flushed)
    Printer(stdout).ls_json(listing(WatchlistStore(saved)), chunk=3)
    stdout.write("after\n")
    stdout.flush()
    expected = "before\n" + the_old_way(listing(WatchlistStore(saved)), ensure_ascii=False) + "after\n"
    assert stdout.buffer.getvalue() == expected.encode("utf-8")


def test_ls_json_says_what_the_server_said_as_check_json_does(saved):
    lines = [json.loads(line) for line in _ls_json_bytes(saved).decode().split("\n") if line]
    gateway = next(line for line in lines if line["Label"] == "behind a gateway")
    assert gateway["Error"]["HttpStatus"] == 502
    assert gateway["Error"]["ContentType"] == "text/html"
    assert gateway["Error"]["Excerpt"].startswith("<html><h1>502 ")
    assert set(gateway["Error"]) == {"Code", "Message", "RequestId", "HttpStatus", "ContentType", "Excerpt"}


def test_more_distinct_seconds_than_the_cache_keeps_are_each_right():
    rows = [(f"{n:032x}", "", T0 + n * 1.001, JOB_RUNNING, "", "", None, None, None, None, T0 - n * 0.999, None, None, None)
            for n in range(6000)]
    assert "".join(line + "\n" for line in ls_json_lines(rows, ensure_ascii=False)) == \
        the_old_way(rows, ensure_ascii=False)


def test_ls_json_formats_each_second_once(saved, monkeypatch):
    """Jobs added and polled in the same seconds (an import, 19 polls a second) share their dates:
    100,000 of them are not 200,000 calls to gmtime and its formatting."""
    rows = [(f"{n:032x}", "", T0 + n / 1000, JOB_RUNNING, "", "", None, None, None, None, T0 + 7 + n / 1000, None, None, None)
            for n in range(500)]
    calls = []
    real = time.gmtime

    def counted(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(time, "gmtime", counted)
    Printer(io.StringIO()).ls_json(rows)
    assert len(calls) == 2


# -- any values at all ------------------------------------------------------------------------------

texts = st.one_of(st.none(), st.text(), st.sampled_from(["", HOSTILE, "处理中", "\u0085", "\ufeff"]))
odd_values = st.one_of(st.integers(), st.floats(), st.booleans(), st.binary(max_size=4))
instants = st.one_of(
    st.none(), st.just(0.0), st.floats(min_value=-1e10, max_value=1e11),
    st.integers(min_value=-10**10, max_value=10**11), st.floats(), st.just(T0 + 0.9999995), st.just(T0 + 0.0005),
)


def _outcome(make):
    try:
        return make()
    except Exception as exc:  # (what the old way raised, the new way must raise too)
        return type(exc)


@PROPERTY
@given(
    job_id=st.text(min_size=1), label=st.text(), added_at=instants, status=texts, message=texts, url=texts,
    request_id=texts, code=texts, text=texts, error_request=texts, polled=instants,
    http_status=st.none() | st.integers(), content_type=texts, excerpt=texts, ensure_ascii=st.booleans(),
)
def test_every_line_of_a_database_row_is_the_encoders_answer(job_id, label, added_at, status, message, url,
                                                             request_id, code, text, error_request, polled,
                                                             http_status, content_type, excerpt, ensure_ascii):
    row = (job_id, label, added_at, status, message, url, request_id, code, text, error_request, polled,
           http_status, content_type, excerpt)
    old = _outcome(lambda: [json.JSONEncoder(ensure_ascii=ensure_ascii).encode(ls_row(row))])
    new = _outcome(lambda: list(ls_json_lines([row], ensure_ascii=ensure_ascii)))
    assert new == old


@PROPERTY
@given(
    job_id=st.one_of(st.text(min_size=1), odd_values), label=st.one_of(texts, odd_values), added_at=instants,
    status=texts, message=texts, url=texts, request_id=texts, code=st.one_of(texts, odd_values), text=texts,
    error_request=texts, polled=instants, http_status=st.one_of(st.none(), st.integers(), odd_values),
    content_type=st.one_of(texts, odd_values), excerpt=texts, ensure_ascii=st.booleans(),
)
def test_every_line_is_the_encoders_answer_or_error_for_any_values(job_id, label, added_at, status, message, url, request_id,
                                                          code, text, error_request, polled, http_status, content_type,
                                                          excerpt, ensure_ascii):
    row = (job_id, label, added_at, status, message, url, request_id, code, text, error_request, polled,
           http_status, content_type, excerpt)
    old = _outcome(lambda: [json.JSONEncoder(ensure_ascii=ensure_ascii).encode(ls_row(row))])
    new = _outcome(lambda: list(ls_json_lines([row], ensure_ascii=ensure_ascii)))
    assert new == old


@PROPERTY
@given(st.lists(st.text() | st.sampled_from([HOSTILE, "\u0085", "\u2069", "\u061c", "…", "，"]), max_size=30))
def test_terminal_safe_escapes_what_the_old_regex_escaped(parts):
    text = json.dumps(parts, ensure_ascii=False)
    safe, data = terminal_safe(text)
    assert safe == _escaped(text)
    assert data is None or data == safe.encode("utf-8")


def test_terminal_safe_agrees_with_the_old_regex_on_every_code_point():
    for code in range(0x110000):
        if not 0xD800 <= code <= 0xDFFF:
            text = "x" + chr(code)
            assert terminal_safe(text)[0] == _escaped(text), hex(code)
    assert terminal_safe("\ud800\u202e")[0] == "\ud800\\u202e"  # a lone surrogate: escaped all the same
