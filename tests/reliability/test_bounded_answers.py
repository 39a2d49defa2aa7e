"""Bounded answers: whatever a server sends (compression bombs, stacked encodings, endless or
lying bodies, answers trickled a byte at a time) costs at most 1 MiB of body and one attempt's
deadline, and gives a typed transport error on the job's row.

A hostile loopback server of our own (hostile.py) sends the bytes. Every test bounds its own time:
no test waits more than the deadline it gives the client plus a second.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hostile import (
    MIB,
    bomb,
    bomb_answer,
    compress,
    describe_answer,
    endless_chunked,
    length_lie,
    serve,
    trickle,
    trickled_answer,
    trickled_head,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relkit import SIM_CREDENTIALS

from tui.api.client import MAX_RESPONSE_BYTES, VclmClient
from tui.api.decoding import BodyTooLarge, BoundedBody
from tui.api.errors import TransportError
from tui.api.retry import RetryPolicy
from tui.core.engine import Poller

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
JOB = "0123456789abcdef0123456789abcdef"
CONNECT, READ = 0.5, 0.5  # the client's timeouts in these tests; the attempt's deadline is their sum
DEADLINE = CONNECT + READ
MEMORY_CAP = 8 * MIB  # Python allocations while one bounded answer is read (the body cap is 1 MiB)
RSS_CAP_MB = 200

# Answers no VCLM service sends, each bigger than the cap once decoded (sizes in MiB of zeros).
TOO_LARGE = {
    "gzip, 10 MiB": (10, "gzip"),
    "deflate, 10 MiB": (10, "deflate"),
    "raw deflate, 64 MiB": (64, "deflate-raw"),
    "gzip, gzip: 1 GiB": (1024, "gzip", "gzip"),
    "deflate, gzip: 1 GiB": (1024, "deflate-raw", "gzip"),
    "gzip, gzip, gzip: 1 GiB": (1024, "gzip", "gzip", "gzip"),
}
ENDLESS = {
    "endless chunked body": endless_chunked,
    "Content-Length of a petabyte": length_lie,
}
TRICKLES = {
    "head a byte at a time": trickled_head,
    "whole answer a byte at a time": trickled_answer,
    "Content-Length lie, then a byte at a time": lambda: trickle(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"{" * 1000),
}


def client_for(url: str, **kwargs) -> VclmClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=1))
    return VclmClient(SIM_CREDENTIALS, "ap-guangzhou", url, connect_timeout=CONNECT, read_timeout=READ, **kwargs)


async def describe_within(client: VclmClient, seconds: float):
    async with asyncio.timeout(seconds):  # the test's own bound: a hang fails it, never stalls the run
        return await client.describe_job(JOB)


# -- the decoder, on its own ---------------------------------------------------------------------------

LAYERS = st.lists(st.sampled_from(["gzip", "deflate"]), min_size=0, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000) | st.integers(0, 300_000).map(bytes), layers=LAYERS,
       limit=st.integers(0, 200_000), cuts=st.lists(st.integers(1, 5000), max_size=30))
def test_the_decoder_gives_the_body_or_stops_past_the_limit_however_encoded_and_cut(data, layers, limit, cuts) -> None:
    encoded = data
    for layer in layers:
        encoded = compress(encoded, layer)
    body = BoundedBody(list(layers), limit)
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(encoded[at:at + cut])
        at += cut
    pieces.append(encoded[at:])
    if len(data) > limit or len(encoded) > limit:
        with pytest.raises(BodyTooLarge):
            for piece in pieces:
                body.feed(piece)
            body.body()
        assert body.size <= limit + 64 * 1024  # it stopped within a piece of the limit
    else:
        for piece in pieces:
            body.feed(piece)
        assert body.body() == data


@pytest.mark.parametrize("declared", ["br", "zstd", "compress", "gzip, x-unknown"])
def test_an_encoding_it_did_not_ask_for_is_refused_not_passed_on_raw(declared) -> None:
    from tui.api.decoding import BodyDecodeError, content_encodings

    with pytest.raises(BodyDecodeError, match="does not accept"):
        BoundedBody(content_encodings([declared]), MAX_RESPONSE_BYTES)


def test_corrupt_or_cut_compressed_data_is_a_decode_error() -> None:
    from tui.api.decoding import BodyDecodeError

    whole = compress(b'{"Response": {}}' * 50, "gzip")
    for broken in (whole[:-9], whole[:10] + b"\x00" * 40):
        body = BoundedBody(["gzip"], MAX_RESPONSE_BYTES)
        with pytest.raises(BodyDecodeError):
            body.feed(broken)
            body.body()


# -- the client against the hostile server ----------------------------------------------------------

@pytest.mark.parametrize("shape", list(TOO_LARGE.values()), ids=list(TOO_LARGE))
async def test_a_compression_bomb_is_too_large_without_being_inflated(shape) -> None:
    bomb(*shape)  # built before measuring
    with serve(bomb_answer(*shape)) as server:
        async with client_for(server.url) as client:
            tracemalloc.start()
            try:
                with pytest.raises(TransportError) as info:
                    await describe_within(client, DEADLINE + 1)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert info.value.code == "Transport.too_large"
    assert peak < MEMORY_CAP, f"{peak / MIB:.1f} MiB allocated to read one answer"


@pytest.mark.parametrize("script", list(ENDLESS.values()), ids=list(ENDLESS))
async def test_an_endless_body_is_too_large_after_the_cap(script) -> None:
    with serve(script()) as server:
        async with client_for(server.url) as client:
            tracemalloc.start()
            try:
                with pytest.raises(TransportError) as info:
                    await describe_within(client, DEADLINE + 1)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert info.value.code == "Transport.too_large"
    assert peak < MEMORY_CAP


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip", "deflate, gzip", "identity, gzip"])
async def test_an_honest_compressed_answer_is_decoded(encoding) -> None:
    def body(request) -> bytes:
        from hostile import describe_body

        data = describe_body(request.job_id, StatusCode="JobSuccess")
        for layer in [e.strip() for e in encoding.split(",") if e.strip() != "identity"]:
            data = compress(data, layer)
        return data

    from hostile import answer_with

    with serve(answer_with(body, f"Content-Encoding: {encoding}")) as server:
        async with client_for(server.url) as client:
            status = await describe_within(client, DEADLINE + 1)
    assert status.status_code == "JobSuccess"
    assert b"gzip, deflate" in server.requests[0].head  # it asks only for what it can bound


async def test_raw_deflate_is_decoded_too() -> None:
    from hostile import answer_with, describe_body

    def body(request) -> bytes:
        squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return squeezer.compress(describe_body(request.job_id)) + squeezer.flush()

    with serve(answer_with(body, "Content-Encoding: deflate")) as server:
        async with client_for(server.url) as client:
            status = await describe_within(client, DEADLINE + 1)
    assert status.status_code == "JobRunning"


@pytest.mark.parametrize("script", list(TRICKLES.values()), ids=list(TRICKLES))
async def test_a_trickled_answer_times_out_at_the_attempts_deadline(script) -> None:
    with serve(script()) as server:
        async with client_for(server.url) as client:
            with pytest.raises(TransportError) as info:
                await describe_within(client, DEADLINE + 1)
        await asyncio.sleep(0.2)  # the server notices the hang-up
        assert server.open_connections == 0
    assert info.value.code == "Transport.timeout"
    assert f"no complete answer within {DEADLINE:g} s" in info.value.message


async def test_the_deadline_is_the_clients_to_set() -> None:
    with serve(trickled_answer(0.02)) as server:
        async with client_for(server.url, attempt_deadline=0.3) as client:
            with pytest.raises(TransportError) as info:
                await describe_within(client, 0.3 + 1)
    assert "within 0.3 s" in info.value.message


async def test_every_slot_is_given_back_after_a_trickle() -> None:
    """One connection and one poll in flight at most: if a trickled attempt kept either, the next
    jobs would never be asked. Each is asked and times out in turn, and nothing stays open."""
    jobs = [f"{n:032x}" for n in range(3)]
    with serve(trickled_answer()) as server:
        async with client_for(server.url, max_connections=1) as client:
            poller = Poller(client, max_in_flight=1, min_interval=1e9)
            for job in jobs:
                poller.add(job)
            async with asyncio.timeout(len(jobs) * DEADLINE + 1):
                await poller.run_until(lambda: all(r.poll_count for r in poller.records.values()))
        await asyncio.sleep(0.2)
        assert server.open_connections == 0
    assert [poller.records[j].last_error.code for j in jobs] == ["Transport.timeout"] * 3
    assert len(server.requests) == 3


async def test_a_good_answer_after_a_hostile_one_still_gets_through() -> None:
    """The cap and the deadline end one attempt, not the client."""
    answers = iter([bomb_answer(1024, "gzip", "gzip"), trickled_answer(), describe_answer()])

    async def script(request, writer) -> None:
        await next(answers)(request, writer)

    with serve(script) as server:
        async with client_for(server.url, retry=RetryPolicy(attempts=3, base=0.01)) as client:
            status = await describe_within(client, 3 * DEADLINE + 1)
    assert status.status_code == "JobRunning"


# -- `check` as a process: its peak memory whatever the answer ------------------------------------------

RSS_CASES = {
    **{name: (lambda shape=shape: bomb_answer(*shape)) for name, shape in TOO_LARGE.items()},
    **ENDLESS,
    "whole answer a byte at a time": trickled_answer,
}


# `vclm-watch` that writes its own peak RSS (VmHWM: of this program's memory since exec) to the file
# named by $PEAK_FILE as it ends. Not wait4's ru_maxrss: Linux counts in it the high-water mark of
# the memory the child replaced at exec, the test runner's forked image, which grows past the cap
# as the suite runs, whatever `check` itself uses.
MEASURED_CHECK = """
import os, runpy, sys
sys.argv = ["vclm-watch", *sys.argv[1:]]
try:
    runpy.run_module("tui", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(peak)
"""


def run_check_measured(url: str, config: Path, limit: float) -> tuple[int, float, str]:
    """(exit status, peak RSS in MB, stderr) of `vclm-watch check JOB` against `url`."""
    env = dict(os.environ)
    peak_path = config.parent / "peak-kb.txt"
    env.update(PYTHONPATH=str(REPO), TENCENTCLOUD_SECRET_ID="AKIDmadeup0000000000000000000000000",
               TENCENTCLOUD_SECRET_KEY="made-up-key-00000000000000000000", PEAK_FILE=str(peak_path))
    err_path = config.parent / "stderr.txt"
    with open(err_path, "wb") as err:
        process = subprocess.Popen([sys.executable, "-c", MEASURED_CHECK, "check", JOB, "--endpoint", url,
                                    "--config", str(config)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
        deadline = time.monotonic() + limit
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise AssertionError(f"check did not finish within {limit} s")
            time.sleep(0.02)
    return process.returncode, int(peak_path.read_text()) / 1024, err_path.read_text()


@pytest.mark.parametrize("make", list(RSS_CASES.values()), ids=list(RSS_CASES))
def test_check_stays_under_200_mb_whatever_the_answer(make, tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"connect_timeout = {CONNECT}\nread_timeout = {READ}\n")
    script = make()
    # four attempts, each within its deadline, with up to 0.5 + 1 + 2 s of backoff between them,
    # and the interpreter's start-up
    limit = 4 * DEADLINE + 3.5 + 8
    with serve(script) as server:
        code, peak_mb, stderr = run_check_measured(server.url, config, limit)
    assert code == 3, stderr
    assert peak_mb < RSS_CAP_MB, f"peak RSS {peak_mb:.0f} MB"
    assert server.requests  # it did ask
