"""Errors that say what the server said: the HTTP status and its reason phrase, the Content-Type
and an inert excerpt of the body (the first bytes of an answer that is not JSON), and for a
timeout which phase timed out and after how long. Carried from the client through the engine's
record to `check` (table and --json).

A hostile loopback server of our own (hostile.py) answers. Every test bounds its own time: the
client's timeouts are set small, and no test waits longer than they allow plus a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import GATEWAY_PAGE, answer_with, describe_body, hang, head, serve, status_answer, trickled_head
from relkit import SIM_CREDENTIALS

from tui.api.client import VclmClient
from tui.api.errors import TransportError
from tui.api.retry import RetryPolicy
from tui.core.engine import Poller

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
JOB = "0123456789abcdef0123456789abcdef"
CONNECT, READ = 0.5, 0.3  # the client's timeouts here: a hung server trips the read timeout first
DEADLINE = CONNECT + READ
HTML = "Content-Type: text/html; charset=utf-8"


def client_for(url: str, **kwargs) -> VclmClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=1))
    return VclmClient(SIM_CREDENTIALS, "ap-guangzhou", url, connect_timeout=CONNECT, read_timeout=READ, **kwargs)


async def failure_from(script) -> TransportError:
    with serve(script) as server:
        async with client_for(server.url) as client:
            with pytest.raises(TransportError) as info:
                async with asyncio.timeout(DEADLINE + 1):  # the test's own bound
                    await client.describe_job(JOB)
    return info.value


# -- the client -----------------------------------------------------------------------------------------

async def test_a_502_with_an_html_page_carries_the_status_its_reason_the_type_and_an_excerpt() -> None:
    error = await failure_from(answer_with(GATEWAY_PAGE, HTML, status=502))
    assert error.code == "Transport.http_status"
    assert (error.http_status, error.reason, error.content_type) == (502, "Bad Gateway", "text/html; charset=utf-8")
    assert "HTTP 502 Bad Gateway" in error.message
    assert error.body_excerpt.startswith("<!DOCTYPE html> <html> <head><title>502 Bad Gateway</title>")
    assert "nginx/1.25.3" in error.body_excerpt


async def test_a_status_no_rfc_names_keeps_the_servers_own_phrase_inert() -> None:
    error = await failure_from(status_answer(b"HTTP/1.1 599 Upstream \x1b[31mGone", b"nope", "Content-Type: text/plain"))
    assert (error.http_status, error.content_type) == (599, "text/plain")
    assert error.reason == "Upstream ?[31mGone"  # (the escape made harmless)
    assert "HTTP 599 Upstream ?[31mGone" in error.message


async def test_an_answer_that_is_not_json_shows_its_first_bytes_one_for_one() -> None:
    body = b"\x1f\x8b\x08 hello\r\n\xff\xfe<html>\xe2\x80\xae" + b"x" * 200
    error = await failure_from(answer_with(body, "Content-Type: application/octet-stream"))
    assert error.code == "Transport.not_json"
    assert (error.http_status, error.content_type) == (200, "application/octet-stream")
    assert error.body_excerpt.startswith(r"\x1f\x8b\x08 hello\r\n\xff\xfe<html>\u202exxx")
    assert error.body_excerpt.endswith("x…")  # cut: only the first bytes
    assert error.body_excerpt.isprintable()


async def test_a_hung_server_times_out_in_the_read_phase_after_the_read_timeout() -> None:
    error = await failure_from(hang())
    assert error.code == "Transport.timeout"
    assert f"read timed out after {READ:g} s" in error.message
    assert "no status line and headers yet" in error.message


def trickled_body(interval: float = 0.05):
    """The head at once, then the body a byte at a time."""

    async def script(request, writer) -> None:
        body = describe_body(request.job_id)
        writer.write(head(200, "Content-Type: application/json", f"Content-Length: {len(body)}") + body[:3])
        for byte in body[3:]:
            await writer.drain()
            await asyncio.sleep(interval)
            writer.write(bytes([byte]))

    return script


@pytest.mark.parametrize(("script", "phase"), [
    (trickled_head, "no status line and headers yet"),
    (trickled_body, "the status line and headers came, then "),
], ids=["head trickled", "body trickled"])
async def test_the_attempts_deadline_says_how_far_the_answer_got(script, phase) -> None:
    error = await failure_from(script())
    assert f"no complete answer within {DEADLINE:g} s" in error.message
    assert phase in error.message


async def test_the_engines_record_keeps_what_the_server_said() -> None:
    with serve(answer_with(GATEWAY_PAGE, HTML, status=502)) as server:
        async with client_for(server.url) as client:
            poller = Poller(client, min_interval=1e9)
            poller.add(JOB)
            async with asyncio.timeout(DEADLINE + 1):
                await poller.run_until(lambda: poller.records[JOB].poll_count > 0)
    error = poller.records[JOB].last_error
    assert error is not None
    assert (error.code, error.http_status, error.reason) == ("Transport.http_status", 502, "Bad Gateway")
    assert error.content_type == "text/html; charset=utf-8"
    assert "<title>502 Bad Gateway</title>" in error.excerpt


# -- `check` as a process ---------------------------------------------------------------------------------

# Four attempts, each within the deadline, up to 0.5 + 1 + 2 s of backoff between them, and the
# interpreter's start.
CHECK_LIMIT = 4 * DEADLINE + 3.5 + 15


def run_check(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(f"connect_timeout = {CONNECT}\nread_timeout = {READ}\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200", TENCENTCLOUD_SECRET_ID="AKIDmadeup0000000000000000000000000",
               TENCENTCLOUD_SECRET_KEY="made-up-key-00000000000000000000")
    env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, "-m", "tui", "check", JOB, "--endpoint", url, "--config", str(config),
                           "--watchlist", str(tmp_path / "watchlist.toml"), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=CHECK_LIMIT)


def test_check_prints_the_502_its_reason_and_an_excerpt_of_the_page(tmp_path: Path) -> None:
    with serve(answer_with(GATEWAY_PAGE, HTML, status=502)) as server:
        result = run_check(server.url, tmp_path)
    assert result.returncode == 3, result.stderr
    row = result.stdout.splitlines()[1]
    assert "Transport.http_status: the endpoint answered HTTP 502 Bad Gateway (text/html; charset=utf-8): " in row
    assert "<title>502 Bad Gateway</title>" in row and "nginx/1.25.3" in row


def test_check_json_gives_the_status_the_type_and_the_excerpt_as_fields(tmp_path: Path) -> None:
    with serve(answer_with(GATEWAY_PAGE, HTML, status=502)) as server:
        result = run_check(server.url, tmp_path, "--json")
    assert result.returncode == 3, result.stderr
    error = json.loads(result.stdout)["Error"]
    assert error["Code"] == "Transport.http_status"
    assert error["HttpStatus"] == 502
    assert error["ContentType"] == "text/html; charset=utf-8"
    assert error["Excerpt"].startswith("<!DOCTYPE html> <html> <head><title>502 Bad Gateway</title>")
    assert "HTTP 502 Bad Gateway" in error["Message"]


def test_check_against_a_hung_server_says_the_read_timed_out_and_after_how_long(tmp_path: Path) -> None:
    with serve(hang()) as server:
        result = run_check(server.url, tmp_path, "--json")
    assert result.returncode == 3, result.stderr
    error = json.loads(result.stdout)["Error"]
    assert error["Code"] == "Transport.timeout"
    assert f"read timed out after {READ:g} s" in error["Message"]
    assert error["HttpStatus"] is None


def test_check_shows_the_first_bytes_of_an_answer_that_is_not_json(tmp_path: Path) -> None:
    with serve(answer_with(b"Service \x07 Temporarily Unavailable\n", "Content-Type: text/plain")) as server:
        table = run_check(server.url, tmp_path)
        lines = run_check(server.url, tmp_path, "--json")
    assert table.returncode == lines.returncode == 3, table.stderr
    assert r"Transport.not_json: the answer is not JSON (text/plain): Service \x07 Temporarily Unavailable\n" in table.stdout
    error = json.loads(lines.stdout)["Error"]
    assert (error["HttpStatus"], error["ContentType"]) == (200, "text/plain")
    assert error["Excerpt"] == r"Service \x07 Temporarily Unavailable\n"
