"""The monitor's UI with 10,000 jobs, headless: `python -m tests.bench.ui_scale [N] [--overview]` prints one JSON line
(`--overview`: measured with the overview screen open).

Run in a process of its own so that its RSS is the monitor's alone. The engine is not started
(no credentials: nothing is polled); engine updates are published to the app the way the
engine publishes them, 20 at a time (one second at the quota), and each batch is drawn the
way the app's flush timer draws it, then its frame is composed and encoded for a terminal at
once (what the screen's update timer does next; the bytes are counted and dropped): that is
"a batch including its frame". The wall time of a Pilot pause after it is reported beside it;
that includes Textual's test-harness idle wait (it sleeps 20 ms at least), not the monitor's work.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.soak import TerminalSink
from tests.bench.suite import _records, _rss, _top
from tui.core.events import JobUpdated
from tui.core.settings import default_settings
from tui.monitor.launch import create_app

SIZE = (160, 50)


async def measure(n: int, batches: int, idle_seconds: float, profile: bool = False, overview: bool = False) -> dict:
    rss_before = _rss()
    records = _records(n)
    with tempfile.TemporaryDirectory() as tmp:
        settings = default_settings(Path(tmp) / "watchlist.toml")
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        app = create_app(settings, store=None, records=records, start_engine=False, cursor_blink=False)
        app.driver_class = TerminalSink  # frames encoded as for a terminal (a headless run skips that)
        async with app.run_test(size=SIZE, headless=False) as pilot:
            await pilot.pause()
            first_paint = time.perf_counter() - t0
            first_paint_cpu = time.process_time() - cpu0
            rows = app.table.row_count
            while True:  # work Textual defers past the first frame, until a pause is quick
                w0 = time.perf_counter()
                await pilot.pause(0.05)
                if time.perf_counter() - w0 < 0.1 or time.perf_counter() - t0 > 60:
                    break
            settled = time.perf_counter() - t0
            rss = _rss()
            if overview:  # the overview screen (o) open over the table for the rest of the run
                await pilot.press("o")
                await pilot.pause(0.5)
            # Idle first, as the issue measures it: nothing polled (the jobs were last polled ten
            # minutes ago, so their times move once a minute), only the 1-second tick running.
            await pilot.pause(1.5)  # let the pending flush timers and a tick run out
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(idle_seconds)
            idle_cpu = (time.process_time() - c0) / (time.perf_counter() - w0)
            active = [r for r in records if not r.terminal]
            walls, cpus, draws, framed = [], [], [], []
            for k in range(batches):
                batch = active[(k * 20) % len(active):][:20]
                now = time.time()
                for record in batch:
                    record.poll_count += 1
                    record.last_polled = now
                    record.last_request_id = f"{k:08x}-0000-4000-8000-{record.job_id[:12]}"
                    app.poller._publish(JobUpdated(record))  # the engine's own way of telling the app
                w0, c0 = time.perf_counter(), time.process_time()
                app.draw_changes()  # what the flush timer runs 0.1 s after the first of a burst
                draws.append(time.perf_counter() - w0)
                app.screen._on_timer_update()  # ...and the frame it causes, composed and written now
                framed.append(time.perf_counter() - w0)
                await pilot.pause()  # (Textual's idle wait: a 1 s tick may run in it too)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            w0 = time.perf_counter()
            app.tick_now()  # the once-a-second redraw of relative times, saves and syncs
            tick = time.perf_counter() - w0
            profiles = {}
            if profile:
                for record in active[:20]:
                    record.poll_count += 1
                    app.poller._publish(JobUpdated(record))
                for what, action in (("draw", app.draw_changes), ("tick", app.tick_now)):
                    prof = cProfile.Profile()
                    prof.runcall(action)
                    profiles[f"profile_{what}"] = _top(prof, 12, "tottime")
                prof = cProfile.Profile()
                prof.enable()
                await pilot.pause()  # the frame for all that
                prof.disable()
                profiles["profile_frame"] = _top(prof, 12, "tottime")
    return {"jobs": n, "rows": rows, "first_paint": first_paint, "first_paint_cpu": first_paint_cpu, "settled": settled,
            "rss": rss, "rss_growth": rss - rss_before, "batch_wall": walls, "batch_cpu": cpus,
            "batch_draw": draws, "batch_with_frame": framed, "tick": tick, **profiles,
            "idle_cpu": idle_cpu, "idle_seconds": idle_seconds, "overview": overview}


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in ("--profile", "--overview")]
    n = int(args[0]) if len(args) > 0 else 10_000
    batches = int(args[1]) if len(args) > 1 else 12
    idle = float(args[2]) if len(args) > 2 else 5.0
    print(json.dumps(asyncio.run(measure(n, batches, idle, "--profile" in sys.argv, "--overview" in sys.argv))),
          flush=True)


if __name__ == "__main__":
    main()
