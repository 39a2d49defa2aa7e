"""Benchmark: keeping results (tui/core/downloads.py) on loopback: throughput, memory, and polling alongside.

Run from the repository root:

    PYTHONPATH=. python -m tests.bench.downloads [--size-mb 200] [--rounds 3] [--rss-mb 1024] [--poll-seconds 20]

Three measures, each against the simulator in a process of its own (tests/bench/simproc.py,
serving result files on loopback):
- throughput: the same file fetched by a plain `httpx` stream written to a file, the same
  fsynced at the end (a durable copy, as ours is), and by `DownloadManager` (which also hashes
  it, fsyncs and renames it), in turn in the same run; the ratios of their median times. Goal:
  the manager at 90 % of the plain stream or better (judged against the fsynced one: a copy that
  is still in the page cache is not a saved file; the ratio to the unsynced one is reported too).
- memory: the growth of this process's resident set (VmRSS, sampled every 20 ms) while one
  1 GB file is downloaded. Goal: 20 MB or less.
- polling alongside: 1,000 unfinished jobs polled by the engine at the default 19.2 req/s (96 %
  of the quota of 20 per sliding second, counted by the server) while 20 downloads run in the same event
  loop (two managers of 10, each file trickled so that all 20 last the whole window, served by a
  second simulator process as an object store would be); the poll rate the API's server saw in
  that window, and in a window of polling alone just before. Goal: 95 % of the quota (19 polls a
  second) or better with the downloads running.
Not collected by pytest (tests/bench is excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.bench.simproc import SimProcess  # noqa: E402
from tui.api.client import VclmClient  # noqa: E402
from tui.api.credentials import Credentials  # noqa: E402
from tui.core.downloads import DownloadManager  # noqa: E402
from tui.core.engine import Poller  # noqa: E402
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY  # noqa: E402

CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="bench")
QUOTA = 20
MB = 1024 * 1024


async def result_urls(base_url: str, job_ids: list[str]) -> dict[str, str]:
    async with VclmClient(CREDENTIALS, "ap-guangzhou", base_url) as client:
        return {job_id: (await client.describe_job(job_id)).result_video_url for job_id in job_ids}


async def no_fresh_url(job_id: str) -> str | None:
    raise RuntimeError("the benchmark's URLs do not expire")


async def plain_stream(url: str, path: Path, *, fsync: bool = False) -> float:
    """A plain httpx stream written to a file (and fsynced, for the durable baseline)."""
    async with httpx.AsyncClient(timeout=60.0) as client:
        began = time.perf_counter()
        with open(path, "wb") as out:
            async with client.stream("GET", url) as response:
                async for chunk in response.aiter_raw():
                    out.write(chunk)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        return time.perf_counter() - began


async def managed(urls: dict[str, str], directory: Path, *, concurrency: int = 3) -> float:
    manager = DownloadManager(directory, fresh_url=no_fresh_url, concurrency=concurrency)
    runner = asyncio.create_task(manager.run())
    began = time.perf_counter()
    for job_id, url in urls.items():
        manager.request(job_id, url)
    await asyncio.sleep(0)
    await manager.wait_idle()
    elapsed = time.perf_counter() - began
    await manager.close()
    await runner
    failed = [s for s in manager.states() if s.phase != "done"]
    if failed:
        raise RuntimeError(f"downloads failed: {failed}")
    return elapsed


def throughput(size_mb: int, rounds: int) -> dict:
    with SimProcess(finished=1, results=True, result_size=size_mb * MB, no_log=True) as sim, \
            tempfile.TemporaryDirectory(prefix="bench-dl-") as work:
        urls = asyncio.run(result_urls(sim.url, sim.finished))
        (job_id, url), = urls.items()
        plain: list[float] = []
        durable: list[float] = []
        mine: list[float] = []

        def run_plain(fsync: bool) -> float:
            elapsed = asyncio.run(plain_stream(url, Path(work) / "plain.bin", fsync=fsync))
            (Path(work) / "plain.bin").unlink()
            return elapsed

        def run_mine() -> float:
            elapsed = asyncio.run(managed(urls, Path(work) / "videos"))
            shutil.rmtree(Path(work) / "videos")
            return elapsed

        takers = [(plain, lambda: run_plain(False)), (durable, lambda: run_plain(True)), (mine, run_mine)]
        for n in range(rounds):
            # in turn, each round starting one further along: the machine's moods fall on all three
            # alike, and so does what the run before leaves the disk to do (a 200 MB file just
            # deleted, pages still being written): in a fixed order that fell on the same one each
            # time, by up to 20 %
            for times, take in takers[n % 3:] + takers[:n % 3]:
                times.append(take())
    p, d, m = statistics.median(plain), statistics.median(durable), statistics.median(mine)
    return {"size_mb": size_mb, "rounds": rounds, "plain_s": [round(t, 3) for t in plain],
            "plain_fsync_s": [round(t, 3) for t in durable], "manager_s": [round(t, 3) for t in mine],
            "plain_mb_s": round(size_mb / p, 1), "plain_fsync_mb_s": round(size_mb / d, 1),
            "manager_mb_s": round(size_mb / m, 1), "ratio_to_plain": round(p / m, 3),
            "ratio_to_plain_fsync": round(d / m, 3), "goal": 0.9, "ok": d / m >= 0.9}


def vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory(size_mb: int) -> dict:
    with SimProcess(finished=1, results=True, result_size=size_mb * MB, no_log=True) as sim, \
            tempfile.TemporaryDirectory(prefix="bench-dl-") as work:
        urls = asyncio.run(result_urls(sim.url, sim.finished))

        async def measure() -> tuple[int, int, float]:
            import gc

            gc.collect()
            before = peak = vm_rss()
            download = asyncio.create_task(managed(urls, Path(work)))
            while not download.done():
                peak = max(peak, vm_rss())
                await asyncio.sleep(0.02)
            return before, peak, await download

        before, peak, elapsed = asyncio.run(measure())
    growth = peak - before
    return {"size_mb": size_mb, "rss_before_mb": round(before / MB, 1), "rss_peak_mb": round(peak / MB, 1),
            "growth_mb": round(growth / MB, 1), "seconds": round(elapsed, 2), "goal_mb": 20, "ok": growth <= 20 * MB}


def polling_alongside(seconds: float, jobs: int = 1000, downloads: int = 20, settle: float = 5.0) -> dict:
    file_mb = 48
    rate = file_mb * MB / (seconds * 1.5)  # each file lasts longer than the window
    # The API and the files from two processes, as the service and its object store are: the same
    # seed and jobs in both (so the same ids and URL signatures), the files served by the second.
    with SimProcess(running=jobs, finished=downloads, quota=QUOTA) as sim, \
            SimProcess(running=jobs, finished=downloads, results=True, result_size=file_mb * MB, result_rate=rate,
                       no_log=True) as store, tempfile.TemporaryDirectory(prefix="bench-dl-") as work:
        assert store.finished == sim.finished
        urls = asyncio.run(result_urls(store.url, store.finished))

        async def run() -> tuple[list[float], int, list[float], list[tuple[float, float]]]:
            # the client at its default pace, 19.2 req/s: 96 % of the quota (as the suite's throughput measure)
            async with VclmClient(CREDENTIALS, "ap-guangzhou", sim.url) as client:
                poller = Poller(client, min_interval=2.0)
                for job_id in sim.running:
                    poller.add(job_id)
                polling = asyncio.create_task(poller.run())
                lateness: list[tuple[float, float]] = []
                sleeper = asyncio.create_task(_sleeper(lateness))
                marks = [time.monotonic() + settle]
                await asyncio.sleep(settle)
                cpu = [time.process_time()]
                await asyncio.sleep(seconds)  # polling alone
                marks.append(time.monotonic())
                cpu.append(time.process_time())
                managers = [DownloadManager(Path(work) / f"m{i}", fresh_url=poller.fresh_url, concurrency=10)
                            for i in range(2)]
                runners = [asyncio.create_task(m.run()) for m in managers]
                for i, (job_id, url) in enumerate(urls.items()):
                    managers[i % 2].request(job_id, url)
                await asyncio.sleep(1.0)
                marks.append(time.monotonic())
                cpu.append(time.process_time())
                await asyncio.sleep(seconds)  # polling with 20 downloads
                marks.append(time.monotonic())
                cpu.append(time.process_time())
                sleeper.cancel()
                running = sum(m.totals().active for m in managers)
                for manager in managers:
                    await manager.close()
                await asyncio.gather(*runners)
                poller.stop()
                await polling
            return marks, running, cpu, lateness

        (alone, started, together, end), running, cpu, lateness = asyncio.run(run())
        stats = sim.stats()
    watched = set(sim.running)
    polls = [(at, outcome) for at, job_id, outcome in stats["log"] if job_id in watched]

    def rate_in(first: float, last: float) -> float:
        return sum(1 for t, _ in polls if first <= t < last) / (last - first)

    def refused_in(first: float, last: float) -> int:
        return sum(1 for t, outcome in polls if first <= t < last and "RequestLimitExceeded" in outcome)

    def late_in(first: float, last: float) -> str:
        late = sorted(lag for at, lag in lateness if first <= at < last) or [0.0]
        return f"p99 {late[int(len(late) * 0.99)] * 1000:.1f} / max {late[-1] * 1000:.1f} ms"

    together_rate = rate_in(together, end)
    return {"loop_lateness_alone": late_in(alone, started), "loop_lateness_with_downloads": late_in(together, end),
            "cpu_alone": round((cpu[1] - cpu[0]) / (started - alone), 3),
            "cpu_with_downloads": round((cpu[3] - cpu[2]) / (end - together), 3),
            "jobs": jobs, "downloads": downloads, "downloads_running_at_the_end": running,
            "window_s": round(end - together, 1), "poll_rate_alone": round(rate_in(alone, started), 2),
            "poll_rate_with_downloads": round(together_rate, 2), "quota": QUOTA,
            "of_quota": round(together_rate / QUOTA, 3), "refused_alone": refused_in(alone, started),
            "refused_with_downloads": refused_in(together, end), "goal": 0.95,
            "ok": together_rate >= 0.95 * QUOTA}


async def _sleeper(lateness: list[tuple[float, float]], every: float = 0.01) -> None:
    """How late a sleeper on the event loop wakes (what a busy loop costs everything else on it)."""
    while True:
        began = time.monotonic()
        await asyncio.sleep(every)
        woke = time.monotonic()
        lateness.append((woke, woke - began - every))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.downloads")
    parser.add_argument("--size-mb", type=int, default=200, help="file size for the throughput measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-mb", type=int, default=1024, help="file size for the memory measure")
    parser.add_argument("--poll-seconds", type=float, default=20.0, help="the window polled with 20 downloads")
    parser.add_argument("--only", choices=("throughput", "memory", "polling"))
    args = parser.parse_args()
    measures = {"memory": lambda: memory(args.rss_mb),  # (first: before anything else grew this process)
                "throughput": lambda: throughput(args.size_mb, args.rounds),
                "polling": lambda: polling_alongside(args.poll_seconds)}
    for name, measure in measures.items():
        if args.only in (None, name):
            print(json.dumps({"measure": name, **measure()}), flush=True)


if __name__ == "__main__":
    main()
