"""Signature v1 (HmacSHA256 and HmacSHA1, POST form or GET query) is verified as the service does.

What older clients send, tccli 3.0.12xx among them: see VCLM-API.md, "Signature v1". Replays of
a nonce are not refused: the API's documentation asks for a random Nonce but says nothing of
refusing a repeated one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from simtools import DATA, HOST, REGION, VIDEO_URL, error_code

from tui.api.clock import FakeClock
from tui.api.models import API_VERSION, DESCRIBE_ACTION, SUBMIT_ACTION
from tui.api.signing import v1_signed_params
from tui.simulator.server import serve
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

pytestmark = pytest.mark.anyio

FORM = "application/x-www-form-urlencoded"
CASES = json.loads((DATA / "v1-vectors.json").read_text(encoding="utf-8"))["cases"]


def signed(clock: FakeClock, params: dict[str, Any], *, action: str = DESCRIBE_ACTION, method: str = "POST",
           host: str = HOST, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY,
           token: str | None = None, timestamp: int | None = None, nonce: int = 11886,
           signature_method: str = "HmacSHA256", version: str = API_VERSION, language: str | None = "zh-CN") -> dict[str, str]:
    return v1_signed_params(
        secret_id=secret_id, secret_key=secret_key, token=token, action=action, region=REGION, host=host,
        params=params, timestamp=int(clock.time()) if timestamp is None else timestamp, nonce=nonce,
        signature_method=signature_method, version=version, language=language,
        request_client="SDK_PYTHON_3.0.1200", method=method,
    )


async def send(sim: Simulator, fields: dict[str, str], *, method: str = "POST", host: str = HOST) -> dict[str, Any]:
    """The fields as the SDK sends them: a form body (POST) or the query string (GET)."""
    encoded = urlencode(fields)
    if method == "GET":
        answer = await sim.handle("GET", f"/?{encoded}", {"Host": host}, b"")
    else:
        answer = await sim.handle("POST", "/", {"Host": host, "Content-Type": FORM}, encoded.encode("ascii"))
    assert answer.status == 200, answer.body
    return json.loads(answer.body)["Response"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['signature_method']}-{c['host']}" + ("-token" if c["token"] else ""))
async def test_every_body_signed_by_the_official_sdk_is_accepted(case):
    sim = Simulator(seed=1, clock=FakeClock(start=case["timestamp"] + 10), accounts={})
    sim.add_account(case["secret_id"], case["secret_key"], tokens=[case["token"]] if case["token"] else [])
    answer = await sim.handle(case["http_method"], case["path"], {"Host": case["host"], "Content-Type": case["content_type"]},
                              case["body"].encode("ascii"))
    response = json.loads(answer.body)["Response"]
    # past authentication and every other check: only the vector's job is not here
    assert error_code(response) == "FailedOperation.TaskNotExist"


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("signature_method", ["HmacSHA256", "HmacSHA1"])
async def test_a_job_is_described_over_either_method_and_hash(sim, clock, method, signature_method):
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    response = await send(sim, signed(clock, {"JobId": job}, method=method, signature_method=signature_method), method=method)
    assert error_code(response) is None
    assert response["JobId"] == job and response["StatusCode"] == "JobSuccess" and response["ResultVideoUrl"]


async def test_a_job_is_submitted_with_signature_v1(sim, clock):
    params = {"StyleId": "pixel_art", "VideoUrl": VIDEO_URL, "StyleStrength": "high"}
    response = await send(sim, signed(clock, params, action=SUBMIT_ACTION))
    assert error_code(response) is None
    job = sim.jobs[response["JobId"]]
    assert (job.style_id, job.style_strength, job.video_url, job.owner) == ("pixel_art", "high", VIDEO_URL, DEFAULT_SECRET_ID)
    described = await send(sim, signed(clock, {"JobId": job.job_id}, nonce=2))
    assert described["JobId"] == job.job_id


async def test_over_the_wire_host_and_port_are_signed(clock):
    sim = Simulator(seed=1, clock=clock)
    job = sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0)
    async with serve(sim) as server, httpx.AsyncClient() as http:
        host = f"127.0.0.1:{server.port}"
        posted = await http.post(server.base_url + "/", content=urlencode(signed(clock, {"JobId": job}, host=host)),
                                 headers={"Content-Type": FORM})
        got = await http.get(server.base_url + "/", params=signed(clock, {"JobId": job}, host=host, method="GET",
                                                                   signature_method="HmacSHA1"))
        elsewhere = await http.post(server.base_url + "/", content=urlencode(signed(clock, {"JobId": job})),
                                    headers={"Content-Type": FORM})  # signed for another host
    assert posted.json()["Response"]["JobId"] == job
    assert got.json()["Response"]["JobId"] == job
    assert elsewhere.json()["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"


def _tamper_signature(fields: dict[str, str]) -> None:
    fields["Signature"] = fields["Signature"][::-1]


@pytest.mark.parametrize(
    ("make", "spoil", "code"),
    [
        ({}, _tamper_signature, "AuthFailure.SignatureFailure"),
        ({}, lambda f: f.update(JobId="00000000000000000000000000000000"), "AuthFailure.SignatureFailure"),
        ({}, lambda f: f.update(Region="ap-beijing"), "AuthFailure.SignatureFailure"),
        ({}, lambda f: f.update(SignatureMethod="HmacSHA1"), "AuthFailure.SignatureFailure"),
        ({"secret_key": "not-the-right-key"}, None, "AuthFailure.SignatureFailure"),
        ({"host": "vclm.ap-beijing.tencentcloudapi.com"}, None, "AuthFailure.SignatureFailure"),
        ({"method": "GET"}, None, "AuthFailure.SignatureFailure"),  # signed as GET, sent as POST
        ({"secret_id": "AKIDnobodyhasthisid00000000000000000"}, None, "AuthFailure.SecretIdNotFound"),
        ({"timestamp_skew": -301}, None, "AuthFailure.SignatureExpire"),
        ({"timestamp_skew": 301}, None, "AuthFailure.SignatureExpire"),
        ({"timestamp_skew": -299}, None, None),
        ({"timestamp_skew": 299}, None, None),
        ({}, lambda f: f.pop("Signature"), "MissingParameter"),
        ({}, lambda f: f.pop("Nonce"), "MissingParameter"),
        ({}, lambda f: f.pop("Timestamp"), "MissingParameter"),
        ({}, lambda f: f.pop("SecretId"), "MissingParameter"),
        ({}, lambda f: f.update(Timestamp="yesterday"), "InvalidParameter"),
        ({}, lambda f: f.update(Nonce="-1"), "InvalidParameter"),
        ({"version": "1999-01-01"}, None, "NoSuchVersion"),
        ({"action": "Nope"}, None, "InvalidAction"),
    ],
)
async def test_tampered_wrong_or_expired_requests_are_refused(sim, clock, make, spoil, code):
    job = sim.create_job()
    options = dict(make)
    skew = options.pop("timestamp_skew", 0)
    fields = signed(clock, {"JobId": job}, timestamp=int(clock.time()) + skew, **options)
    if spoil is not None:
        spoil(fields)
    response = await send(sim, fields)
    assert error_code(response) == code


@pytest.mark.parametrize(("token", "code"), [(None, "AuthFailure.TokenFailure"), ("stale-token", "AuthFailure.TokenFailure"),
                                             ("sts-token-1", None)])
async def test_temporary_credentials_need_their_token(sim, clock, token, code):
    sim.add_account("AKIDtemporary0000", "temp-key", tokens=["sts-token-1"])
    fields = signed(clock, {"JobId": sim.create_job()}, secret_id="AKIDtemporary0000", secret_key="temp-key", token=token)
    assert error_code(await send(sim, fields)) == code


async def test_a_repeated_nonce_is_answered_again(sim, clock):
    fields = signed(clock, {"JobId": sim.create_job()})
    first, second = await send(sim, fields), await send(sim, fields)
    assert error_code(first) is None and error_code(second) is None
    assert first["RequestId"] != second["RequestId"]


async def test_a_field_given_twice_is_refused(sim, clock):
    fields = signed(clock, {"JobId": sim.create_job()})
    body = (urlencode(fields) + "&JobId=00000000000000000000000000000000").encode("ascii")
    answer = await sim.handle("POST", "/", {"Host": HOST, "Content-Type": FORM}, body)
    assert error_code(json.loads(answer.body)["Response"]) == "InvalidParameter"


async def test_the_language_field_chooses_the_message_language(sim, clock):
    missing = sim.phantom_job_id()
    english = await send(sim, signed(clock, {"JobId": missing}, language="en-US"))
    chinese = await send(sim, signed(clock, {"JobId": missing}, nonce=2))
    assert english["Error"]["Message"] == "The task does not exist."
    assert chinese["Error"]["Message"] == "任务不存在。"


async def test_v1_requests_count_against_the_same_quota(clock):
    sim = Simulator(seed=1, clock=clock, quota=2)
    job = sim.create_job()
    codes = [error_code(await send(sim, signed(clock, {"JobId": job}, nonce=n))) for n in range(1, 4)]
    assert codes == [None, None, "RequestLimitExceeded"]
    assert sim.stats.max_in_window(secret_id=DEFAULT_SECRET_ID) == 3


async def test_a_get_without_parameters_is_still_refused(sim):
    answer = await sim.handle("GET", "/", {"Host": HOST}, b"")
    assert answer.status == 405
