"""The line the monitor's `x` copies, run with Tencent's own tccli against the simulator.

tccli 3.0.1200.1 (in the test extra: the 3.0.12xx releases are the last that know
DescribeVideoStylizationJob) signs with signature v1 and reaches plain http only when --endpoint
carries the scheme; it must get the same answer as the project's client for the same job.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
from simtools import REGION, SIM_CREDENTIALS

from tui.api.client import VclmClient, resolve_endpoint
from tui.api.clock import FakeClock
from tui.api.credentials import ENV_SECRET_ID, ENV_SECRET_KEY
from tui.core.jobstate import JobRecord
from tui.core.settings import default_settings
from tui.monitor.launch import create_app
from tui.monitor.themes import shipped_themes_dir
from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

pytestmark = pytest.mark.anyio
pytest.importorskip("tccli", reason="tccli is not installed: it comes with the test extra (pip install '.[test]')")

RUN_TCCLI = "import sys; from tccli.main import main; sys.exit(main())"  # what the `tccli` script runs
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "TCCLI_PROFILE")


async def copied_line(clock: FakeClock, job_id: str, base_url: str) -> str:
    """What `x` puts on the clipboard in a monitor pointed at `base_url`."""
    settings = default_settings(region=REGION)
    settings.endpoint = resolve_endpoint(base_url)
    app = create_app(settings, clock=clock, store=None, records=[JobRecord(job_id=job_id, added_at=clock.time())],
                     credentials=None, theme_dirs=[shipped_themes_dir()], cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(200):
            await pilot.pause()
            if app.table is not None and app.table.row_count:
                break
        app.table.select_job(job_id)
        await pilot.press("x")
        await pilot.pause()
    assert app.clipboard.startswith("tccli vclm DescribeVideoStylizationJob ")
    return app.clipboard


def run_tccli(line: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    assert argv[0] == "tccli"
    env = {name: value for name, value in os.environ.items() if name not in PROXY_ENV}
    env.update({ENV_SECRET_ID: DEFAULT_SECRET_ID, ENV_SECRET_KEY: DEFAULT_SECRET_KEY})  # made up; HOME is a temporary one
    return subprocess.run([sys.executable, "-c", RUN_TCCLI, *argv[1:]], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fate", ["JobSuccess", "JobFailed"])
async def test_the_copied_tccli_line_gets_the_answer_the_monitor_shows(fate):
    # tccli signs with the real time: the simulator's clock starts there and stands still, so
    # both queries see the same job and the same result URL.
    clock = FakeClock(start=time.time())
    sim = Simulator(seed=3, clock=clock)
    job = sim.create_job(fate=fate, init_seconds=0, run_seconds=0)
    with run_in_thread(sim) as server:
        async with VclmClient(SIM_CREDENTIALS, REGION, server.base_url, clock=clock) as client:
            ours = await client.describe_job(job)
        line = await copied_line(clock, job, server.base_url)
        done = run_tccli(line)
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    assert theirs.pop("RequestId") != ours.raw["RequestId"]  # two requests, two ids
    assert theirs == {key: value for key, value in ours.raw.items() if key != "RequestId"}
    assert theirs["StatusCode"] == fate and theirs["JobId"] == job
    assert sim.stats.actions["DescribeVideoStylizationJob"] == 2 and not sim.stats.errors
