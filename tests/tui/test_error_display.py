"""What the server said, in the monitor: the row's error cell gives the HTTP status and reason
(short), the detail pane's "Last error" section the status, reason, Content-Type and an inert
excerpt of the body."""

from __future__ import annotations

import pytest
from tuikit import IDS, cell_text, ready, sample_records, view_app

from tui.core.jobstate import LastError
from tui.monitor.widgets.detail_pane import DetailPane
from tui.monitor.widgets.job_table import short_error

pytestmark = pytest.mark.anyio

SIZE = (160, 45)
PAGE = "<html><head><title>502 Bad Gateway</title></head> [bold red]not markup[/] \x1b[2J</html>"


def gateway_error(at: float) -> LastError:
    return LastError("Transport.http_status", "the endpoint answered HTTP 502 Bad Gateway", None, at,
                     502, "Bad Gateway", "text/html; charset=utf-8", PAGE)


def with_error(clock, error: LastError):
    records = sample_records(clock)
    record = next(r for r in records if r.job_id == IDS["error"])
    record.last_error = error
    return records


async def test_the_detail_pane_shows_the_status_reason_type_and_excerpt_of_a_gateways_answer(clock):
    app = view_app(clock, with_error(clock, gateway_error(clock.time() - 5)))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["error"])
        await pilot.press("enter")
        await pilot.pause()
        body = app.screen.query_one(DetailPane).text
    lines = body.splitlines()
    assert any(line.startswith("Answered") and "HTTP 502 Bad Gateway · text/html; charset=utf-8" in line
               for line in lines), body
    excerpt = next(line for line in lines if line.startswith("Body"))
    assert "<title>502 Bad Gateway</title>" in excerpt
    assert "[bold red]not markup[/]" in excerpt  # shown as written, never obeyed
    assert "\x1b" not in body


async def test_the_detail_pane_shows_the_first_bytes_of_an_answer_not_json(clock):
    error = LastError("Transport.not_json", "the answer is not JSON", None, clock.time(), 200, "OK",
                      "text/plain", r"Service \x07 Unavailable\n")
    app = view_app(clock, with_error(clock, error))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["error"])
        await pilot.press("enter")
        await pilot.pause()
        body = app.screen.query_one(DetailPane).text
    assert "HTTP 200 OK · text/plain" in body
    assert r"Service \x07 Unavailable\n" in body


async def test_an_api_error_shows_no_http_lines(clock):
    app = view_app(clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.table.select_job(IDS["error"])
        await pilot.press("enter")
        await pilot.pause()
        body = app.screen.query_one(DetailPane).text
    assert "FailedOperation.TaskNotExist" in body
    assert not any(line.startswith(("Answered", "Body")) for line in body.splitlines())


async def test_the_rows_error_cell_gives_the_status_and_reason_of_a_gateways_answer(clock):
    app = view_app(clock, with_error(clock, gateway_error(clock.time())))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert cell_text(app, IDS["error"], "error").strip().startswith("HTTP 502")


@pytest.mark.parametrize(("width", "shown"), [
    (30, "HTTP 502 Bad Gateway"),
    (20, "HTTP 502 Bad Gateway"),
    (13, "HTTP 502"),
])
def test_the_error_cell_keeps_the_status_when_the_reason_does_not_fit(width, shown):
    assert short_error(gateway_error(0.0), width) == shown


@pytest.mark.parametrize(("error", "width", "shown"), [
    (LastError("Transport.not_json", "the answer is not JSON", None, 0.0, 200, "OK"), 13, "…not_json"),
    (LastError("Transport.timeout", "read timed out after 10 s", None, 0.0), 30, "Transport.timeout"),
    (LastError("FailedOperation.TaskNotExist", "no such job", "req", 0.0), 13, "…TaskNotExist"),
])
def test_the_error_cell_gives_the_code_for_any_other_error(error, width, shown):
    assert short_error(error, width) == shown
