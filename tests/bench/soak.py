"""The soak: the real monitor left polling 300 running jobs at the default pace, watched for growth and CPU.

`PYTHONPATH=. python -m tests.bench --only soak [--minutes 60] [--trace] [--profile]`, or alone:
`PYTHONPATH=. python -m tests.bench.soak [--minutes 60] [--trace] [--profile]`.

The simulator runs in a process of its own (tests/bench/simproc.py: 300 jobs that stay
JobRunning for the whole run, strict quota, loopback). The monitor runs in another: the App
of `create_app`, with its watchlist file, its engine and its 1-second tick, exactly as
`vclm-watch` builds it, on a driver that is a terminal in every way but where the bytes go
(they are encoded as for a real terminal, counted and dropped). Every `--every` seconds the
monitor process writes one sample (RSS, CPU time, requests sent, bytes drawn); the figures
are taken after the warm-up (the first 5 minutes, or half of a shorter run).

`--trace` starts tracemalloc after the warm-up and lists what grew most by the end, with the
live objects by type; `--profile` runs cProfile (timed by CPU time, not wall time) over the same
span, and with SOAK_PSTATS=FILE also dumps the whole profile there for `pstats`. Both slow the monitor down
(so much that it polls less) and tracemalloc's own bookkeeping counts in RSS: with either, the
RSS and CPU figures are not the monitor's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.drivers.headless_driver import HeadlessDriver

from tests.bench.simproc import REPO, SimProcess, _env
from tests.bench.suite import Row, Section, _rss, _top

JOBS = 300
RATE = 19.0
SIZE = (160, 50)  # wide enough for the detail pane beside the table: the most the monitor draws
RSS_GROWTH_TARGET = 5.0  # MB after the warm-up, over an hour
CPU_TARGET = 0.08  # share of one core


class TerminalSink(HeadlessDriver):
    """A terminal that is not there: the App renders and encodes every frame as for a real
    one (a headless driver skips that), and the bytes are counted, then dropped."""

    bytes_written = 0

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        TerminalSink.bytes_written += len(data)

    def flush(self) -> None:
        pass


# -- the monitor process --------------------------------------------------------------------------


async def _monitor(url: str, ids: list[str], seconds: float, every: float, warmup: float, size: tuple[int, int],
                   trace: bool, profile: bool, out) -> None:
    from tui.api.client import resolve_endpoint
    from tui.api.credentials import Credentials
    from tui.core.jobstate import JobRecord
    from tui.core.settings import default_settings
    from tui.core.watchlist import WatchlistStore
    from tui.monitor.launch import create_app
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

    def emit(kind: str, **fields: Any) -> None:
        out.write(json.dumps({"kind": kind, **fields}) + "\n")
        out.flush()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "watchlist.toml"
        store = WatchlistStore(path)
        added = time.time()
        store.update(lambda _old: [JobRecord(job_id=job_id, added_at=added) for job_id in ids])
        settings = replace(default_settings(path), endpoint=resolve_endpoint(url, "ap-guangzhou"))
        credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="soak")
        app = create_app(settings, credentials=credentials, store=store)
        app.driver_class = TerminalSink

        async def drive(_pilot) -> None:
            t0 = time.monotonic()
            profiler: cProfile.Profile | None = None
            first = None
            k = 0
            try:
                while True:
                    now = time.monotonic()
                    sample = {"t": now - t0, "rss": _rss(), "cpu": time.process_time(),
                              "requests": app.setup.client.requests_sent if app.setup.client else 0,
                              "bytes": TerminalSink.bytes_written, "jobs": len(app.poller.records),
                              "polled": sum(1 for r in app.poller.records.values() if r.poll_count)}
                    emit("sample", **sample)
                    if now - t0 >= seconds:
                        break
                    if first is None and now - t0 >= warmup:
                        first = sample
                        if trace:
                            types_before = _object_counts()
                            tracemalloc.start(4)
                            baseline = tracemalloc.take_snapshot()
                        if profile:
                            profiler = cProfile.Profile(time.process_time)  # CPU time: waits for a core do not count
                            profiler.enable()
                    k += 1
                    await asyncio.sleep(max(0.0, t0 + k * every - time.monotonic()))
            finally:
                if profiler is not None:
                    profiler.disable()
                    if os.environ.get("SOAK_PSTATS"):  # the whole profile, for pstats
                        profiler.dump_stats(os.environ["SOAK_PSTATS"])
                    emit("profile", tottime=_top(profiler, 30, "tottime"), cumulative=_top(profiler, 30, "cumulative"))
                if trace and tracemalloc.is_tracing():
                    snapshot = tracemalloc.take_snapshot()
                    noise = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
                    stats = snapshot.filter_traces(noise).compare_to(baseline.filter_traces(noise), "traceback")
                    top = []
                    for stat in stats[:12]:
                        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[:6]]
                        top.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  " + " < ".join(frames))
                    tracemalloc.stop()
                    counts = _object_counts()
                    grown = sorted(((counts[k] - types_before.get(k, 0), k) for k in counts), reverse=True)[:12]
                    emit("trace", top=top, types=[f"{n:+8d} {name}" for n, name in grown if n > 0])
                app.exit(0)

        await app.run_async(size=size, auto_pilot=drive)


def _object_counts() -> dict[str, int]:
    """Live objects the collector tracks, by type: what piles up shows here even when small."""
    gc.collect()
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        counts[name] = counts.get(name, 0) + 1
    return counts


def monitor_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak --monitor")
    parser.add_argument("url")
    parser.add_argument("ids_file")
    parser.add_argument("seconds", type=float)
    parser.add_argument("every", type=float)
    parser.add_argument("warmup", type=float)
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    with open(args.ids_file, encoding="utf-8") as handle:
        ids = json.load(handle)
    width, height = (int(x) for x in args.size.split("x"))
    # Textual takes over stdout while the App runs: the samples go to a copy of it
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    asyncio.run(_monitor(args.url, ids, args.seconds, args.every, args.warmup, (width, height),
                         args.trace, args.profile, out))


# -- the driver (the benchmark's own process) ------------------------------------------------------


def soak(minutes: float, *, every: float = 30.0, warmup_minutes: float = 5.0, trace: bool = False,
         profile: bool = False, size: tuple[int, int] = SIZE, jobs: int = JOBS, progress=None) -> Section:
    seconds = minutes * 60
    warmup = min(warmup_minutes * 60, seconds / 2)
    section = Section(f"Soak: the monitor polling {jobs} running jobs at {RATE:g} req/s for {minutes:g} min")
    samples: list[dict[str, Any]] = []
    extras: dict[str, Any] = {}
    with SimProcess(running=jobs, no_log=True) as sim:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(sim.running, handle)
        argv = [sys.executable, "-m", "tests.bench.soak", "--monitor", sim.url, handle.name, str(seconds), str(every),
                str(warmup), "--size", f"{size[0]}x{size[1]}"] + (["--trace"] if trace else []) + (
            ["--profile"] if profile else [])
        before = sim.stats()
        try:
            proc = subprocess.Popen(argv, cwd=REPO, env=_env(), stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                item = json.loads(line)
                kind = item.pop("kind")
                if kind == "sample":
                    samples.append(item)
                    if progress is not None:
                        progress(f"  {item['t'] / 60:5.1f} min  RSS {item['rss'] / 1e6:6.1f} MB  "
                                 f"CPU {item['cpu']:7.1f} s  requests {item['requests']}")
                else:
                    extras[kind] = item
            proc.wait()
        finally:
            os.unlink(handle.name)
        after = sim.stats()
    if proc.returncode != 0 or len(samples) < 3:
        section.rows.append(Row("soak run", f"failed (exit {proc.returncode}, {len(samples)} samples)"))
        return section
    start = next(s for s in samples if s["t"] >= warmup - 1e-6)
    end = samples[-1]
    span = end["t"] - start["t"]
    growth = (end["rss"] - start["rss"]) / 1e6
    steady = [s for s in samples if s["t"] >= start["t"]]
    slope = _slope([(s["t"] / 60, s["rss"] / 1e6) for s in steady])  # MB per minute, least squares
    cpu = (end["cpu"] - start["cpu"]) / span
    rate = (end["requests"] - start["requests"]) / span
    refused = after["rate_limited"] - before["rate_limited"]
    hour_left = max(0.0, 55.0 - span / 60)
    slowed = " (under tracemalloc/cProfile: not the monitor's own)" if trace or profile else ""
    section.rows += [
        Row("RSS at the end of the warm-up → at the end", f"{start['rss'] / 1e6:.1f} → {end['rss'] / 1e6:.1f} MB"),
        Row(f"RSS growth after the first {warmup / 60:g} min", f"{growth:+.1f} MB in {span / 60:.0f} min "
            f"({slope:+.3f} MB/min fitted){slowed}", target=f"≤ {RSS_GROWTH_TARGET:g} MB over an hour",
            met=growth + slope * hour_left <= RSS_GROWTH_TARGET if not (trace or profile) else None),
        Row("CPU after the warm-up (process time over wall time)", f"{cpu:.1%} of a core{slowed}",
            target=f"≤ {CPU_TARGET:.0%}", met=cpu <= CPU_TARGET if not (trace or profile) else None),
        Row("requests per second sent (after the warm-up)", f"{rate:.2f}", target=f"≈ {RATE:g}"),
        Row("RequestLimitExceeded at the simulator (whole run)", str(refused), target="0", met=refused == 0),
        Row("bytes drawn to the terminal per second", f"{(end['bytes'] - start['bytes']) / span / 1e3:.1f} kB"),
    ]
    if span / 60 < 55:
        section.notes.append(f"a {minutes:g}-minute run: 'met' for RSS projects the fitted slope over the rest of "
                             "the hour (the target is for a one-hour run)")
    section.notes.append(f"{jobs} jobs that stay JobRunning, {size[0]}x{size[1]} terminal, samples every {every:g} s; "
                         f"simulator on loopback in its own process, quota 20 per sliding second")
    section.notes.append("RSS per sample (MB): " + " ".join(f"{s['rss'] / 1e6:.1f}" for s in samples))
    section.notes.append("CPU per interval (% of a core): " + " ".join(
        f"{(b['cpu'] - a['cpu']) / (b['t'] - a['t']):.0%}" for a, b in zip(samples, samples[1:])))
    if "trace" in extras:
        section.notes.append("tracemalloc, what grew from the end of the warm-up to the end (top 12):\n```\n"
                             + "\n".join(extras["trace"]["top"]) + "\n```")
        section.notes.append("objects by type, what grew over the same span:\n```\n"
                             + "\n".join(extras["trace"]["types"]) + "\n```")
    if "profile" in extras:
        section.notes.append(f"cProfile after the warm-up (internal time):\n```\n{extras['profile']['tottime']}\n```")
        section.notes.append(f"cProfile after the warm-up (cumulative):\n```\n{extras['profile']['cumulative']}\n```")
    section.raw = {"samples": samples, "warmup": warmup, "growth_mb": growth, "slope_mb_per_min": slope, "cpu": cpu,
                   "rate": rate, "refused": refused, **extras}
    return section


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--monitor":
        monitor_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes left out of the figures")
    parser.add_argument("--trace", action="store_true", help="tracemalloc: what grew after the warm-up")
    parser.add_argument("--profile", action="store_true", help="cProfile of the monitor after the warm-up")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--json", help="also write every raw figure to this file")
    args = parser.parse_args(argv)
    width, height = (int(x) for x in args.size.split("x"))
    from tests.bench.__main__ import render

    section = soak(args.minutes, every=args.every, warmup_minutes=args.warmup, trace=args.trace,
                   profile=args.profile, size=(width, height), progress=lambda text: print(text, flush=True))
    print(render(section), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(section.raw, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
