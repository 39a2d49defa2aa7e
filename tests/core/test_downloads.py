"""Keeping results (downloads.py): every byte, verified, resumed, refreshed; names, URLs and sizes a
server cannot turn against us. On the simulator in-process (its result files) and a FakeClock."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simkit import make_client, make_sim

from tui.api.clock import FakeClock
from tui.api.errors import ConfigError, VclmError
from tui.api.models import JOB_SUCCESS, RESULT_URL_VALIDITY_SECONDS
from tui.core.config import parse_config
from tui.core.downloads import (
    DownloadManager,
    DownloadState,
    PartInfo,
    PartWriter,
    download_url_problem,
    extension_from,
    parse_content_range,
    parse_length,
    read_part_info,
    result_name,
    sidecar_path,
    unsatisfied_size,
    write_part_info,
)
from tui.core.engine import Poller
from tui.simulator.results import ResultFaults
from tui.simulator.service import Simulator
from tui.simulator.transport import SimulatorTransport

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:9/results/"  # loopback: the in-process transport answers it
JOB = "0123456789abcdef0123456789abcdef"


# -- names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content_type", "disposition", "name"), [
    ("video/mp4", None, f"{JOB}.mp4"),
    ("video/quicktime; charset=x", None, f"{JOB}.mov"),
    ("VIDEO/WEBM", None, f"{JOB}.webm"),
    (None, None, f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="clip.MKV"', f"{JOB}.mkv"),
    ("application/octet-stream", 'attachment; filename="../../etc/passwd"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="/tmp/x/evil.sh"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="setup.EXE"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="page.html"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="run.desktop"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="a.3GP"', f"{JOB}.3gp"),
    ("application/octet-stream", 'attachment; filename="a.gif"', f"{JOB}.gif"),
    ("application/octet-stream", 'attachment; filename="..\\\\..\\\\a.b\\\\c"', f"{JOB}.mp4"),
    ("application/octet-stream", "attachment; filename*=UTF-8''%2E%2E%2Fx.webm", f"{JOB}.webm"),
    ("application/octet-stream", "attachment; filename*=UTF-8''a%00b.m%2Fp4", f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="x.mp4/../../y"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="x.part"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="x.verylongextension"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename=".hidden"', f"{JOB}.mp4"),
    ("application/octet-stream", 'attachment; filename="x.mp4 "; filename*=bogus', f"{JOB}.mp4"),
    ("text/html", 'inline; filename="x.m\u0456p4"', f"{JOB}.mp4"),
])
def test_the_file_name_is_the_job_id_and_a_plain_extension(content_type, disposition, name):
    assert result_name(JOB, content_type, disposition) == name


@given(st.text(max_size=80), st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_no_header_can_name_a_file_outside_the_directory_or_another_job_s(content_type, disposition):
    name = result_name(JOB, content_type, disposition)
    directory = Path("/downloads")
    assert (directory / name).parent == directory
    stem, dot, ext = name.partition(".")
    assert (stem, dot) == (JOB, ".") and ext.isascii() and ext.isalnum() and 1 <= len(ext) <= 8
    assert extension_from(content_type, disposition) == "." + ext


HOSTILE_NAMES = st.sampled_from(["x.sh", "x.exe", "x.html", "x.desktop", "x.mp4.sh", "../x.mov", "x.MKV", "x.bat",
                                  "x.part", "x.json", ".webm", "x.mp4/", "x.avi\x00.sh", "x.mpg", "x.mpeg"])


@given(st.from_regex(r"[0-9a-f]{32}", fullmatch=True), st.one_of(st.none(), st.text(max_size=40)),
       st.one_of(st.none(), st.text(max_size=120), HOSTILE_NAMES.map(lambda n: f'attachment; filename="{n}"'),
                 st.tuples(HOSTILE_NAMES, st.text(max_size=20)).map(
                     lambda t: f"attachment; filename*=UTF-8''{t[0]}{t[1]}")))
@settings(max_examples=400, deadline=None)
def test_the_final_name_is_always_the_job_id_and_a_video_extension(job_id, content_type, disposition):
    assert re.fullmatch(r"[0-9a-f]{32}\.(mp4|mov|webm|mkv|mpg|avi|3gp|gif)",
                        result_name(job_id, content_type, disposition))


@pytest.mark.parametrize("job_id", ["../" + "a" * 30, "a/b", "", ".hidden", "a" * 200, "a b", "a\x00b"])
def test_a_job_id_that_cannot_name_a_file_is_refused(job_id):
    with pytest.raises(ValueError):
        result_name(job_id, "video/mp4")


# -- URLs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "came_from", "allowed"), [
    ("https://cos.example.com/a.mp4?sign=x", None, True),
    ("http://127.0.0.1:8000/results/a.mp4", None, True),
    ("http://localhost/results/a.mp4", None, True),
    ("http://[::1]:8/a.mp4", None, True),
    ("http://cos.example.com/a.mp4", None, False),
    ("ftp://cos.example.com/a.mp4", None, False),
    ("file:///etc/passwd", None, False),
    ("https://user:pw@cos.example.com/a.mp4", None, False),
    ("https://cos.example.com@evil.example/a.mp4", None, False),
    ("https:///a.mp4", None, False),
    ("https://cos.example.com/a b.mp4", None, False),
    ("", None, False),
    ("https://other.example.net/a.mp4", "https://cos.example.com/a.mp4", True),
    ("http://other.example.net/a.mp4", "https://cos.example.com/a.mp4", False),
    ("http://127.0.0.1/admin", "https://cos.example.com/a.mp4", False),
    ("https://localhost/x", "https://cos.example.com/a.mp4", False),
    ("http://127.0.0.1/results/b.mp4", "http://127.0.0.1/results/a.mp4", True),
])
def test_downloads_go_to_https_or_loopback_and_redirects_keep_to_that(url, came_from, allowed):
    assert (download_url_problem(url, came_from=came_from) is None) == allowed


URL_PARTS = st.sampled_from(["https://", "http://", "ftp://", "file://", "HTTPS://", "", "//", "javascript:"])
HOSTS = st.sampled_from(["cos.example.com", "127.0.0.1", "localhost", "[::1]", "10.0.0.1", "user:pw@cos.example.com",
                         "cos.example.com@127.0.0.1", "", "127.0.0.1.nip.io", "0x7f000001", "::1"])


@given(URL_PARTS, HOSTS, st.text(max_size=30), st.one_of(st.none(), URL_PARTS.flatmap(
    lambda scheme: HOSTS.map(lambda host: f"{scheme}{host}/"))))
@settings(max_examples=400, deadline=None)
def test_any_url_a_download_may_go_to_is_https_or_loopback_http_with_no_user_in_it(scheme, host, path, came_from):
    from urllib.parse import urlsplit

    from tui.api.urls import is_loopback_host

    url = f"{scheme}{host}/{path}"
    if download_url_problem(url, came_from=came_from) is not None:
        return
    parts = urlsplit(url)
    assert parts.hostname and parts.username is None and "@" not in parts.netloc
    assert parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
    if came_from is not None and is_loopback_host(parts.hostname):
        assert is_loopback_host(urlsplit(came_from).hostname or "")


# -- sizes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "size"), [
    (None, None), ("0", 0), ("52428800", 52_428_800), (" 12 ", 12),
    ("-1", ValueError), ("1e3", ValueError), ("12, 12", ValueError), ("0x10", ValueError), ("", ValueError),
    ("99999999999999999999", ValueError), (str(1 << 41), ValueError), ("١٢", ValueError),
])
def test_content_length_is_a_plain_size_or_refused(value, size):
    if size is ValueError:
        with pytest.raises(ValueError):
            parse_length(value)
    else:
        assert parse_length(value) == size


@pytest.mark.parametrize(("value", "span"), [
    ("bytes 0-99/1000", (0, 100, 1000)), ("bytes 999-999/1000", (999, 1000, 1000)),
    ("bytes 100-99/1000", ValueError), ("bytes 0-1000/1000", ValueError), ("bytes */1000", ValueError),
    ("bytes 0-9/*", ValueError), ("items 0-9/10", ValueError), (None, ValueError), ("bytes -1-9/10", ValueError),
])
def test_content_range_must_add_up(value, span):
    if span is ValueError:
        with pytest.raises(ValueError):
            parse_content_range(value)
    else:
        assert parse_content_range(value) == span


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_content_length_is_a_size_within_bounds_or_a_value_error(value):
    try:
        size = parse_length(value)
    except ValueError:
        return
    assert size is not None and 0 <= size <= 1 << 40


# -- config -----------------------------------------------------------------------------------------

def test_download_options_in_the_config():
    config = parse_config({"download_dir": "~/videos", "auto_download": True, "download_concurrency": 5})
    assert (config.download_dir, config.auto_download, config.download_concurrency) == ("~/videos", True, 5)
    defaults = parse_config({})
    assert (defaults.download_dir, defaults.auto_download, defaults.download_concurrency) == (None, False, 3)


@pytest.mark.parametrize("data", [{"download_concurrency": 0}, {"download_concurrency": 17},
                                  {"download_concurrency": True}, {"download_concurrency": 2.5},
                                  {"auto_download": "yes"}, {"download_dir": ""}, {"download_dir": 3}])
def test_bad_download_options_are_config_errors(data):
    with pytest.raises(ConfigError):
        parse_config(data)


# -- downloading, on the simulator ------------------------------------------------------------------

class Rig:
    """A simulator serving result files, a poller with the project client, and a download manager."""

    def __init__(self, tmp_path: Path, *, faults: ResultFaults | None = None, transport=...) -> None:
        self.clock = FakeClock()
        self.sim: Simulator = make_sim(self.clock, result_base=BASE, result_faults=faults)
        self.client = make_client(self.sim, self.clock)
        self.poller = Poller(self.client, clock=self.clock)
        self.directory = tmp_path / "videos"
        self.saved: list[tuple[str, str, int, str]] = []
        self.fresh: list[str] = []
        self.states: list[DownloadState] = []
        self.transport = SimulatorTransport(self.sim) if transport is ... else transport
        self.recorded: dict[str, tuple[str, int, str]] = {}
        self.manager = self.make_manager()

    def make_manager(self) -> DownloadManager:
        async def fresh_url(job_id: str) -> str | None:
            self.fresh.append(job_id)
            return await self.poller.fresh_url(job_id)

        manager = DownloadManager(self.directory, fresh_url=fresh_url, clock=self.clock, transport=self.transport,
                                  on_saved=lambda *saved: self.saved.append(saved), recorded=self.recorded.get)
        manager.subscribe(self.states.append)
        return manager

    async def finished_job(self, size: int) -> tuple[str, str]:
        job_id = self.sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
        self.sim.results.set_size(job_id, size)
        self.poller.add(job_id)
        await self.poller.poll_job(job_id)
        url = self.poller.records[job_id].result_video_url
        assert url.startswith(BASE)
        return job_id, url

    def content(self, job_id: str, version: int | None = None) -> bytes:
        return b"".join(self.sim.results.content(job_id, version))

    async def download(self, *jobs: tuple[str, str]) -> None:
        runner = asyncio.create_task(self.manager.run())
        for job_id, url in jobs:
            self.manager.request(job_id, url)
        await asyncio.sleep(0)
        await self.manager.wait_idle()
        await self.manager.close()
        await runner

    def log(self) -> list[tuple[str | None, int, bool]]:
        return [(e.range, e.status, e.dropped) for e in self.sim.results.log]

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.name.endswith((".part", ".json")))


async def test_a_finished_job_s_video_is_saved_whole_with_its_sha256_and_recorded(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(300_000)
    await rig.download((job_id, url))
    path = rig.directory / f"{job_id}.mp4"
    data = rig.content(job_id)
    assert path.read_bytes() == data
    state = rig.manager.state(job_id)
    assert state is not None and state.phase == "done"
    assert (state.path, state.received, state.total, state.sha256) == (
        str(path), 300_000, 300_000, hashlib.sha256(data).hexdigest())
    assert rig.saved == [(job_id, str(path), 300_000, hashlib.sha256(data).hexdigest())]
    assert rig.leftovers() == [] and rig.fresh == []
    assert [s.phase for s in rig.states][:2] == ["queued", "running"] and rig.states[-1].phase == "done"


async def test_three_dropped_connections_resume_with_range_and_the_file_is_whole(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(1_000_000)
    rig.sim.results.faults.drop_next(job_id, after_bytes=200_001, times=3)
    await rig.download((job_id, url))
    data = rig.content(job_id)
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == data
    assert rig.log() == [(None, 200, True), ("bytes=200001-", 206, True), ("bytes=400002-", 206, True),
                         ("bytes=600003-", 206, False)]
    state = rig.manager.state(job_id)
    assert state.sha256 == hashlib.sha256(data).hexdigest() and state.resumes == 3 and state.restarts == 0
    assert rig.clock.sleeps == []  # each try brought bytes: no backoff


async def test_an_expired_url_is_refreshed_once_and_the_download_completes(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(100_000)
    rig.clock.advance(RESULT_URL_VALIDITY_SECONDS + 60)
    describes = rig.sim.stats.actions["DescribeVideoStylizationJob"]
    await rig.download((job_id, url))
    assert rig.fresh == [job_id]
    assert rig.sim.stats.actions["DescribeVideoStylizationJob"] == describes + 1  # one poll, through the client
    assert [status for _, status, _ in rig.log()] == [403, 200]
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert rig.poller.records[job_id].result_video_url != url  # recorded like any poll


async def test_a_url_refused_again_after_the_refresh_fails_the_download_and_says_why(tmp_path):
    rig = Rig(tmp_path)
    job_id, _ = await rig.finished_job(1000)
    spoiled = f"{BASE}{job_id}.mp4?sign=0&t=1"

    async def spoiled_again(job_id: str) -> str | None:
        rig.fresh.append(job_id)
        return spoiled

    rig.manager.fresh_url = spoiled_again
    await rig.download((job_id, spoiled))
    state = rig.manager.state(job_id)
    assert state.phase == "failed" and rig.fresh == [job_id]
    assert "even with a fresh URL" in state.error and "SignatureDoesNotMatch" in state.error
    assert not (rig.directory / f"{job_id}.mp4").exists()


async def test_a_result_the_service_no_longer_has_ends_gone(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    rig.clock.advance(RESULT_URL_VALIDITY_SECONDS + 60)

    async def nothing(job_id: str) -> str | None:
        rig.fresh.append(job_id)
        return None

    rig.manager.fresh_url = nothing
    await rig.download((job_id, url))
    state = rig.manager.state(job_id)
    assert state.phase == "gone" and "no longer has" in state.error and rig.fresh == [job_id]
    assert rig.manager.totals().failed == 1


async def test_a_file_changed_between_two_tries_is_downloaded_again_whole_never_spliced(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(500_000)
    rig.sim.results.faults.drop_next(job_id, after_bytes=100_000)
    rig.sim.results.change_at(job_id, rig.sim.sim_now() + 1)

    original = rig.transport.handle_async_request

    async def after_the_drop_the_file_changes(request):
        if request.headers.get("range"):
            rig.clock.advance(2)
        return await original(request)

    rig.transport.handle_async_request = after_the_drop_the_file_changes
    await rig.download((job_id, url))
    assert rig.log() == [(None, 200, True), ("bytes=100000-", 200, False)]  # If-Range: the new version, whole
    data = (rig.directory / f"{job_id}.mp4").read_bytes()
    assert data == rig.content(job_id, 1) != rig.content(job_id, 0)
    state = rig.manager.state(job_id)
    assert state.restarts == 1 and state.sha256 == hashlib.sha256(data).hexdigest()


async def test_a_download_stopped_mid_body_leaves_a_part_that_the_next_manager_resumes(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(400_000)
    rig.sim.results.faults.trickle(job_id, 50_000)  # 8 simulated seconds
    seen: list[int] = []

    def stop_half_way(state: DownloadState) -> None:
        seen.append(state.received)

    rig.manager.subscribe(stop_half_way)
    runner = asyncio.create_task(rig.manager.run())
    rig.manager.request(job_id, url)
    while not seen or seen[-1] < 150_000:
        await asyncio.sleep(0)
    await rig.manager.close()
    await runner
    part = rig.directory / f"{job_id}.mp4.part"
    kept = part.stat().st_size
    assert 150_000 <= kept < 400_000 and not (rig.directory / f"{job_id}.mp4").exists()
    info = read_part_info(rig.directory, job_id)
    assert info is not None and info.total == 400_000 and info.validator == rig.sim.results.etag_of(job_id)

    rig.sim.results.faults.trickle(job_id, None)
    rig.manager = rig.make_manager()
    await rig.download((job_id, url))
    assert rig.log()[-1][:2] == (f"bytes={kept}-", 206)
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert rig.manager.state(job_id).sha256 == hashlib.sha256(rig.content(job_id)).hexdigest()
    assert rig.leftovers() == []


async def test_a_part_without_its_sidecar_is_not_trusted_and_the_file_comes_whole(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    rig.directory.mkdir()
    (rig.directory / f"{job_id}.mp4.part").write_bytes(b"x" * 5000)  # not this file's bytes
    await rig.download((job_id, url))
    assert rig.log() == [(None, 200, False)]
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)


async def test_a_whole_part_left_before_its_rename_is_finished_on_a_416_that_names_its_size(tmp_path):
    # (a run killed between the last byte and the rename: the server has no byte past the end)
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    rig.directory.mkdir()
    (rig.directory / f"{job_id}.mp4.part").write_bytes(rig.content(job_id))
    write_part_info(rig.directory, job_id, PartInfo(f"{job_id}.mp4", rig.sim.results.etag_of(job_id), 10_000))
    await rig.download((job_id, url))
    assert rig.log() == [("bytes=10000-", 416, False)]
    assert rig.manager.state(job_id).sha256 == hashlib.sha256(rig.content(job_id)).hexdigest()
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)


async def test_a_416_naming_another_size_than_the_part_s_starts_over(tmp_path):
    # (the sidecar says 12,000 bytes, the part has them; the server's file has 10,000: not that file)
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    rig.directory.mkdir()
    (rig.directory / f"{job_id}.mp4.part").write_bytes(b"x" * 12_000)
    write_part_info(rig.directory, job_id, PartInfo(f"{job_id}.mp4", rig.sim.results.etag_of(job_id), 12_000))
    await rig.download((job_id, url))
    assert rig.log() == [("bytes=12000-", 416, False), (None, 200, False)]
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert rig.manager.state(job_id).restarts == 1


@pytest.mark.parametrize(("value", "size"), [
    ("bytes */10000", 10_000), (" bytes */0 ", 0), (None, None), ("", None), ("bytes */*", None),
    ("bytes 0-9/10", None), ("bytes */-1", None), ("bytes */1e4", None), (f"bytes */{1 << 41}", None),
])
def test_a_416_s_content_range_gives_the_size_or_none(value, size):
    assert unsatisfied_size(value) == size


async def test_a_saved_file_with_its_recorded_checksum_is_not_downloaded_again(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    await rig.download((job_id, url))
    (_, path, size, sha256), = rig.saved
    requests = len(rig.sim.results.log)
    assert rig.manager.request(job_id, url) is False  # closed; and a new run:
    rig.recorded[job_id] = (path, size, sha256)
    rig.manager = rig.make_manager()
    await rig.download((job_id, url))
    assert len(rig.sim.results.log) == requests
    assert rig.manager.state(job_id).phase == "done" and len(rig.saved) == 1  # (recorded already)
    Path(path).write_bytes(b"y" * size)  # the same size, other bytes: fetched again
    rig.manager = rig.make_manager()
    await rig.download((job_id, url))
    assert len(rig.sim.results.log) == requests + 1
    assert Path(path).read_bytes() == rig.content(job_id)


async def test_a_request_for_a_job_queued_or_saved_in_this_run_is_not_queued_twice(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    runner = asyncio.create_task(rig.manager.run())
    assert rig.manager.request(job_id, url) is True
    assert rig.manager.request(job_id, url) is False
    await asyncio.sleep(0)
    await rig.manager.wait_idle()
    assert rig.manager.request(job_id, url) is False  # done, the file is there
    (rig.directory / f"{job_id}.mp4").unlink()
    assert rig.manager.request(job_id, url) is True
    await asyncio.sleep(0)
    await rig.manager.wait_idle()
    await rig.manager.close()
    await runner
    assert len(rig.saved) == 2


async def test_no_more_downloads_run_at_once_than_the_concurrency(tmp_path):
    rig = Rig(tmp_path)
    jobs = [await rig.finished_job(20_000) for _ in range(7)]
    for job_id, _ in jobs:
        rig.sim.results.faults.trickle(job_id, 10_000)
    most = []
    rig.manager.subscribe(lambda _state: most.append(rig.manager.totals().active))
    await rig.download(*jobs)
    assert max(most) == 3 and rig.manager.totals().done == 7
    for job_id, _ in jobs:
        assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)


async def test_two_managers_saving_one_job_into_one_directory_take_turns_and_fetch_it_once(tmp_path):
    # (two monitors with auto_download, or a monitor and `check --download`, on one download_dir)
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(300_000)
    rig.sim.results.faults.trickle(job_id, 100_000)  # 3 simulated seconds: the second comes mid-body
    managers = [rig.manager, rig.make_manager()]
    runners = [asyncio.create_task(manager.run()) for manager in managers]
    for manager in managers:
        assert manager.request(job_id, url)
    await asyncio.sleep(0)
    await asyncio.gather(*(manager.wait_idle() for manager in managers))
    for manager in managers:
        await manager.close()
    await asyncio.gather(*runners)
    sha256 = hashlib.sha256(rig.content(job_id)).hexdigest()
    path = rig.directory / f"{job_id}.mp4"
    assert [(m.state(job_id).phase, m.state(job_id).sha256, m.state(job_id).path) for m in managers] == [
        ("done", sha256, str(path))] * 2
    assert sorted(p.name for p in rig.directory.iterdir()) == [path.name]  # (no part, no lock left)
    assert path.read_bytes() == rig.content(job_id)
    assert rig.log() == [(None, 200, False)]  # the body fetched once
    assert [saved[0] for saved in rig.saved] == [job_id, job_id]  # each recorded it (the second: found)


async def test_a_part_shorter_on_disk_than_received_is_never_renamed(tmp_path, monkeypatch):
    # (another writer truncated it under us: what is renamed must be what the disk holds)
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    real_fsync = os.fsync
    truncated: list[int] = []

    def truncating_fsync(fd):
        if not truncated and os.fstat(fd).st_size == 10_000:
            truncated.append(fd)
            os.truncate(rig.directory / f"{job_id}.mp4.part", 4000)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", truncating_fsync)
    await rig.download((job_id, url))
    assert truncated
    assert rig.log() == [(None, 200, False), (None, 200, False)]  # started over, not renamed short
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert rig.manager.state(job_id).restarts == 1


# -- servers that lie -------------------------------------------------------------------------------

class Twisting(httpx.AsyncBaseTransport):
    """The simulator's transport, with its answers' headers changed or redirects put in front, and
    every request kept (to see what was sent where)."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = SimulatorTransport(sim)
        self.headers: dict[str, str | None] = {}
        self.redirects: dict[str, str] = {}  # path -> Location
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        location = self.redirects.get(request.url.path)
        if location is not None:
            return httpx.Response(302, headers={"Location": location}, request=request)
        response = await self.inner.handle_async_request(request)
        for name, value in self.headers.items():
            if value is None:
                del response.headers[name]
            else:
                response.headers[name] = value
        return response


def twisted_rig(tmp_path: Path) -> tuple[Rig, Twisting]:
    clock_sim = Rig(tmp_path)
    twisting = Twisting(clock_sim.sim)
    clock_sim.transport = twisting
    clock_sim.manager = clock_sim.make_manager()
    return clock_sim, twisting


@pytest.mark.parametrize(("headers", "error"), [
    ({"Content-Length": "5000"}, "more than the 5000 bytes"),
    ({"Content-Length": "-5"}, "Content-Length that is not a size"),
    ({"Content-Length": str(1 << 50)}, "announced size past"),
    ({"Content-Encoding": "gzip"}, "encoded"),
])
async def test_an_answer_whose_size_or_encoding_cannot_be_trusted_fails_and_nothing_is_renamed(
        tmp_path, headers, error):
    rig, twisting = twisted_rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    twisting.headers.update(headers)
    await rig.download((job_id, url))
    state = rig.manager.state(job_id)
    assert state.phase == "failed" and error in state.error
    assert not (rig.directory / f"{job_id}.mp4").exists()


async def test_an_answer_shorter_than_announced_is_never_renamed_into_place(tmp_path):
    rig, twisting = twisted_rig(tmp_path)
    job_id, url = await rig.finished_job(10_000)
    twisting.headers["Content-Length"] = "20000"  # every answer ends at 10,000 of an announced 20,000
    await rig.download((job_id, url))
    state = rig.manager.state(job_id)
    # (resumed at 10,000, which the server says is past its end: started over, again and again)
    assert state.phase == "failed" and "started over 3 times" in state.error
    assert [status for _, status, _ in rig.log()] == [200, 416] * 4
    assert not (rig.directory / f"{job_id}.mp4").exists()


async def test_a_hostile_content_disposition_names_no_file_outside_the_directory(tmp_path):
    rig, twisting = twisted_rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    twisting.headers["Content-Type"] = "application/octet-stream"
    twisting.headers["Content-Disposition"] = 'attachment; filename="../../../escaped.sh"'
    await rig.download((job_id, url))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == [
        Path("videos") / f"{job_id}.mp4"]  # (not its directory, nor an extension that is not a video's)


async def test_a_redirect_within_the_rules_is_followed_without_any_api_header(tmp_path):
    rig, twisting = twisted_rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    twisting.redirects["/results/moved.mp4"] = url
    await rig.download((job_id, "http://127.0.0.1:9/results/moved.mp4"))
    assert rig.manager.state(job_id).phase == "done"
    files = [r for r in twisting.requests if r.url.path.startswith("/results/")]
    assert [r.url.path for r in files] == ["/results/moved.mp4", f"/results/{job_id}.mp4"]
    for request in files:
        assert not [h for h in request.headers if h.lower() == "authorization" or h.lower().startswith("x-tc-")]


@pytest.mark.parametrize("location", ["http://cos.example.com/x.mp4", "file:///etc/passwd",
                                      "https://user:pw@cos.example.com/x.mp4"])
async def test_a_redirect_outside_the_rules_is_refused(tmp_path, location):
    rig, twisting = twisted_rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    twisting.redirects[f"/results/{job_id}.mp4"] = location
    await rig.download((job_id, url))
    state = rig.manager.state(job_id)
    assert state.phase == "failed" and "refused to download from a redirect" in state.error
    assert [r.url.path for r in twisting.requests if r.url.path.startswith("/results/")] == [f"/results/{job_id}.mp4"]


async def test_a_non_https_url_is_refused_before_any_request(tmp_path):
    rig = Rig(tmp_path)
    job_id, _ = await rig.finished_job(1000)
    await rig.download((job_id, f"http://cos.example.com/results/{job_id}.mp4"))
    state = rig.manager.state(job_id)
    assert state.phase == "failed" and "not https" in state.error and rig.log() == []


async def test_a_symlink_planted_as_the_part_file_is_not_followed(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    rig.directory.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    os.symlink(outside, rig.directory / f"{job_id}.mp4.part")
    await rig.download((job_id, url))
    assert outside.read_bytes() == b"precious"
    assert rig.manager.state(job_id).phase == "failed"


async def test_a_sidecar_naming_another_file_is_not_trusted(tmp_path):
    rig = Rig(tmp_path)
    job_id, _ = await rig.finished_job(1000)
    rig.directory.mkdir()
    sidecar_path(rig.directory, job_id).write_text('{"name": "../evil.mp4", "validator": "\\"x\\"", "total": 5}')
    assert read_part_info(rig.directory, job_id) is None


# -- the engine's fresh URL -------------------------------------------------------------------------

async def test_fresh_url_polls_the_job_now_through_the_client_and_records_the_answer(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(1000)
    rig.clock.advance(3600)
    polls = rig.poller.records[job_id].poll_count
    fresh = await rig.poller.fresh_url(job_id)
    assert fresh and fresh != url and fresh == rig.poller.records[job_id].result_video_url
    assert rig.poller.records[job_id].poll_count == polls + 1
    assert rig.client.limiter.measured_rate() > 0  # (through the limiter, as every poll)


async def test_fresh_url_is_none_for_a_job_the_service_does_not_know_or_one_not_watched(tmp_path):
    rig = Rig(tmp_path)
    unknown = rig.sim.phantom_job_id()
    rig.poller.add(unknown)
    assert await rig.poller.fresh_url(unknown) is None
    assert rig.poller.records[unknown].last_error.code == "FailedOperation.TaskNotExist"
    assert await rig.poller.fresh_url("f" * 32) is None


async def test_fresh_url_raises_the_error_of_a_poll_that_failed_for_another_reason(tmp_path):
    rig = Rig(tmp_path)
    job_id, _ = await rig.finished_job(1000)
    rig.sim.faults.p_inner_error = 1.0
    with pytest.raises(VclmError):
        await rig.poller.fresh_url(job_id)


# -- over loopback: a big file, with drops -----------------------------------------------------------

async def test_50_mb_over_loopback_with_3_dropped_connections_arrives_whole_resumed_with_range(tmp_path):
    from tui.simulator.server import serve

    size = 50 * 1024 * 1024
    rig = Rig(tmp_path, transport=None)  # real connections to the loopback server
    async with serve(rig.sim, serve_results=True):
        job_id = rig.sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
        rig.sim.results.set_size(job_id, size)
        for after in (7_000_003, 12_000_000 - 3, 22_943_040):  # each request's body is cut this far in
            rig.sim.results.faults.drop_next(job_id, after_bytes=after)
        rig.poller.add(job_id)
        await rig.poller.poll_job(job_id)
        url = rig.poller.records[job_id].result_video_url
        assert url.startswith("http://127.0.0.1:")
        await rig.download((job_id, url))
    expected = hashlib.sha256()
    for chunk in rig.sim.results.content(job_id):
        expected.update(chunk)
    state = rig.manager.state(job_id)
    assert state.phase == "done" and state.received == size and state.sha256 == expected.hexdigest()
    assert state.resumes == 3
    assert [(e.range, e.status, e.dropped) for e in rig.sim.results.log] == [
        (None, 200, True), ("bytes=7000003-", 206, True), ("bytes=19000000-", 206, True),
        ("bytes=41943040-", 206, False)]
    assert os.path.getsize(rig.directory / f"{job_id}.mp4") == size
    assert rig.leftovers() == []


async def test_progress_gives_the_rate_lately_and_the_time_left_on_the_injected_clock(tmp_path):
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(400_000)
    rig.sim.results.faults.trickle(job_id, 40_000)  # 10 simulated seconds
    await rig.download((job_id, url))
    running = [s for s in rig.states if s.phase == "running" and s.received >= 120_000]
    assert running, "progress is reported while the bytes come"
    for state in running:
        assert state.rate == pytest.approx(40_000, rel=0.05)
        assert state.eta == pytest.approx((400_000 - state.received) / state.rate)
    times = [s.received for s in rig.states if s.phase == "running"]
    assert len(times) <= 10 / 0.25 + 5  # reported a few times a second, not at every chunk
    assert rig.states[-1].eta is None


async def test_the_file_s_bytes_are_written_off_the_event_loop_s_thread(tmp_path, monkeypatch):
    # (a write can wait on a busy disk for a long time: the loop, and polling, must not)
    import threading

    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(3_000_000)
    loop_thread = threading.get_ident()
    writers: list[int] = []
    real_write = os.write

    def recording_write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            writers.append(threading.get_ident())
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    await rig.download((job_id, url))
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert writers and loop_thread not in writers


def held_writes(monkeypatch) -> tuple[threading.Event, list[int]]:
    """The part writer's writes held until the event is set (a slow disk); the list counts those begun."""
    from tui.core import downloads

    disk, begun, real = threading.Event(), [], downloads._write_all

    def held(fd, chunks, hasher):
        begun.append(len(begun))
        disk.wait()
        real(fd, chunks, hasher)

    monkeypatch.setattr(downloads, "_write_all", held)
    return disk, begun


def part_writer(tmp_path: Path) -> PartWriter:
    return PartWriter(os.open(tmp_path / "x.part", os.O_WRONLY | os.O_CREAT, 0o644), hashlib.sha256(), 0)


async def test_the_loop_hands_batches_to_the_part_s_writer_and_waits_only_when_more_than_two_are_unwritten(tmp_path, monkeypatch):
    # (a batch is received while the ones before it are hashed and written: the loop does not stop
    # reading for each write to end, and memory stays bounded by the batches handed over)
    gate, _ = held_writes(monkeypatch)
    writer = part_writer(tmp_path)
    try:
        await writer.put([b"a" * 10])
        await writer.put([b"b" * 10])  # two unwritten: the loop goes on
        third = asyncio.ensure_future(writer.put([b"c" * 10]))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not third.done(), "a third batch waits for the first to be written"
        gate.set()
        await third
        await writer.settle()
    finally:
        gate.set()
        writer.close()  # (the descriptor too)
    assert (tmp_path / "x.part").read_bytes() == b"a" * 10 + b"b" * 10 + b"c" * 10
    assert writer.hashed == 30 and writer.hasher.hexdigest() == hashlib.sha256(b"a" * 10 + b"b" * 10 + b"c" * 10).hexdigest()


async def test_a_write_that_fails_stops_the_ones_after_it_and_the_part_stays_a_prefix(tmp_path, monkeypatch):
    from tui.core import downloads

    calls = []
    real = downloads._write_all

    def full_disk_on_the_second(fd, chunks, hasher):
        calls.append(len(calls))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(fd, chunks, hasher)

    monkeypatch.setattr(downloads, "_write_all", full_disk_on_the_second)
    writer = part_writer(tmp_path)
    try:
        for batch in (b"a" * 10, b"b" * 10, b"c" * 10):
            await writer.put([batch])
        with pytest.raises(OSError, match="No space"):
            await writer.settle()
    finally:
        writer.close()  # (the descriptor too)
    assert calls == [0, 1], "the batch after the failed one is not written"
    assert (tmp_path / "x.part").read_bytes() == b"a" * 10
    assert writer.hashed == -1  # (hashed again from the part if resumed)


async def test_over_loopback_a_download_reads_its_socket_in_large_pieces(tmp_path, monkeypatch):
    # (httpcore asks for 64 KiB a read; a download asks for up to READ_BYTES, which costs the loop
    # a quarter of the reads and anyio's copies of what each cut leaves: see tui/core/download_http.py)
    import httpcore

    from tui.core import download_http
    from tui.simulator.server import serve

    asked: list[int] = []

    class Recording(httpcore.AsyncNetworkStream):
        def __init__(self, inner):
            self.inner = inner

        async def read(self, max_bytes, timeout=None):
            asked.append(max_bytes)
            return await self.inner.read(max_bytes, timeout)

        async def write(self, buffer, timeout=None):
            await self.inner.write(buffer, timeout)

        async def aclose(self):
            await self.inner.aclose()

        def get_extra_info(self, info):
            return self.inner.get_extra_info(info)

    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self, *args, **kwargs):
        return Recording(await real_connect(self, *args, **kwargs))

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    size = 3 * 1024 * 1024
    rig = Rig(tmp_path, transport=None)  # the manager's own transport, to the loopback server
    async with serve(rig.sim, serve_results=True):
        job_id = rig.sim.create_job(fate=JOB_SUCCESS, init_seconds=0, run_seconds=0)
        rig.sim.results.set_size(job_id, size)
        rig.poller.add(job_id)
        await rig.poller.poll_job(job_id)
        await rig.download((job_id, rig.poller.records[job_id].result_video_url))
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == rig.content(job_id)
    assert asked and min(asked) >= download_http.READ_BYTES


async def test_a_download_stopped_while_the_disk_is_behind_leaves_a_part_that_resumes_to_the_right_file(tmp_path, monkeypatch):
    # The loop waits for the writer thread once two batches are unwritten; quitting then cancels
    # that wait. The batch it had handed over must not be handed over again (the part would hold
    # it twice, and a resume would splice from the wrong place: a whole file of the wrong bytes).
    from tui.core import downloads

    disk, writes = held_writes(monkeypatch)  # a slow disk: nothing is written until it is set
    rig = Rig(tmp_path)
    job_id, url = await rig.finished_job(6 * 1024 * 1024)
    runner = asyncio.create_task(rig.manager.run())
    rig.manager.request(job_id, url)
    for _ in range(2000):  # until the loop waits on the writer (three batches handed over, one in the thread)
        await asyncio.sleep(0)
        state = rig.manager.state(job_id)
        if writes and state is not None and state.received >= 3 * downloads.WRITE_BUFFER:
            break
    assert writes, "the writer thread has the first batch"
    closing = asyncio.create_task(rig.manager.close())  # quitting
    for _ in range(20):
        await asyncio.sleep(0)
    disk.set()
    await closing
    await runner
    data = rig.content(job_id)
    [part] = [p for p in rig.directory.iterdir() if p.name.endswith(".part")]
    kept = part.read_bytes()
    assert 0 < len(kept) < len(data) and kept == data[:len(kept)], "the part is a prefix of the file"
    rig.manager = rig.make_manager()
    await rig.download((job_id, url))
    assert (rig.directory / f"{job_id}.mp4").read_bytes() == data
    assert rig.manager.state(job_id).sha256 == hashlib.sha256(data).hexdigest()


async def test_a_writer_cancelled_twice_still_waits_for_every_write_it_handed_over(tmp_path, monkeypatch):
    # (its descriptor is closed after them; a write after it would go to whatever file took the number)
    disk, _ = held_writes(monkeypatch)
    writer = part_writer(tmp_path)
    for batch in (b"a" * 10, b"b" * 10):
        await writer.put([batch])
    settling = asyncio.ensure_future(writer.settle())
    await asyncio.sleep(0)
    settling.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    settling.cancel()  # (a second Ctrl-C)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not settling.done(), "it waits for the thread, through both cancels"
    disk.set()
    with pytest.raises(asyncio.CancelledError):
        await settling
    writer.close()
    assert writer.hashed == 20
    assert (tmp_path / "x.part").read_bytes() == b"a" * 10 + b"b" * 10
