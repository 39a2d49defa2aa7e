"""`vclm-watch simulate` (here `python -m tui.simulator`): options, banner, a real process on a free port."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from simtools import REGION, SIM_CREDENTIALS, VIDEO_URL

from tui.api.client import VclmClient
from tui.api.models import JOB_SUCCESS, TERMINAL_STATUS_CODES
from tui.simulator.command import banner_lines, build_simulator, mask, run, shows_key
from tui.simulator.options import add_arguments
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
BASE_URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


class SimulatorProcess:
    """`python -m tui.simulator` as a child process, its stdout read line by line in a thread."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.simulator", "--port", "0", *argv],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_lines(self, n: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        return [self.lines.get(timeout=max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            self.proc.stdout.close()


@pytest.fixture
def spawn():
    started: list[SimulatorProcess] = []

    def start(*argv: str) -> SimulatorProcess:
        started.append(SimulatorProcess(*argv))
        return started[-1]

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


# -- a real process ------------------------------------------------------------------------------

def test_simulate_serves_a_job_to_its_end_through_the_project_client(spawn):
    process = spawn("--speed", "20", "--seed", "5", "--init-seconds", "1", "1", "--run-seconds", "8", "8",
                    "--p-failed", "0", "--p-moderation-failed", "0")
    first_line = process.read_lines(1)[0]
    base_url = BASE_URL.search(first_line).group(0)

    async def follow() -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + 8.0
        async with VclmClient(SIM_CREDENTIALS, REGION, base_url) as client:
            job = (await client.submit_job("2d_anime", VIDEO_URL)).job_id
            while time.monotonic() < deadline and (not seen or seen[-1] not in TERMINAL_STATUS_CODES):
                seen.append((await client.describe_job(job)).status_code)
                await asyncio.sleep(0.05)
        return seen

    seen = asyncio.run(follow())
    assert seen[-1] == JOB_SUCCESS
    assert process.stop() == 0


def test_simulate_with_results_serves_the_file_at_each_result_url(spawn):
    import hashlib

    import httpx

    from tui.simulator.results import content_chunks

    process = spawn("--seed", "3", "--speed", "1000", "--init-seconds", "0", "0", "--run-seconds", "0", "0",
                    "--p-failed", "0", "--p-moderation-failed", "0", "--results", "--result-size", "5000", "5000")
    lines = process.read_lines(6)
    base_url = BASE_URL.search(lines[0]).group(0)
    assert any(line.startswith(f"result files served at {base_url}/results/") for line in lines)

    async def fetch() -> tuple[str, httpx.Response]:
        async with VclmClient(SIM_CREDENTIALS, REGION, base_url) as client:
            job = (await client.submit_job("2d_anime", VIDEO_URL)).job_id
            for _ in range(100):
                status = await client.describe_job(job)
                if status.status_code == JOB_SUCCESS:
                    break
                await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as http:
            return job, await http.get(status.result_video_url)

    job, response = asyncio.run(fetch())
    assert response.status_code == 200 and len(response.content) == 5000
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(
        b"".join(content_chunks(3, job, 0, 0, 5000))).digest()
    assert process.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_simulate_exits_cleanly_on_a_signal(spawn, signum):
    process = spawn()
    process.read_lines(3)
    assert process.stop(signum) == 0


def test_simulate_prints_url_credentials_and_lines_to_paste(spawn):
    process = spawn("--seed", "1")
    lines = process.read_lines(5)
    process.stop()
    base_url = BASE_URL.search(lines[0]).group(0)
    assert int(BASE_URL.search(lines[0]).group(1)) > 0
    # the built-in credentials are made up: shown in full, so that the lines work as printed
    assert DEFAULT_SECRET_ID in lines[1] and DEFAULT_SECRET_KEY in lines[1]
    assert lines[2] == f"paste: export TENCENTCLOUD_SECRET_ID={DEFAULT_SECRET_ID} TENCENTCLOUD_SECRET_KEY={DEFAULT_SECRET_KEY}"
    assert f"vclm-watch --endpoint {base_url} submit --add " in lines[3]
    assert f"vclm-watch --endpoint {base_url}" in lines[4]


def _as_commands(lines: list[str]) -> tuple[dict[str, str], list[list[str]]]:
    """The banner's paste line as environment, and its `vclm-watch` lines as argv for this checkout."""
    env = dict(item.split("=", 1) for item in shlex.split(lines[2].removeprefix("paste: export ")))
    commands = []
    for line in lines[3:5]:
        argv = shlex.split(line.removeprefix("then:"), comments=True)
        assert argv[0] == "vclm-watch"
        commands.append([sys.executable, "-m", "tui", *argv[1:]])
    return env, commands


def test_the_printed_lines_submit_a_job_to_the_watchlist_as_pasted(spawn, isolated_home):
    process = spawn("--seed", "2")
    lines = process.read_lines(5)
    env, (submit, monitor) = _as_commands(lines)
    run_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    done = subprocess.run(submit, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=60)
    listed = subprocess.run([sys.executable, "-m", "tui", "ls", "--json"], cwd=REPO, env=run_env,
                            capture_output=True, text=True, timeout=60)
    checked = subprocess.run([sys.executable, "-m", "tui", *monitor[3:], "check", "--json", done.stdout.strip()],
                             cwd=REPO, env=run_env, capture_output=True, text=True, timeout=60)
    process.stop()
    assert done.returncode == 0, done.stderr
    assert [json.loads(row)["JobId"] for row in listed.stdout.splitlines()] == [done.stdout.strip()]
    assert json.loads(checked.stdout)["Error"] is None, checked.stdout + checked.stderr
    assert monitor[3:] == ["--endpoint", BASE_URL.search(lines[0]).group(0)]


# -- options, in-process ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "attribute", "expected"),
    [
        ((), "speed", 1.0),
        (("--speed", "3"), "speed", 3.0),
        (("--seed", "42"), "seed", 42),
        (("--quota", "7"), "quota", 7),
        (("--quota-window", "2.5"), "quota_window", 2.5),
        (("--latency", "0.05"), "faults.latency", 0.05),
        (("--jitter", "0.02"), "faults.jitter", 0.02),
        (("--latency-after", "0.01"), "faults.latency_after", 0.01),
        (("--p-inner-error", "0.1"), "faults.p_inner_error", 0.1),
        (("--p-internal-error", "0.1"), "faults.p_internal_error", 0.1),
        (("--p-502", "0.2"), "faults.p_http_502", 0.2),
        (("--p-drop", "0.3"), "faults.p_drop", 0.3),
        (("--p-stall", "0.4"), "faults.p_stall", 0.4),
        (("--stall-seconds", "12"), "faults.stall_seconds", 12.0),
        (("--p-malformed", "0.5"), "faults.p_malformed_json", 0.5),
        (("--p-unknown-status", "0.6"), "faults.p_unknown_status", 0.6),
        (("--p-rate-limit", "0.7"), "faults.p_rate_limit", 0.7),
        (("--init-seconds", "2", "4"), "lifecycle.init_seconds", (2.0, 4.0)),
        (("--run-seconds", "5", "9"), "lifecycle.run_seconds", (5.0, 9.0)),
        (("--p-failed", "0.25"), "lifecycle.p_failed", 0.25),
        (("--p-moderation-failed", "0.15"), "lifecycle.p_moderation_failed", 0.15),
        (("--result-size", "1000", "2000"), "results.size_range", (1000, 2000)),
        (("--result-p-drop", "0.5"), "results.faults.p_drop", 0.5),
        (("--result-drop-after", "4096"), "results.faults.drop_after_bytes", 4096),
        (("--result-rate", "5000"), "results.faults.bytes_per_second", 5000.0),
    ],
)
def test_options_configure_the_simulator(argv, attribute, expected):
    value = build_simulator(parse(*argv))
    for name in attribute.split("."):
        value = getattr(value, name)
    assert value == expected


def test_host_defaults_to_loopback():
    assert parse().sim_host == "127.0.0.1"


def test_given_credentials_replace_the_built_in_ones():
    sim = build_simulator(parse("--secret-id", "AKIDmine", "--secret-key", "my-key", "--token", "tok"))
    assert list(sim.accounts) == ["AKIDmine"]
    assert sim.accounts["AKIDmine"].secret_key == "my-key" and sim.accounts["AKIDmine"].tokens == {"tok"}


@pytest.mark.parametrize(
    ("argv", "shown"),
    [((), True), (("--show-key",), True), (("--secret-id", "AKIDmine", "--secret-key", "users-own-key-1234"), False),
     (("--secret-id", "AKIDmine", "--secret-key", "users-own-key-1234", "--show-key"), True)],
    ids=["made-up key", "made-up key, --show-key", "user's key", "user's key, --show-key"],
)
def test_only_a_key_of_the_user_s_is_masked_unless_show_key(argv, shown):
    args = parse(*argv)
    sim = build_simulator(args)
    (secret_id, account), = sim.accounts.items()
    text = "\n".join(banner_lines(sim, "http://127.0.0.1:8000", show_key=shows_key(args)))
    assert (account.secret_key in text) is shown
    assert mask(account.secret_key) in text or shown


def test_a_token_is_masked_unless_show_key():
    args = parse("--token", "sts-token-of-the-user")
    text = "\n".join(banner_lines(build_simulator(args), "http://127.0.0.1:8000", show_key=shows_key(args)))
    assert "sts-token-of-the-user" not in text and DEFAULT_SECRET_KEY in text
    assert "TENCENTCLOUD_TOKEN=<the token above>" in text


def test_the_banner_says_how_to_create_a_job():
    text = "\n".join(banner_lines(build_simulator(parse()), "http://127.0.0.1:8000", show_key=False))
    assert "vclm-watch --endpoint http://127.0.0.1:8000 submit --add https://" in text


@pytest.mark.parametrize(
    "argv",
    [("--p-drop", "1.5"), ("--speed", "0"), ("--port", "70000"), ("--latency", "-1")],
)
def test_out_of_range_options_are_refused_by_the_parser(argv):
    with pytest.raises(SystemExit):
        parse(*argv)


@pytest.mark.parametrize(
    "argv",
    [("--secret-id", "AKIDalone"), ("--p-502", "0.6", "--p-drop", "0.6"), ("--quota", "0"),
     ("--result-size", "2000", "1000"),
     ("--p-failed", "0.7", "--p-moderation-failed", "0.7")],
)
def test_contradictory_options_exit_2_without_serving(argv):
    err = io.StringIO()
    assert run(parse(*argv), out=io.StringIO(), err=err) == 2
    assert "error" in err.getvalue()


def test_a_port_already_taken_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        err = io.StringIO()
        code = run(parse("--port", str(taken.getsockname()[1])), out=io.StringIO(), err=err)
    assert code == 1
    assert "cannot listen" in err.getvalue()
