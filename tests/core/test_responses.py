"""Parsing every sample answer of the service, and each way an answer can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.api.client import job_status_from_response, parse_response
from tui.api.errors import ApiError, TransportError

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "responses"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("name, code, terminal", [
    ("describe-init.json", "JobInit", False),
    ("describe-running.json", "JobRunning", False),
    ("describe-success.json", "JobSuccess", True),
    ("describe-failed.json", "JobFailed", True),
    ("describe-moderation-failed.json", "JobModerationFailed", True),
])
def test_describe_samples_parse_to_job_status(name, code, terminal):
    raw = json.loads(sample(name))["Response"]
    status = job_status_from_response(parse_response(sample(name), 200), latency=0.25)
    assert status.status_code == code
    assert status.terminal is terminal
    assert (status.job_id, status.status_msg, status.result_video_url, status.request_id) == (
        raw["JobId"], raw["StatusMsg"], raw["ResultVideoUrl"], raw["RequestId"])
    assert status.latency == 0.25


def test_success_sample_carries_the_result_url():
    status = job_status_from_response(parse_response(sample("describe-success.json"), 200))
    assert status.result_video_url.startswith("https://")


@pytest.mark.parametrize("name, code", [
    ("error-rate-limit.json", "RequestLimitExceeded"),
    ("error-signature.json", "AuthFailure.SignatureFailure"),
    ("error-task-not-exist.json", "FailedOperation.TaskNotExist"),
])
def test_error_samples_raise_api_error_with_request_id(name, code):
    raw = json.loads(sample(name))["Response"]
    with pytest.raises(ApiError) as info:
        parse_response(sample(name), 200)
    error = info.value
    assert (error.code, error.message, error.request_id) == (code, raw["Error"]["Message"], raw["RequestId"])


def test_submit_sample_parses():
    response = parse_response(sample("submit-ok.json"), 200)
    assert len(response["JobId"]) == 32


def test_unknown_status_code_is_kept_verbatim():
    body = json.dumps({"Response": {"JobId": "a" * 32, "StatusCode": "JobQueuedForRender", "StatusMsg": "?",
                                    "ResultVideoUrl": "", "RequestId": "r"}}).encode()
    status = job_status_from_response(parse_response(body, 200))
    assert status.status_code == "JobQueuedForRender"
    assert not status.known and not status.terminal


@pytest.mark.parametrize("body, status, kind", [
    (b"<html><body>502 Bad Gateway</body></html>", 502, "http_status"),
    (b'{"Response": {}}', 503, "http_status"),
    (b"<html>oops</html>", 200, "not_json"),
    (b'{"Response": {"JobId": ', 200, "not_json"),
    (b'{"Result": {}}', 200, "no_response"),
    (b'[1, 2, 3]', 200, "no_response"),
    (b'{"Response": "text"}', 200, "no_response"),
    (b"\xff\xfe\x00garbage", 200, "not_json"),
])
def test_answers_not_from_the_service_are_transport_errors(body, status, kind):
    with pytest.raises(TransportError) as info:
        parse_response(body, status)
    assert info.value.kind == kind
    if status != 200:
        assert info.value.http_status == status


def test_transport_error_keeps_a_short_printable_excerpt():
    body = b"<html>" + b"x" * 5000 + b"\x1b[31m</html>"
    with pytest.raises(TransportError) as info:
        parse_response(body, 502)
    assert len(info.value.body_excerpt) <= 200
    assert "\x1b" not in info.value.body_excerpt


def test_describe_answer_without_status_code_is_a_transport_error():
    with pytest.raises(TransportError):
        job_status_from_response(parse_response(b'{"Response": {"RequestId": "r"}}', 200))


def test_error_with_odd_shape_still_becomes_api_error():
    with pytest.raises(ApiError) as info:
        parse_response(b'{"Response": {"Error": "boom", "RequestId": 5}}', 200)
    assert info.value.code == "UnknownError"
    assert info.value.request_id is None
