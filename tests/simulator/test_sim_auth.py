"""TC3-HMAC-SHA256 is verified as the service does, in the service's order of checks."""

from __future__ import annotations

import json

import pytest
from simtools import DATA, error_code

from tui.api.clock import FakeClock
from tui.api.credentials import Credentials
from tui.api.errors import ApiError
from tui.api.signing import authorization
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

pytestmark = pytest.mark.anyio

GOOD_AUTH_PREFIX = f"TC3-HMAC-SHA256 Credential={DEFAULT_SECRET_ID}/2025-11-24/vclm/tc3_request, SignedHeaders=content-type;host, Signature="


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (Credentials("AKIDnobodyhasthisid00000000000000000", DEFAULT_SECRET_KEY), "AuthFailure.SecretIdNotFound"),
        (Credentials(DEFAULT_SECRET_ID, "not-the-right-key"), "AuthFailure.SignatureFailure"),
    ],
)
async def test_project_client_with_bad_credentials_is_refused(sim, make_client, credentials, code):
    async with make_client(credentials=credentials) as client:
        with pytest.raises(ApiError) as caught:
            await client.describe_job(sim.create_job())
    assert caught.value.code == code


@pytest.mark.parametrize(("skew", "code"), [(-301, "AuthFailure.SignatureExpire"), (301, "AuthFailure.SignatureExpire"),
                                            (-299, None), (299, None)])
async def test_timestamps_more_than_five_minutes_off_are_expired(sim, clock, make_client, skew, code):
    client_clock = FakeClock(start=clock.time() + skew)
    async with make_client(client_clock=client_clock) as client:
        try:
            await client.describe_job(sim.create_job())
            got = None
        except ApiError as error:
            got = error.code
    assert got == code


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ({"headers": {"Authorization": None}}, "AuthFailure.InvalidAuthorization"),
        ({"headers": {"Authorization": "Bearer abc"}}, "AuthFailure.InvalidAuthorization"),
        ({"headers": {"Authorization": GOOD_AUTH_PREFIX + "xyz"}}, "AuthFailure.InvalidAuthorization"),
        ({"headers": {"Authorization": "HMAC-SHA1 Credential=AKID/2025-11-24/vclm/tc3_request"}},
         "AuthFailure.InvalidAuthorization"),
        ({"sent_body": b'{"JobId": "00000000000000000000000000000000"}'}, "AuthFailure.SignatureFailure"),
        ({"headers": {"Host": "vclm.ap-beijing.tencentcloudapi.com"}}, "AuthFailure.SignatureFailure"),
        ({"headers": {"Content-Type": "application/x-www-form-urlencoded"}}, "AuthFailure.SignatureFailure"),
        ({"headers": {"X-TC-Timestamp": None}}, "MissingParameter"),
        ({"headers": {"X-TC-Timestamp": "yesterday"}}, "InvalidParameter"),
    ],
)
async def test_malformed_or_tampered_requests_are_refused(sim, raw_call, spoil, code):
    response = await raw_call({"JobId": sim.create_job()}, **spoil)
    assert error_code(response) == code


async def test_a_signature_over_another_timestamp_fails(sim, clock, raw_call):
    # signed one second earlier than the X-TC-Timestamp sent: within the window, wrong signature
    response = await raw_call({"JobId": sim.create_job()}, timestamp=int(clock.time()) - 1,
                              headers={"X-TC-Timestamp": str(int(clock.time()))})
    assert error_code(response) == "AuthFailure.SignatureFailure"


async def test_a_credential_scope_for_another_service_fails(sim, clock, raw_call):
    body = json.dumps({"JobId": sim.create_job()}).encode()
    ts = int(clock.time())
    response = await raw_call(body=body, headers={"Authorization": authorization(
        DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, "vclm.tencentcloudapi.com", body, ts, service="cvm")})
    assert error_code(response) == "AuthFailure.SignatureFailure"


async def test_unsigned_payload_requests_are_verified_without_the_body(sim, clock, raw_call):
    job = sim.create_job()
    # signed over the literal UNSIGNED-PAYLOAD, as the SDK does with unsignedPayload=True
    response = await raw_call(body=b"UNSIGNED-PAYLOAD", sent_body=json.dumps({"JobId": job}).encode(),
                              headers={"X-TC-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert response["JobId"] == job


@pytest.mark.parametrize(("token", "code"), [(None, "AuthFailure.TokenFailure"), ("stale-token", "AuthFailure.TokenFailure"),
                                             ("sts-token-1", None)])
async def test_temporary_credentials_need_their_token(sim, make_client, token, code):
    sim.add_account("AKIDtemporary0000", "temp-key", tokens=["sts-token-1"])
    async with make_client(credentials=Credentials("AKIDtemporary0000", "temp-key", token)) as client:
        try:
            await client.describe_job(sim.create_job())
            got = None
        except ApiError as error:
            got = error.code
    assert got == code


async def test_credentials_revoked_mid_run_stop_working(sim, make_client):
    job = sim.create_job()
    async with make_client() as client:
        before = await client.describe_job(job)
        sim.revoke_account(DEFAULT_SECRET_ID)
        with pytest.raises(ApiError) as caught:
            await client.describe_job(job)
    assert before.job_id == job
    assert caught.value.code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ({"headers": {"Authorization": "garbage"}, "version": "1999-01-01", "action": "Nope"},
         "AuthFailure.InvalidAuthorization"),
        ({"secret_id": "AKIDunknown", "timestamp": 1, "version": "1999-01-01"}, "AuthFailure.SecretIdNotFound"),
        ({"secret_key": "wrong", "timestamp": 1}, "AuthFailure.SignatureExpire"),
        ({"secret_key": "wrong", "version": "1999-01-01"}, "AuthFailure.SignatureFailure"),
        ({"version": "1999-01-01", "action": "Nope"}, "NoSuchVersion"),
        ({"action": "Nope", "body": b"{not json"}, "InvalidAction"),
    ],
)
async def test_checks_come_in_the_services_order(sim, raw_call, spoil, code):
    response = await raw_call({"JobId": "not even an id"}, **spoil)
    assert error_code(response) == code


def _vectors():
    path = DATA / "tc3-vectors.json"
    return json.loads(path.read_text(encoding="utf-8"))["vectors"] if path.exists() else []


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["name"])
async def test_requests_signed_by_the_official_sdk_are_accepted(vector):
    inputs = vector["inputs"]
    clock = FakeClock(start=inputs["timestamp"] + 10)
    sim = Simulator(seed=1, clock=clock, accounts={})
    sim.add_account(inputs["secret_id"], inputs["secret_key"], tokens=[inputs["token"]] if inputs["token"] else [])
    answer = await sim.handle("POST", "/", vector["expected_headers"], inputs["body"].encode("utf-8"))
    response = json.loads(answer.body)["Response"]
    # accepted: past authentication and every other check; at most the job is not here
    assert error_code(response) in (None, "FailedOperation.TaskNotExist")
