"""Answers about the right thing: an answer about another job, a StatusCode that is not a string,
or a result URL that is not https is never taken for a state or a link.

The answers come from a hostile loopback server of our own (hostile.py) through the real client
and engine; the decisions themselves (pure functions) are checked over generated input too.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest
from hostile import answer_with, describe_body, serve
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from relkit import SIM_CREDENTIALS

from tui.api.client import VclmClient, job_status_from_response
from tui.api.errors import TransportError
from tui.api.retry import RetryPolicy
from tui.api.urls import is_loopback_host, result_url_problem
from tui.core.engine import Poller
from tui.core.jobstate import JobRecord

pytestmark = pytest.mark.anyio

JOB = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MISSING = object()
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=10)


async def poll_twice(second: dict) -> JobRecord:
    """The job polled once to JobRunning by an honest answer, then once more by `second`'s fields."""
    answers = iter([{}, second])

    def body(request) -> bytes:
        fields = next(answers)
        data = json.loads(describe_body(request.job_id, StatusCode="JobSuccess" if fields else "JobRunning"))
        for key, value in fields.items():
            if value is MISSING:
                data["Response"].pop(key)
            else:
                data["Response"][key] = value
        return json.dumps(data).encode()

    with serve(answer_with(body, "Content-Type: application/json")) as server:
        async with VclmClient(SIM_CREDENTIALS, "ap-guangzhou", server.url, retry=RetryPolicy(attempts=1),
                              connect_timeout=0.5, read_timeout=0.5) as client:
            poller = Poller(client)
            poller.add(JOB)
            async with asyncio.timeout(2 * 1.0 + 1):
                await poller.poll_job(JOB)
                assert poller.records[JOB].status_code == "JobRunning"
                await poller.poll_job(JOB)
    return poller.records[JOB]


# -- the job an answer is about ----------------------------------------------------------------------

WRONG_IDS = {
    "another job": OTHER,
    "no JobId": MISSING,
    "JobId null": None,
    "JobId empty": "",
    "JobId a number": 123,
    "JobId a list": [JOB],
    "JobId an object": {"JobId": JOB},
    "the id with a space": JOB + " ",
}


@pytest.mark.parametrize("answered", list(WRONG_IDS.values()), ids=list(WRONG_IDS))
async def test_an_answer_about_another_job_is_an_error_on_the_row_never_a_state(answered) -> None:
    record = await poll_twice({"JobId": answered})
    assert record.status_code == "JobRunning"  # the last state, kept
    assert record.last_error is not None and record.last_error.code == "Transport.wrong_job"
    assert JOB in record.last_error.message
    if isinstance(answered, str) and answered.strip():
        assert answered.strip() in record.last_error.message  # both ids, to compare


async def test_the_same_id_in_upper_case_is_the_same_job() -> None:
    record = await poll_twice({"JobId": JOB.upper()})
    assert record.status_code == "JobSuccess" and record.last_error is None


@PROPERTY
@given(answered=json_values)
@example(answered=OTHER)
def test_any_other_jobid_is_refused_with_both_ids(answered) -> None:
    response = {"JobId": answered, "StatusCode": "JobSuccess", "StatusMsg": "", "ResultVideoUrl": "", "RequestId": "r"}
    if isinstance(answered, str) and answered.lower() == JOB:
        assert job_status_from_response(response, 0.0, JOB).status_code == "JobSuccess"
        return
    with pytest.raises(TransportError) as info:
        job_status_from_response(response, 0.0, JOB)
    assert info.value.code == "Transport.wrong_job"
    assert JOB in info.value.message
    assert all(ch.isprintable() for ch in info.value.message)


# -- StatusCode of the wrong JSON type --------------------------------------------------------------

WRONG_TYPES = {
    "a number": (3, "a number", "3"),
    "a fraction": (1.5, "a number", "1.5"),
    "a list": (["JobSuccess"], "a list", '["JobSuccess"]'),
    "an object": ({"Code": "JobSuccess"}, "an object", '{"Code": "JobSuccess"}'),
    "null": (None, "null", "null"),
    "true": (True, "a boolean", "true"),
    "false": (False, "a boolean", "false"),
}


@pytest.mark.parametrize("value, kind, shown", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
async def test_a_statuscode_of_the_wrong_type_is_reported_as_sent(value, kind, shown) -> None:
    record = await poll_twice({"StatusCode": value})
    assert record.status_code == "JobRunning"  # not coerced into a state
    assert record.last_error is not None and record.last_error.code == "Transport.bad_field"
    assert f"StatusCode is {kind}, not a string: {shown}" in record.last_error.message


@PROPERTY
@given(value=json_values.filter(lambda v: not isinstance(v, str)))
def test_no_statuscode_but_a_string_becomes_a_state(value) -> None:
    response = {"JobId": JOB, "StatusCode": value}
    with pytest.raises(TransportError) as info:
        job_status_from_response(response, 0.0, JOB)
    assert info.value.code == "Transport.bad_field"
    assert "not a string" in info.value.message


@PROPERTY
@given(key=st.sampled_from(["StatusMsg", "ResultVideoUrl", "RequestId"]), value=json_values)
def test_other_fields_of_another_type_are_kept_as_their_json_text(key, value) -> None:
    status = job_status_from_response({"JobId": JOB, "StatusCode": "JobRunning", key: value}, 0.0, JOB)
    shown = {"StatusMsg": status.status_msg, "ResultVideoUrl": status.result_video_url, "RequestId": status.request_id}[key]
    if isinstance(value, str):
        assert shown == value
    elif value is None:
        assert shown == ""
    else:
        assert json.loads(shown) == value  # JSON as sent, not Python's repr


# -- the result URL ----------------------------------------------------------------------------------

GOOD_URLS = [
    "https://vclm-result.example.invalid/stylized/abc.mp4?sign=1&t=2",
    "HTTPS://cos.ap-guangzhou.myqcloud.com/x.mp4",
    "https://[2001:db8::1]:8443/x.mp4",
    "http://127.0.0.1:8080/x.mp4",
    "http://localhost/x.mp4",
    "http://[::1]/x.mp4",
]
SUSPECT_URLS = {
    "plain http": "http://vclm-result.example.invalid/x.mp4",
    "javascript": "javascript:alert(1)",
    "a local file": "file:///etc/passwd",
    "ftp": "ftp://files.example/x.mp4",
    "no scheme": "//vclm-result.example.invalid/x.mp4",
    "no host": "https:///x.mp4",
    "a data URL": "data:text/html,<script>alert(1)</script>",
    "a disguised host": "https://vclm.tencentcloudapi.com@evil.example/x.mp4",
    "a loopback look-alike": "http://127.0.0.1.evil.example/x.mp4",
    "a port out of range": "https://example.com:99999/x.mp4",
    "an escape sequence": "https://example.com/x.mp4\x1b[2J",
    "a space": "https://example.com/a b.mp4",
    "a leading space": " https://example.com/x.mp4",
    "JSON of a list": '["https://example.com/x.mp4"]',
}


@pytest.mark.parametrize("url", GOOD_URLS)
def test_an_https_url_or_loopback_http_is_fine(url) -> None:
    assert result_url_problem(url) is None


@pytest.mark.parametrize("url", list(SUSPECT_URLS.values()), ids=list(SUSPECT_URLS))
def test_anything_else_is_suspect(url) -> None:
    assert result_url_problem(url)


@PROPERTY
@given(url=st.text(max_size=80) | st.from_regex(r"\A(https?|ftp|file|javascript):/{0,3}[^/]{0,30}(/.{0,20})?\Z"))
def test_only_https_or_loopback_http_is_ever_accepted(url) -> None:
    if result_url_problem(url) is None:
        parts = urlsplit(url)
        assert parts.hostname
        assert parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
        assert all(ch.isprintable() and not ch.isspace() for ch in url)
        assert "@" not in parts.netloc


@PROPERTY
@given(host=st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,3}\Z"),
       path=st.from_regex(r"\A(/[A-Za-z0-9._~%-]{0,20}){0,4}(\?[A-Za-z0-9=&%-]{0,60})?\Z"))
def test_every_well_formed_https_url_is_accepted(host, path) -> None:
    assert result_url_problem(f"https://{host}{path}") is None


async def test_a_suspect_url_is_kept_as_sent() -> None:
    """Storage and --json keep what the service said; only showing and offering it change."""
    url = SUSPECT_URLS["plain http"]
    record = await poll_twice({"ResultVideoUrl": url})
    assert record.result_video_url == url
    assert record.url_problem == "not https (http)"


# -- the monitor: marked, and never copied -----------------------------------------------------------

async def test_the_monitor_marks_a_suspect_url_and_refuses_to_copy_it(tmp_path) -> None:
    from tui.api.clock import FakeClock
    from tui.core.settings import default_settings
    from tui.monitor.launch import create_app
    from tui.monitor.themes import shipped_themes_dir
    from tui.monitor.widgets.detail_pane import DetailPane
    from tui.monitor.widgets.job_table import SUSPECT_MARK

    clock = FakeClock()
    suspect, fine = JOB, OTHER
    records = [JobRecord(job_id=job, status_code="JobSuccess", status_msg="处理完成", result_video_url=url,
                         url_received_at=clock.time(), last_polled=clock.time(), added_at=clock.time())
               for job, url in ((suspect, "http://evil.example/x.mp4"), (fine, GOOD_URLS[0]))]
    app = create_app(default_settings(tmp_path / "watchlist.toml"), clock=clock, store=None, records=records,
                     theme_dirs=[shipped_themes_dir()], cursor_blink=False, credentials=None)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(200):
            await pilot.pause()
            if app.table is not None and app.table.row_count == 2:
                break
        await pilot.pause()
        assert app.table.get_cell(suspect, "state").plain.endswith(SUSPECT_MARK)
        assert not app.table.get_cell(fine, "state").plain.endswith(SUSPECT_MARK)
        app.table.select_job(suspect)
        await pilot.press("c")
        assert app.clipboard == ""
        assert any("Not copied: the result URL is suspect (not https (http))" in message
                   for _severity, _title, message in app.notices)
        await pilot.press("enter")
        body = app.screen.query_one(DetailPane).text
        assert "suspect URL" in body and "not offered for copying" in body
        assert "http://evil.example/x.mp4" in body  # shown as sent
        app.table.select_job(fine)
        await pilot.press("c")
        assert app.clipboard == GOOD_URLS[0]
