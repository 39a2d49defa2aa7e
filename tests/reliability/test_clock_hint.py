"""The clock: `check` says what the monitor says when the service refuses a request for the time
it was signed at ("your clock is more than 5 minutes off"), and the hint of any other error it met.

The loopback simulator runs on a clock set off from ours, so it answers AuthFailure.SignatureExpire.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from relkit import SkewedClock

from tui.api.clock import SYSTEM_CLOCK
from tui.core.hints import hint_for
from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

REPO = Path(__file__).resolve().parents[2]
CLOCK_HINT = "your clock is more than 5 minutes off"
ENV = {"TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID, "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY}


def check_in_process(url: str, *argv: str) -> tuple[int, str, str]:
    from tui.cli import build_parser
    from tui.headless import commands

    args = build_parser().parse_args(["check", "--endpoint", url, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(args, stdout=out, stderr=err, env={**os.environ, **ENV})
    return int(code), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("skew", [600.0, -600.0, 3600.0, -86400.0], ids=["10 min ahead", "10 min behind", "1 h ahead", "a day behind"])
@pytest.mark.parametrize("form", [[], ["--json"], ["--wait", "--timeout", "5"]], ids=["table", "json", "wait"])
def test_check_gives_the_clock_hint_when_the_signature_has_expired(skew, form) -> None:
    simulator = Simulator(seed=3, clock=SkewedClock(SYSTEM_CLOCK, skew))
    jobs = [simulator.create_job(init_seconds=0, run_seconds=0, fate="JobSuccess") for _ in range(3)]
    with run_in_thread(simulator) as server:
        code, out, err = check_in_process(server.base_url, *form, *jobs)
    assert code == 3, err
    assert "AuthFailure.SignatureExpire" in out
    hints = [line for line in err.splitlines() if CLOCK_HINT in line]
    assert hints == [f"vclm-watch check: hint: AuthFailure.SignatureExpire: {hint_for('AuthFailure.SignatureExpire')}"]


def test_no_clock_hint_when_the_clocks_agree() -> None:
    simulator = Simulator(seed=3, clock=SkewedClock(SYSTEM_CLOCK, 120.0))  # within the 5 minutes allowed
    job = simulator.create_job(init_seconds=0, run_seconds=0, fate="JobSuccess")
    with run_in_thread(simulator) as server:
        code, out, err = check_in_process(server.base_url, job)
    assert code == 0, err
    assert "hint" not in err


def test_every_error_met_gets_its_hint_once() -> None:
    simulator = Simulator(seed=3)
    phantoms = [simulator.phantom_job_id() for _ in range(3)]
    with run_in_thread(simulator) as server:
        code, out, err = check_in_process(server.base_url, *phantoms)
    assert code == 3
    assert err.count("hint: FailedOperation.TaskNotExist: " + hint_for("FailedOperation.TaskNotExist")) == 1


def test_check_as_a_process_gives_the_clock_hint() -> None:
    simulator = Simulator(seed=3, clock=SkewedClock(SYSTEM_CLOCK, -900.0))
    job = simulator.create_job(init_seconds=0, run_seconds=0, fate="JobSuccess")
    with run_in_thread(simulator) as server:
        done = subprocess.run([sys.executable, "-m", "tui", "check", "--endpoint", server.base_url, job],
                              capture_output=True, text=True, timeout=30, cwd=REPO, stdin=subprocess.DEVNULL,
                              env={**os.environ, **ENV, "PYTHONPATH": str(REPO)})
    assert done.returncode == 3
    assert CLOCK_HINT in done.stderr
