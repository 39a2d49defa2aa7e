"""The same simulator on a loopback socket: the project client and the official SDK talk to it."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from simtools import JOB_ID, REGION, VIDEO_URL
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from tui.api.clock import SYSTEM_CLOCK
from tui.api.errors import ApiError, TransportError
from tui.api.models import API_VERSION, JOB_FAILED, JOB_INIT, JOB_RUNNING, JOB_SUCCESS
from tui.api.signing import signed_headers
from tui.simulator.faults import Faults
from tui.simulator.server import run_in_thread, serve
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

pytestmark = pytest.mark.anyio


def live_client(make_client, base_url: str, **kwargs):
    """The project client over the socket, on the real clock (it signs real timestamps)."""
    return make_client(endpoint=base_url, client_clock=SYSTEM_CLOCK, **kwargs)


@pytest.fixture
def live_sim() -> Simulator:
    """On the system clock: a socket's peer cannot share a fake one."""
    return Simulator(seed=1)


async def test_the_project_client_follows_a_job_over_loopback(live_sim, make_client):
    job = live_sim.create_job(fate=JOB_SUCCESS, init_seconds=0.6, run_seconds=0.3)
    seen: list[str] = []
    deadline = time.monotonic() + 5.0
    async with serve(live_sim) as server, live_client(make_client, server.base_url) as client:
        while time.monotonic() < deadline and (not seen or seen[-1] != JOB_SUCCESS):
            seen.append((await client.describe_job(job)).status_code)
            await asyncio.sleep(0.05)  # real time, short and bounded
    assert seen[0] == JOB_INIT
    assert seen[-1] == JOB_SUCCESS
    assert JOB_RUNNING in seen


async def test_it_binds_loopback_and_picks_a_free_port(live_sim):
    async with serve(live_sim, port=0) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0


async def test_submit_over_loopback_returns_a_job_id(live_sim, make_client):
    async with serve(live_sim) as server, live_client(make_client, server.base_url) as client:
        submitted = await client.submit_job("3d_cartoon", VIDEO_URL, "low")
    assert JOB_ID.match(submitted.job_id) and submitted.job_id in live_sim.jobs


async def test_connections_are_kept_alive_between_requests(live_sim, make_client):
    job = live_sim.create_job()
    async with serve(live_sim) as server, live_client(make_client, server.base_url) as client:
        for _ in range(5):
            await client.describe_job(job)
        assert (server.connections_opened, server.requests_served) == (1, 5)


@pytest.mark.parametrize(
    ("kind", "code"),
    [("drop", "Transport.reset"), ("http_502", "Transport.http_status"), ("malformed_json", "Transport.not_json"),
     ("inner_error", "FailedOperation.InnerError")],
)
async def test_faults_over_loopback_reach_the_client_and_the_next_request_works(live_sim, make_client, kind, code):
    job = live_sim.create_job(init_seconds=100)
    live_sim.faults.fail_next(kind)
    async with serve(live_sim) as server, live_client(make_client, server.base_url) as client:
        with pytest.raises((ApiError, TransportError)) as caught:
            await client.describe_job(job)
        after = await client.describe_job(job)
    assert caught.value.code == code
    assert after.status_code == JOB_INIT


async def test_a_stall_over_loopback_outlasts_the_client_timeout(make_client):
    sim = Simulator(seed=1, faults=Faults(stall_seconds=30.0))
    sim.faults.fail_next("stall")
    started = time.monotonic()
    async with serve(sim) as server:
        async with live_client(make_client, server.base_url, read_timeout=0.2) as client:
            with pytest.raises(TransportError) as caught:
                await client.describe_job(sim.create_job())
    # the timeout fired, and closing the server did not wait out the stalled answer
    assert caught.value.code == "Transport.timeout"
    assert time.monotonic() - started < 5.0


async def test_chunked_request_bodies_are_read(live_sim):
    job = live_sim.create_job()
    body = json.dumps({"JobId": job}).encode()
    async with serve(live_sim) as server:
        host = server.base_url.removeprefix("http://")
        headers = signed_headers(secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY, token=None,
                                 action="DescribeVideoStylizationJob", region=REGION, host=host, body=body,
                                 timestamp=int(time.time()))

        async def chunks():
            yield body[:10]
            yield body[10:]

        async with httpx.AsyncClient() as http:
            response = await http.post(server.base_url + "/", content=chunks(), headers=headers)
    assert response.json()["Response"]["JobId"] == job


@pytest.mark.parametrize(("method", "status"), [("GET", 405), ("PUT", 405)])
async def test_other_methods_get_an_http_error(live_sim, method, status):
    async with serve(live_sim) as server, httpx.AsyncClient() as http:
        response = await http.request(method, server.base_url + "/")
    assert response.status_code == status


async def test_a_garbled_request_line_gets_400(live_sim):
    async with serve(live_sim) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"HELLO\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(200), 2.0)
        writer.close()
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_after_shutdown_the_port_refuses_connections(live_sim, make_client):
    async with serve(live_sim) as server:
        url = server.base_url
    async with live_client(make_client, url) as client:
        with pytest.raises(TransportError) as caught:
            await client.describe_job(live_sim.create_job())
    assert caught.value.code == "Transport.connect"


# -- the official Tencent Cloud SDK, synchronous, against the server in a thread ---------------

def sdk_client(base_url: str, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY) -> CommonClient:
    http_profile = HttpProfile(protocol="http", endpoint=base_url.removeprefix("http://"), reqMethod="POST", reqTimeout=5)
    return CommonClient("vclm", API_VERSION, Credential(secret_id, secret_key), REGION,
                        profile=ClientProfile(httpProfile=http_profile))


def test_official_sdk_describe_is_accepted(live_sim):
    job = live_sim.create_job(fate=JOB_FAILED, init_seconds=0, run_seconds=0)
    with run_in_thread(live_sim) as server:
        answer = sdk_client(server.base_url).call_json("DescribeVideoStylizationJob", {"JobId": job})
    response = answer["Response"]
    assert (response["JobId"], response["StatusCode"], response["StatusMsg"]) == (job, JOB_FAILED, "处理失败")


def test_official_sdk_submit_is_accepted(live_sim):
    with run_in_thread(live_sim) as server:
        answer = sdk_client(server.base_url).call_json(
            "SubmitVideoStylizationJob", {"StyleId": "pixel_art", "VideoUrl": VIDEO_URL, "StyleStrength": "high"})
    assert answer["Response"]["JobId"] in live_sim.jobs


@pytest.mark.parametrize(
    ("secret_key", "job_kind", "code"),
    [(DEFAULT_SECRET_KEY, "phantom", "FailedOperation.TaskNotExist"),
     ("wrong-key", "real", "AuthFailure.SignatureFailure")],
)
def test_official_sdk_sees_service_errors(live_sim, secret_key, job_kind, code):
    job = live_sim.phantom_job_id() if job_kind == "phantom" else live_sim.create_job()
    with run_in_thread(live_sim) as server:
        with pytest.raises(TencentCloudSDKException) as caught:
            sdk_client(server.base_url, secret_key=secret_key).call_json("DescribeVideoStylizationJob", {"JobId": job})
    assert caught.value.get_code() == code
    assert caught.value.get_request_id()
