"""Keeping results from the shell: `check --wait --download DIR` and `download ID...`, against the
simulator's result files (over loopback; a real `vclm-watch simulate --results` for the end-to-end run)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from clikit import REPO, Cli, Sim, wait_for

from tui.api.models import JOB_FAILED, JOB_SUCCESS
from tui.simulator.results import content_chunks
from tui.simulator.server import run_in_thread
from tui.simulator.service import Lifecycle, Simulator

BASE_URL = re.compile(r"http://127\.0\.0\.1:\d+")


@pytest.fixture
def files_sim() -> Iterator[Sim]:
    """A loopback simulator that serves result files (its lifecycles forced per job)."""
    simulator = Simulator(seed=7, lifecycle=Lifecycle(p_failed=0.0, p_moderation_failed=0.0),
                          result_sizes=(20_000, 60_000))
    with run_in_thread(simulator, serve_results=True) as server:
        yield Sim(simulator, server.base_url)


def sha256_of(sim: Simulator, job_id: str) -> str:
    digest = hashlib.sha256()
    for chunk in sim.results.content(job_id):
        digest.update(chunk)
    return digest.hexdigest()


def json_rows(stdout: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    return {row["JobId"]: row for row in rows if "JobId" in row}


# -- against a real `vclm-watch simulate --results` ----------------------------------------------------

def test_check_wait_download_against_vclm_watch_simulate_saves_every_successful_job(tmp_path, cli):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    simulate = subprocess.Popen(
        [sys.executable, "-m", "tui", "simulate", "--port", "0", "--seed", "11", "--speed", "20",
         "--init-seconds", "0", "1", "--run-seconds", "1", "6", "--p-failed", "0", "--p-moderation-failed", "0",
         "--results", "--result-size", "150000", "150000", "--result-p-drop", "0.3", "--result-drop-after", "50000"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = BASE_URL.search(simulate.stdout.readline()).group(0)
        jobs = []
        for _ in range(4):
            submitted = cli("--endpoint", base_url, "submit", "https://media.example.invalid/in.mp4")
            assert submitted.code == 0, submitted.stderr
            jobs.append(submitted.stdout.strip())
        directory = tmp_path / "videos"
        result = cli("--endpoint", base_url, "check", "--wait", "--timeout", "25", "--download", str(directory),
                     "--json", *jobs)
    finally:
        simulate.send_signal(signal.SIGTERM)
        simulate.communicate(timeout=10)
    assert result.code == 0, result.stderr
    rows = json_rows(result.stdout)
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{job}.mp4" for job in jobs)
    for job in jobs:
        data = (directory / f"{job}.mp4").read_bytes()
        assert data == b"".join(content_chunks(11, job, 0, 0, 150_000))
        row = rows[job]
        assert row["StatusCode"] == JOB_SUCCESS
        assert (row["File"], row["Bytes"], row["Sha256"], row["DownloadError"]) == (
            str(directory / f"{job}.mp4"), 150_000, hashlib.sha256(data).hexdigest(), None)


# -- exit statuses ----------------------------------------------------------------------------------

def test_a_download_that_cannot_be_completed_exits_3_and_says_why(files_sim, shell, tmp_path):
    good, bad = files_sim.job(JOB_SUCCESS), files_sim.job(JOB_SUCCESS)
    files_sim.simulator.results.set_size(bad, 1000)
    directory = tmp_path / "videos"
    # the bad job's URLs point where nothing is served, the fresh one too
    real_url_for = files_sim.simulator.results.url_for
    files_sim.simulator.results.url_for = lambda job_id, expiry: (
        real_url_for(job_id, expiry).replace("/results/", "/nowhere/") if job_id == bad else real_url_for(job_id, expiry))
    result = shell("check", "--endpoint", files_sim.url, "--download", str(directory), "--json", good, bad)
    assert result.code == 3
    rows = json_rows(result.stdout)
    assert rows[good]["File"] == str(directory / f"{good}.mp4") and rows[good]["DownloadError"] is None
    assert rows[bad]["File"] is None and "even with a fresh URL" in rows[bad]["DownloadError"]
    assert f"{bad}: not saved:" in result.stderr
    assert sorted(p.name for p in directory.iterdir()) == [f"{good}.mp4"]


def test_failed_beats_a_failed_download_and_a_job_not_finished_is_pending(files_sim, shell, tmp_path):
    done, failed, running = files_sim.job(JOB_SUCCESS), files_sim.job(JOB_FAILED), files_sim.job(running=True)
    assert shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), done, running).code == 4
    assert shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), done, failed, running).code == 1
    assert shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), done).code == 0


# -- download -------------------------------------------------------------------------------------

def test_download_saves_the_jobs_given_on_stdin_and_a_table_names_the_files(files_sim, shell, tmp_path):
    jobs = [files_sim.job(JOB_SUCCESS) for _ in range(3)]
    result = shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "-",
                   stdin="done: " + ", ".join(jobs))
    assert result.code == 0, result.stderr
    for job in jobs:
        path = tmp_path / f"{job}.mp4"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256_of(files_sim.simulator, job)
        assert str(path) in result.stdout
    assert result.stderr == ""  # quiet when not on a terminal


def test_download_uses_the_config_s_download_dir(files_sim, shell, tmp_path, isolated_home):
    job = files_sim.job(JOB_SUCCESS)
    config = tmp_path / "config.toml"
    config.write_text(f'download_dir = "{tmp_path / "from-config"}"\n')
    assert shell("download", "--endpoint", files_sim.url, "--config", str(config), job).code == 0
    assert (tmp_path / "from-config" / f"{job}.mp4").is_file()


def test_a_file_saved_by_an_earlier_run_with_its_checksum_is_not_downloaded_again(files_sim, shell, tmp_path):
    job = files_sim.job(JOB_SUCCESS)
    first = shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "--json", job)
    assert first.code == 0
    served = len(files_sim.simulator.results.log)
    again = shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "--json", job)
    assert again.code == 0 and len(files_sim.simulator.results.log) == served
    assert json_rows(again.stdout)[job]["Sha256"] == sha256_of(files_sim.simulator, job)
    (tmp_path / f"{job}.mp4").write_bytes(b"damaged")
    third = shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), job)
    assert third.code == 0 and len(files_sim.simulator.results.log) == served + 1
    assert hashlib.sha256((tmp_path / f"{job}.mp4").read_bytes()).hexdigest() == sha256_of(files_sim.simulator, job)


def test_a_job_saved_earlier_in_another_directory_is_saved_again_in_the_one_asked_for(files_sim, shell, tmp_path):
    job = files_sim.job(JOB_SUCCESS)
    first, second = tmp_path / "a", tmp_path / "b"
    assert shell("download", "--endpoint", files_sim.url, "--dir", str(first), job).code == 0
    served = len(files_sim.simulator.results.log)
    result = shell("download", "--endpoint", files_sim.url, "--dir", str(second), "--json", job)
    assert result.code == 0, result.stderr
    assert json_rows(result.stdout)[job]["File"] == str(second / f"{job}.mp4")
    assert len(files_sim.simulator.results.log) == served + 1
    for directory in (first, second):
        assert hashlib.sha256((directory / f"{job}.mp4").read_bytes()).hexdigest() == sha256_of(files_sim.simulator, job)
    assert shell("download", "--endpoint", files_sim.url, "--dir", str(second), job).code == 0
    assert len(files_sim.simulator.results.log) == served + 1  # (the job database now names the file in b)


def test_a_download_killed_mid_body_resumes_on_the_next_run(files_sim, tmp_path):
    cli = Cli()
    job = files_sim.job(JOB_SUCCESS)
    results = files_sim.simulator.results
    results.set_size(job, 2_000_000)
    results.faults.trickle(job, 200_000)  # 10 s at this pace: killed long before
    part = tmp_path / f"{job}.mp4.part"
    process = cli.start("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), job)
    try:
        wait_for(lambda: part.exists() and part.stat().st_size >= 300_000, timeout=20, what="300 kB in the .part")
    finally:
        process.send_signal(signal.SIGKILL)
        Cli.finish(process)
    kept = part.stat().st_size
    assert kept < 2_000_000 and not (tmp_path / f"{job}.mp4").exists()
    results.faults.trickle(job, None)
    result = cli("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), job)
    assert result.code == 0, result.stderr
    last = results.log[-1]
    assert (last.range, last.status, last.bytes_sent) == (f"bytes={kept}-", 206, 2_000_000 - kept)
    assert hashlib.sha256((tmp_path / f"{job}.mp4").read_bytes()).hexdigest() == sha256_of(files_sim.simulator, job)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{job}.mp4"]


def test_two_processes_saving_one_job_into_one_directory_take_turns_and_fetch_it_once(files_sim, tmp_path):
    cli = Cli()
    job = files_sim.job(JOB_SUCCESS)
    results = files_sim.simulator.results
    results.set_size(job, 1_000_000)
    results.faults.trickle(job, 250_000)  # 4 s: the second starts while the first is mid-body
    part = tmp_path / f"{job}.mp4.part"
    first = cli.start("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "--json", job)
    try:
        wait_for(part.exists, timeout=20, what="the first's .part")  # (its body has begun)
        second = cli.start("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "--json", job)
    finally:
        runs = [Cli.finish(first)]
    runs.append(Cli.finish(second))
    assert [run.code for run in runs] == [0, 0], [run.stderr for run in runs]
    sha256 = sha256_of(files_sim.simulator, job)
    for run in runs:
        row = json_rows(run.stdout)[job]
        assert (row["File"], row["Bytes"], row["Sha256"]) == (str(tmp_path / f"{job}.mp4"), 1_000_000, sha256)
    assert [(e.range, e.status) for e in results.log] == [(None, 200)]  # the body fetched once
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{job}.mp4"]


def test_check_download_without_wait_saves_what_is_finished_now(files_sim, shell, tmp_path):
    done, running = files_sim.job(JOB_SUCCESS), files_sim.job(running=True)
    result = shell("check", "--endpoint", files_sim.url, "--download", str(tmp_path), "--json", done, running)
    assert result.code == 4
    rows = json_rows(result.stdout)
    assert rows[done]["Bytes"] == len((tmp_path / f"{done}.mp4").read_bytes())
    assert rows[running]["File"] is None and rows[running]["DownloadError"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{done}.mp4"]


def test_download_takes_the_team_options_as_check_does(files_sim, shell, tmp_path, isolated_home):
    job = files_sim.job(JOB_SUCCESS)
    result = shell("download", "--endpoint", files_sim.url, "--dir", str(tmp_path), "--solo", job)
    assert result.code == 0, result.stderr
    assert (tmp_path / f"{job}.mp4").is_file()
    assert not list(isolated_home.rglob("team.sqlite3"))  # (shared nothing)
    usage = shell("download", "--help").stdout
    assert "--shared URL" in usage and "--solo" in usage
    both = shell("download", "--solo", "--shared", "redis://127.0.0.1:6379", job)
    assert both.code == 2 and "not allowed with argument" in both.stderr


def test_the_download_directory_must_be_a_directory(files_sim, shell, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = shell("download", "--endpoint", files_sim.url, "--dir", str(not_a_dir), files_sim.job(JOB_SUCCESS))
    assert result.code == 2 and "not a directory" in result.stderr


def test_check_json_rows_keep_their_fields_without_download(files_sim, shell):
    row = json_rows(shell("check", "--endpoint", files_sim.url, "--json", files_sim.job(JOB_SUCCESS)).stdout)
    assert "File" not in next(iter(row.values()))




# -- progress on a terminal ------------------------------------------------------------------------

def test_the_live_line_gives_the_downloads_saved_running_bytes_and_rate():
    from tui.api.clock import FakeClock
    from tui.core.downloads import DownloadState, totals_of
    from tui.headless.progress import WaitTally, download_text

    states = [DownloadState("a" * 32, "done", 10, 10), DownloadState("b" * 32, "running", 1_500_000, 3_000_000, 250_000.0),
              DownloadState("c" * 32, "queued"), DownloadState("d" * 32, "failed", error="x")]
    assert download_text(totals_of(states[2:3])) == "downloads 0 saved, 0 running, 1 queued, 0 B at 0 B/s"
    assert download_text(totals_of(states[:2])) == "downloads 1 saved, 1 running, 1.50 MB of 3.00 MB at 250.0 kB/s"
    tally = WaitTally(["a" * 32], clock=FakeClock())
    tally.downloads = lambda: totals_of(states)
    assert tally.live_text().endswith("; downloads 1 saved, 1 running, 1 queued, 1 failed, 1.50 MB at 250.0 kB/s")


def test_a_download_cut_by_the_timeout_is_not_completed_and_its_part_is_left_to_resume(files_sim, shell, tmp_path):
    job = files_sim.job(JOB_SUCCESS)
    files_sim.simulator.results.set_size(job, 1_000_000)
    files_sim.simulator.results.faults.trickle(job, 100_000)  # 10 s: the 2 s deadline comes first
    result = shell("check", "--endpoint", files_sim.url, "--wait", "--timeout", "2", "--download", str(tmp_path),
                   "--json", job)
    assert result.code == 3
    row = json_rows(result.stdout)[job]
    assert row["File"] is None and "the run ended first" in row["DownloadError"]
    assert "ran out with 0 job(s) unfinished and 1 download(s) not done (resumed by the next run)" in result.stderr
    part = tmp_path / f"{job}.mp4.part"
    assert 0 < part.stat().st_size < 1_000_000 and not (tmp_path / f"{job}.mp4").exists()
