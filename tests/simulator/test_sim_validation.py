"""Actions, versions and parameters are checked as the service documents; every answer has a RequestId."""

from __future__ import annotations

import pytest
from simtools import JOB_ID, VIDEO_URL, error_code, is_uuid4, sample

from tui.api.credentials import Credentials
from tui.api.errors import ApiError
from tui.api.models import DESCRIBE_ACTION, STYLE_IDS, STYLE_STRENGTHS, SUBMIT_ACTION

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MissingParameter"),
        ({"VideoUrl": VIDEO_URL}, "MissingParameter"),
        ({"StyleId": "2d_anime"}, "MissingParameter"),
        ({"StyleId": "watercolor", "VideoUrl": VIDEO_URL}, "InvalidParameterValue.StyleNotExist"),
        ({"StyleId": "2D_ANIME", "VideoUrl": VIDEO_URL}, "InvalidParameterValue.StyleNotExist"),
        ({"StyleId": 3, "VideoUrl": VIDEO_URL}, "InvalidParameterValue.StyleNotExist"),
        ({"StyleId": "2d_anime", "VideoUrl": VIDEO_URL, "StyleStrength": "extreme"},
         "InvalidParameterValue.StyleStrengthNotExist"),
        ({"StyleId": "2d_anime", "VideoUrl": VIDEO_URL, "StyleStrength": ""},
         "InvalidParameterValue.StyleStrengthNotExist"),
        ({"StyleId": "2d_anime", "VideoUrl": "ftp://media.example.invalid/a.mp4"}, "InvalidParameterValue.UrlIllegal"),
        ({"StyleId": "2d_anime", "VideoUrl": "not a url"}, "InvalidParameterValue.UrlIllegal"),
        ({"StyleId": "2d_anime", "VideoUrl": "https://"}, "InvalidParameterValue.UrlIllegal"),
        ({"StyleId": "2d_anime", "VideoUrl": "media.example.invalid/a.mp4"}, "InvalidParameterValue.UrlIllegal"),
        ({"StyleId": "2d_anime", "VideoUrl": ["https://a.example.invalid/a.mp4"]}, "InvalidParameterValue.UrlIllegal"),
    ],
)
async def test_submit_rejects_bad_parameters(sim, make_client, params, code):
    async with make_client() as client:
        with pytest.raises(ApiError) as caught:
            await client.call(SUBMIT_ACTION, params)
    assert caught.value.code == code
    assert is_uuid4(caught.value.request_id)
    assert sim.jobs == {}


@pytest.mark.parametrize("style_id", STYLE_IDS)
async def test_submit_accepts_every_documented_style(sim, make_client, style_id):
    async with make_client() as client:
        submitted = await client.submit_job(style_id, VIDEO_URL)
    assert sim.jobs[submitted.job_id].style_id == style_id


@pytest.mark.parametrize(("strength", "stored"), [(s, s) for s in STYLE_STRENGTHS] + [(None, "medium")])
async def test_submit_accepts_every_documented_strength_and_defaults_to_medium(sim, make_client, strength, stored):
    async with make_client() as client:
        submitted = await client.submit_job("pixel_art", "http://media.example.invalid/a.mov", strength)
    assert sim.jobs[submitted.job_id].style_strength == stored


async def test_submit_answers_a_32_hex_job_id_and_a_request_id(raw_call):
    response = await raw_call({"StyleId": "2d_anime", "VideoUrl": VIDEO_URL}, action=SUBMIT_ACTION)
    assert list(response) == list(sample("submit-ok.json")["Response"])
    assert JOB_ID.match(response["JobId"])
    assert is_uuid4(response["RequestId"])


async def test_describe_of_an_unknown_job_is_TaskNotExist(sim, make_client):
    async with make_client() as client:
        with pytest.raises(ApiError) as caught:
            await client.describe_job(sim.phantom_job_id())
    assert caught.value.code == "FailedOperation.TaskNotExist"


@pytest.mark.parametrize(("language", "message"), [(None, "任务不存在。"), ("en-US", "The task does not exist.")])
async def test_task_not_exist_message_follows_the_language_header(sim, raw_call, language, message):
    response = await raw_call({"JobId": sim.phantom_job_id()}, language=language)
    assert response["Error"] == {"Code": "FailedOperation.TaskNotExist", "Message": message}


async def test_error_answer_has_the_documented_shape(sim, raw_call):
    response = await raw_call({"JobId": sim.phantom_job_id()})
    expected = sample("error-task-not-exist.json")["Response"]
    assert list(response) == list(expected)
    assert list(response["Error"]) == list(expected["Error"])


async def test_job_ids_are_matched_case_insensitively(sim, make_client):
    job = sim.create_job()
    async with make_client() as client:
        response, _ = await client.call(DESCRIBE_ACTION, {"JobId": job.upper()})
    assert response["JobId"] == job


@pytest.mark.parametrize(
    ("params", "body", "code"),
    [
        ({}, None, "MissingParameter"),
        ({"JobId": None}, None, "MissingParameter"),
        ({"JobId": 12345}, None, "InvalidParameter"),
        (None, b"{not json", "InvalidParameter"),
        (None, b"[1, 2]", "InvalidParameter"),
    ],
)
async def test_describe_rejects_a_missing_or_malformed_job_id(raw_call, params, body, code):
    response = await raw_call(params, body=body)
    assert error_code(response) == code


async def test_another_action_is_InvalidAction(make_client):
    async with make_client() as client:
        with pytest.raises(ApiError) as caught:
            await client.call("DescribeInstances", {})
    assert caught.value.code == "InvalidAction"


@pytest.mark.parametrize(("version", "code"), [("2017-03-12", "NoSuchVersion"), ("", "MissingParameter")])
async def test_another_version_is_NoSuchVersion(raw_call, sim, version, code):
    response = await raw_call({"JobId": sim.create_job()}, version=version)
    assert error_code(response) == code


async def test_every_answer_carries_a_fresh_uuid_request_id(sim, raw_call):
    job = sim.create_job()
    responses = [await raw_call({"JobId": job}) for _ in range(3)]
    responses += [await raw_call({"JobId": sim.phantom_job_id()}) for _ in range(3)]
    responses += [await raw_call({}, action="NoSuchThing")]
    ids = [response["RequestId"] for response in responses]
    assert all(is_uuid4(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


async def test_a_submitted_job_is_not_visible_to_another_account(sim, make_client):
    sim.add_account("AKIDotheraccount", "other-key")
    async with make_client() as owner:
        submitted = await owner.submit_job("2d_anime", VIDEO_URL)
        await owner.describe_job(submitted.job_id)  # the owner sees it
    async with make_client(credentials=Credentials("AKIDotheraccount", "other-key")) as other:
        with pytest.raises(ApiError) as caught:
            await other.describe_job(submitted.job_id)
    assert caught.value.code == "FailedOperation.TaskNotExist"


async def test_a_submitted_job_is_not_visible_from_another_region(sim, make_client):
    async with make_client() as client:
        submitted = await client.submit_job("2d_anime", VIDEO_URL)
    async with make_client(region="ap-beijing") as elsewhere:
        with pytest.raises(ApiError) as caught:
            await elsewhere.describe_job(submitted.job_id)
    assert caught.value.code == "FailedOperation.TaskNotExist"


async def test_jobs_made_in_python_are_visible_to_every_account(sim, make_client):
    sim.add_account("AKIDotheraccount", "other-key")
    job = sim.create_job()
    async with make_client(credentials=Credentials("AKIDotheraccount", "other-key"), region="ap-beijing") as other:
        status = await other.describe_job(job)
    assert status.job_id == job


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/", 405), ("POST", "/v2/jobs", 404)])
async def test_only_post_to_the_root_is_served(sim, method, path, status):
    answer = await sim.handle(method, path, {"Host": "127.0.0.1"}, b"")
    assert answer.status == status


async def test_a_well_formed_region_the_service_does_not_serve_is_unsupported(sim, make_client):
    job = sim.create_job()
    async with make_client(region="xx-nowhere-1") as nowhere:
        with pytest.raises(ApiError) as caught:
            await nowhere.describe_job(job)
    assert caught.value.code == "UnsupportedRegion"
    assert "xx-nowhere-1" in caught.value.message
