"""The simulator serves the result file at each ResultVideoUrl it hands out (opt-in), as an object store would."""

from __future__ import annotations

import hashlib
import tracemalloc
from urllib.parse import urlsplit

import httpx
import pytest

from tui.api.models import JOB_SUCCESS, RESULT_URL_VALIDITY_SECONDS
from tui.simulator.results import BLOCK_BYTES, ResultFaults, content_chunks
from tui.simulator.server import serve
from tui.simulator.service import Simulator
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

IN_PROCESS_BASE = "http://results.sim.invalid/results/"


def finished_job(sim: Simulator, size: int | None = None) -> str:
    job_id = sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
    if size is not None:
        sim.results.set_size(job_id, size)
    return job_id


async def result_url(make_client, job_id: str) -> str:
    async with make_client() as client:
        status = await client.describe_job(job_id)
    assert status.result_video_url
    return status.result_video_url


def expected(sim: Simulator, job_id: str, version: int | None = None) -> bytes:
    return b"".join(sim.results.content(job_id, version))


async def fetch(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A plain streamed GET, read whole."""
    async with client.stream("GET", url, headers=headers) as response:
        await response.aread()
    return response


@pytest.fixture
def files_sim(clock) -> Simulator:
    return Simulator(seed=1, clock=clock, result_base=IN_PROCESS_BASE)


@pytest.fixture
async def http(files_sim):
    async with httpx.AsyncClient(transport=SimulatorTransport(files_sim)) as client:
        yield client


# -- opt-in ---------------------------------------------------------------------------------

async def test_without_a_result_base_urls_stay_the_made_up_ones(sim, make_client):
    job_id = finished_job(sim)
    url = await result_url(make_client, job_id)
    assert url.startswith(f"https://vclm-result.example.invalid/stylized/{job_id}.mp4?sign=")
    assert not sim.results.serves(urlsplit(url).path)


async def test_with_a_result_base_urls_point_under_it(files_sim, make_client):
    job_id = finished_job(files_sim)
    url = await result_url(lambda: make_client(simulator=files_sim), job_id)
    assert url.startswith(f"{IN_PROCESS_BASE}{job_id}.mp4?sign=")


# -- content --------------------------------------------------------------------------------

def test_content_is_the_same_for_the_same_seed_job_and_version(clock):
    a = Simulator(seed=3, clock=clock, result_base=IN_PROCESS_BASE)
    b = Simulator(seed=3, clock=clock, result_base=IN_PROCESS_BASE)
    job_a, job_b = finished_job(a), finished_job(b)
    assert job_a == job_b
    assert expected(a, job_a) == expected(b, job_b)
    assert expected(a, job_a, 0) != expected(a, job_a, 1)
    assert expected(a, job_a) != expected(Simulator(seed=4, clock=clock), job_a)


def test_any_slice_of_the_content_is_the_same_bytes_as_the_whole():
    whole = b"".join(content_chunks(1, "ab" * 16, 0, 0, 3 * BLOCK_BYTES + 17))
    for start, end in [(0, 1), (5, BLOCK_BYTES + 3), (BLOCK_BYTES, 2 * BLOCK_BYTES), (len(whole) - 4, len(whole))]:
        chunks = list(content_chunks(1, "ab" * 16, 0, start, end))
        assert b"".join(chunks) == whole[start:end]
        assert max(len(c) for c in chunks) <= BLOCK_BYTES


def test_default_sizes_are_drawn_from_the_configured_range(clock):
    sim = Simulator(seed=1, clock=clock, result_base=IN_PROCESS_BASE, result_sizes=(1000, 2000))
    sizes = {sim.results.size_of(finished_job(sim)) for _ in range(20)}
    assert all(1000 <= s <= 2000 for s in sizes) and len(sizes) > 1


# -- the whole file over loopback -------------------------------------------------------------

async def test_loopback_serves_the_whole_file_with_its_headers_and_sha256(files_sim, make_client):
    async with serve(files_sim, serve_results=True) as server:
        job_id = finished_job(files_sim, size=300_000)
        url = await result_url(lambda: make_client(simulator=files_sim), job_id)
        assert url.startswith(f"{server.base_url}/results/{job_id}.mp4?")
        digest = hashlib.sha256()
        async with httpx.AsyncClient() as client, client.stream("GET", url) as response:
            async for chunk in response.aiter_raw():
                digest.update(chunk)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == "300000"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == files_sim.results.etag_of(job_id)
    assert digest.hexdigest() == hashlib.sha256(expected(files_sim, job_id)).hexdigest()
    entry = files_sim.results.log[-1]
    assert (entry.method, entry.status, entry.range, entry.bytes_sent) == ("GET", 200, None, 300_000)


async def test_head_gives_the_headers_without_a_body(files_sim, make_client, http):
    job_id = finished_job(files_sim, size=1234)
    response = await http.head(await result_url(lambda: make_client(simulator=files_sim), job_id))
    assert response.status_code == 200 and response.headers["content-length"] == "1234"
    assert response.content == b""


# -- ranges -----------------------------------------------------------------------------------

SIZE = 1000
RANGE_CASES = [
    # Range, If-Range ("current"/"stale"), status, (start, end exclusive) of the body, Content-Range
    ("bytes=0-99", None, 206, (0, 100), "bytes 0-99/1000"),
    ("bytes=100-199", None, 206, (100, 200), "bytes 100-199/1000"),
    ("bytes=990-2000", None, 206, (990, 1000), "bytes 990-999/1000"),
    ("bytes=500-", None, 206, (500, 1000), "bytes 500-999/1000"),
    ("bytes=-10", None, 206, (990, 1000), "bytes 990-999/1000"),
    ("bytes=-5000", None, 206, (0, 1000), "bytes 0-999/1000"),
    ("bytes=999-999", None, 206, (999, 1000), "bytes 999-999/1000"),
    ("bytes=1000-", None, 416, None, "bytes */1000"),
    ("bytes=1000-1100", None, 416, None, "bytes */1000"),
    ("bytes=-0", None, 416, None, "bytes */1000"),
    ("bytes=200-100", None, 200, (0, 1000), None),  # malformed: ignored
    ("items=0-10", None, 200, (0, 1000), None),
    ("bytes=0-1,5-6", None, 200, (0, 1000), None),  # several ranges: the whole file
    ("bytes=100-", "current", 206, (100, 1000), "bytes 100-999/1000"),
    ("bytes=100-", "stale", 200, (0, 1000), None),
]


@pytest.mark.parametrize(("range_header", "if_range", "status", "span", "content_range"), RANGE_CASES)
async def test_range_requests(files_sim, make_client, http, range_header, if_range, status, span, content_range):
    job_id = finished_job(files_sim, size=SIZE)
    url = await result_url(lambda: make_client(simulator=files_sim), job_id)
    headers = {"Range": range_header}
    if if_range == "current":
        headers["If-Range"] = files_sim.results.etag_of(job_id)
    elif if_range == "stale":
        headers["If-Range"] = '"0123456789abcdef0123456789abcdef"'
    response = await fetch(http, url, headers)
    assert response.status_code == status
    assert response.headers.get("content-range") == content_range
    whole = expected(files_sim, job_id)
    if span is None:
        assert response.content == b""
    else:
        assert response.content == whole[span[0]:span[1]]
        assert response.headers["content-length"] == str(span[1] - span[0])
    assert files_sim.results.log[-1].range == range_header


# -- refusals ---------------------------------------------------------------------------------

async def test_the_url_expires_24_simulated_hours_after_it_was_handed_out(files_sim, clock, make_client, http):
    job_id = finished_job(files_sim)
    url = await result_url(lambda: make_client(simulator=files_sim), job_id)
    clock.advance(RESULT_URL_VALIDITY_SECONDS - 1)
    assert (await fetch(http, url)).status_code == 200
    clock.advance(2)
    response = await fetch(http, url)
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content and b"expired" in response.content


async def test_the_url_expires_on_the_loopback_server_too(files_sim, clock, make_client):
    async with serve(files_sim, serve_results=True):
        job_id = finished_job(files_sim)
        url = await result_url(lambda: make_client(simulator=files_sim), job_id)
        async with httpx.AsyncClient() as client:
            assert (await fetch(client, url)).status_code == 200
            clock.advance(RESULT_URL_VALIDITY_SECONDS + 1)
            response = await fetch(client, url)
    assert response.status_code == 403
    assert b"AccessDenied" in response.content


@pytest.mark.parametrize(("spoil", "status", "code"), [
    (lambda url: url.replace("sign=", "sign=0"), 403, b"SignatureDoesNotMatch"),
    (lambda url: url.replace("&t=", "&t=9"), 403, b"SignatureDoesNotMatch"),
    (lambda url: url.split("?")[0], 403, b"SignatureDoesNotMatch"),
    (lambda url: url.replace(".mp4", ".mkv"), 404, b"NoSuchKey"),
    (lambda url: url.replace("/results/", "/results/x/"), 404, b"NoSuchKey"),
])
async def test_a_spoiled_url_is_refused(files_sim, make_client, http, spoil, status, code):
    job_id = finished_job(files_sim)
    response = await fetch(http, spoil(await result_url(lambda: make_client(simulator=files_sim), job_id)))
    assert response.status_code == status
    assert code in response.content
    assert files_sim.results.log[-1].status == status


async def test_an_unknown_job_is_404(files_sim, http):
    response = await fetch(http, f"{IN_PROCESS_BASE}{files_sim.phantom_job_id()}.mp4?sign=x&t=1")
    assert response.status_code == 404


async def test_other_methods_are_refused(files_sim, make_client, http):
    job_id = finished_job(files_sim)
    response = await http.post(await result_url(lambda: make_client(simulator=files_sim), job_id))
    assert response.status_code == 405


# -- faults -----------------------------------------------------------------------------------

async def test_a_dropped_connection_resumed_with_range_gives_the_same_bytes(files_sim, make_client):
    async with serve(files_sim, serve_results=True):
        job_id = finished_job(files_sim, size=500_000)
        files_sim.results.faults.drop_next(job_id, after_bytes=123_457, times=2)
        url = await result_url(lambda: make_client(simulator=files_sim), job_id)
        received = bytearray()
        drops = 0
        async with httpx.AsyncClient() as client:
            while len(received) < 500_000 and drops < 5:
                headers = {"Range": f"bytes={len(received)}-"} if received else {}
                try:
                    async with client.stream("GET", url, headers=headers) as response:
                        async for chunk in response.aiter_raw():
                            received += chunk
                except httpx.RemoteProtocolError:
                    drops += 1
    assert drops == 2
    assert bytes(received) == expected(files_sim, job_id)
    log = [(e.range, e.status, e.bytes_sent, e.dropped) for e in files_sim.results.log]
    assert log == [
        (None, 200, 123_457, True),
        ("bytes=123457-", 206, 123_457, True),
        ("bytes=246914-", 206, 500_000 - 246_914, False),
    ]


async def test_drops_by_chance_follow_p_drop(clock, make_client):
    sim = Simulator(seed=1, clock=clock, result_base=IN_PROCESS_BASE,
                    result_faults=ResultFaults(p_drop=1.0, drop_after_bytes=10))
    job_id = finished_job(sim, size=100)
    url = await result_url(lambda: make_client(simulator=sim), job_id)
    async with httpx.AsyncClient(transport=SimulatorTransport(sim)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(client, url)
    assert sim.results.log[-1].bytes_sent == 10 and sim.results.log[-1].dropped


async def test_a_trickle_sends_no_faster_than_its_rate_on_the_simulator_clock(files_sim, clock, make_client, http):
    job_id = finished_job(files_sim, size=10_000)
    files_sim.results.faults.trickle(job_id, 1000)
    url = await result_url(lambda: make_client(simulator=files_sim), job_id)
    start = clock.monotonic()
    chunks = []
    async with http.stream("GET", url) as response:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    assert b"".join(chunks) == expected(files_sim, job_id)
    assert max(len(c) for c in chunks) <= 1000
    assert clock.monotonic() - start == pytest.approx(10.0)


async def test_a_changed_file_has_new_content_and_etag(files_sim, clock, make_client, http):
    job_id = finished_job(files_sim, size=5000)
    files_sim.results.change_at(job_id, files_sim.sim_now() + 60)
    url = await result_url(lambda: make_client(simulator=files_sim), job_id)
    before = await fetch(http, url)
    clock.advance(61)
    after = await fetch(http, url)
    assert before.status_code == after.status_code == 200
    assert before.headers["etag"] != after.headers["etag"]
    assert before.content == expected(files_sim, job_id, 0) != after.content == expected(files_sim, job_id, 1)
    resumed = await fetch(http, url, {"Range": "bytes=100-", "If-Range": before.headers["etag"]})
    assert resumed.status_code == 200 and resumed.content == after.content


# -- a big file -------------------------------------------------------------------------------

async def test_a_50_mb_file_streams_with_bounded_memory_in_the_server(files_sim, make_client):
    size = 50 * 1024 * 1024
    async with serve(files_sim, serve_results=True):
        job_id = finished_job(files_sim, size=size)
        url = await result_url(lambda: make_client(simulator=files_sim), job_id)
        received = 0
        tracemalloc.start()
        try:
            async with httpx.AsyncClient() as client, client.stream("GET", url) as response:
                async for chunk in response.aiter_raw():
                    received += len(chunk)  # dropped at once: what is left is the server's
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 200 and received == size
    assert files_sim.results.log[-1].bytes_sent == size
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming 50 MB"


def test_no_two_blocks_of_a_file_are_the_same_nor_a_block_of_two_versions_or_jobs():
    # (a resume from the wrong offset, or a splice of two versions, must change the bytes)
    size = 40 * BLOCK_BYTES
    blocks = [b"".join(content_chunks(1, "ab" * 16, 0, i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES)) for i in range(40)]
    assert len(set(blocks)) == 40
    assert b"".join(content_chunks(1, "ab" * 16, 1, 0, size)) != b"".join(blocks)
    other = b"".join(content_chunks(1, "cd" * 16, 0, 0, size))
    assert all(other[i * BLOCK_BYTES:(i + 1) * BLOCK_BYTES] != block for i, block in enumerate(blocks))
