"""The client sends through the proxy the environment names, as httpx's own client would: the
simulator on loopback stands in for the proxy (it takes a request's absolute-form target, as a
forward proxy does), and the endpoint is a closed port that only the proxy can 'reach'."""

from __future__ import annotations

import pytest
from simkit import SIM_CREDENTIALS

from tui.api.client import VclmClient, environment_proxy
from tui.api.errors import TransportError
from tui.api.retry import RetryPolicy
from tui.simulator.server import serve
from tui.simulator.service import Simulator

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                   "no_proxy", "REQUEST_METHOD")
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_proxies(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("env", "url", "expected"), [
    ({}, "https://vclm.tencentcloudapi.com/", None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "https://vclm.tencentcloudapi.com/", "http://proxy.corp:3128"),
    ({"https_proxy": "proxy.corp:3128"}, "https://vclm.tencentcloudapi.com/", "http://proxy.corp:3128"),
    ({"HTTP_PROXY": "http://proxy.corp:3128"}, "https://vclm.tencentcloudapi.com/", None),  # not for https
    ({"ALL_PROXY": "http://proxy.corp:1080"}, "https://vclm.tencentcloudapi.com/", "http://proxy.corp:1080"),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "tencentcloudapi.com"},
     "https://vclm.tencentcloudapi.com/", None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": "*"}, "https://vclm.tencentcloudapi.com/", None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "other.example"},
     "https://vclm.tencentcloudapi.com/", "http://proxy.corp:3128"),
])
def test_the_proxy_is_the_one_the_environment_names_for_the_endpoint(no_proxies, env, url, expected):
    for name, value in env.items():
        no_proxies.setenv(name, value)
    assert environment_proxy(url) == expected


def client() -> VclmClient:
    return VclmClient(SIM_CREDENTIALS, "ap-guangzhou", CLOSED, retry=RetryPolicy(attempts=1))


async def test_requests_go_through_the_proxy_from_the_environment(no_proxies):
    sim = Simulator(seed=2)
    job = sim.create_job()
    async with serve(sim) as proxy:
        no_proxies.setenv("HTTP_PROXY", proxy.base_url)
        async with client() as via_proxy:
            status = await via_proxy.describe_job(job)
        assert status.job_id == job
        no_proxies.setenv("NO_PROXY", "127.0.0.1")  # the endpoint's host is exempt: straight to the closed port
        async with client() as direct:
            with pytest.raises(TransportError) as caught:
                await direct.describe_job(job)
        assert caught.value.kind == "connect"
