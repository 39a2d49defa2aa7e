"""Bytes the real monitor writes to a real terminal: `python -m tests.bench.terminal_bytes [--size 80x24]`.

Runs `vclm-watch` (as the shell starts it: `python -m tui.cli`) in a pseudo-terminal
(TERM=xterm-256color, the window size set with TIOCSWINSZ) against the loopback simulator in a
process of its own, lets it warm up, then counts the bytes read from the pty master and
reports KB/s, for two watchlists of 20 jobs:
- A, "finished": 20 JobSuccess jobs with their result URLs; nothing is polled;
- B, "running": 20 jobs that stay JobRunning, polled every 2 s (the default `min_interval`).
Prints one markdown table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

from tests.bench.simproc import REPO, SimProcess, _env
from tests.bench.suite import Row, Section

JOBS = 20
TARGETS = {"finished": 1.0, "running": 4.0}  # KB/s at 80x24 (issue 13); twice that at 160x45
SIZES = ((80, 24), (160, 45))


def _watchlist(path: Path, ids: list[str], finished: bool) -> None:
    from tui.core.jobstate import JobRecord, Transition
    from tui.core.watchlist import WatchlistStore

    now = time.time()
    records = []
    for i, job_id in enumerate(ids):
        record = JobRecord(job_id=job_id, label=f"clip-{i:02d}", added_at=now - 600)
        if finished:
            record.status_code = "JobSuccess"
            record.status_msg = "处理完成"
            record.state_since = record.last_change = now - 300 + i
            record.last_polled = now - 300 + i
            record.poll_count = 12
            record.result_video_url = f"https://vclm-result.example.invalid/stylized/{job_id}.mp4?sign=0123456789abcdef"
            record.url_received_at = now - 300 + i
            record.history = [Transition(now - 500, None, "JobRunning"), Transition(now - 300 + i, "JobRunning", "JobSuccess")]
        records.append(record)
    WatchlistStore(path).save(records)  # ids and labels in the file, the states in the job database


def measure(scenario: str, size: tuple[int, int], warmup: float, seconds: float,
            dump: str | None = None, overview: bool = False) -> dict[str, Any]:
    """Bytes per second the monitor writes to its pty over `seconds`, after `warmup` (`overview`:
    with the overview screen open, its key typed halfway through the warm-up)."""
    finished = scenario == "finished"
    with SimProcess(running=0 if finished else JOBS, finished=JOBS if finished else 0, no_log=True) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        watchlist = home / "watchlist.toml"
        config = home / "config.toml"
        config.write_text("", encoding="utf-8")
        _watchlist(watchlist, sim.finished if finished else sim.running, finished)
        env = _env()
        env.update({
            "TERM": "xterm-256color", "COLORTERM": "truecolor", "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "TENCENTCLOUD_SECRET_ID": "AKIDsimulator0000000000000000000000",
            "TENCENTCLOUD_SECRET_KEY": "simulator-secret-key-00000000000",
        })
        for name in ("NO_COLOR", "TEXTUAL", "TENCENTCLOUD_TOKEN", "TENCENTCLOUD_REGION"):
            env.pop(name, None)
        argv = [sys.executable, "-m", "tui.cli", "--endpoint", sim.url, "--watchlist", str(watchlist),
                "--config", str(config)]
        pid, master = pty.fork()
        if pid == 0:  # the child: the monitor, on the pty's slave side
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
                os.chdir(REPO)
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        total = 0
        counted = 0
        cpu_start: float | None = None
        t0 = time.monotonic()
        key_at = t0 + warmup / 2 if overview else None
        start = t0 + warmup
        end = start + seconds
        try:
            while True:
                now = time.monotonic()
                if now >= end:
                    break
                if key_at is not None and now >= key_at:
                    os.write(master, b"o")
                    key_at = None
                if cpu_start is None and now >= start:
                    cpu_start = _cpu_seconds(pid)
                    counted = total
                ready, _, _ = select.select([master], [], [], min(0.2, max(0.0, end - now)))
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    total += len(data)
                    if dump:
                        with open(dump, "ab") as handle:
                            handle.write(b"\n@@%.3f@@\n" % (now - t0) + data)
            cpu_end = _cpu_seconds(pid)
            span = time.monotonic() - start
        finally:
            try:
                os.write(master, b"q")
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    if select.select([master], [], [], 0.1)[0]:
                        try:
                            os.read(master, 65536)
                        except OSError:
                            pass
                else:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
            finally:
                os.close(master)
    counted = total - counted
    return {"scenario": scenario, "size": f"{size[0]}x{size[1]}", "overview": overview, "seconds": span, "bytes": counted,
            "kb_per_s": counted / span / 1000, "cpu": (cpu_end - (cpu_start or 0.0)) / span}


def _cpu_seconds(pid: int) -> float:
    """User + system time of the monitor process so far (Linux /proc), or 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def terminal_bytes(sizes=SIZES, scenarios=("finished", "running"), warmup: float = 5.0,
                   seconds: float = 25.0, dump: str | None = None, overview: bool = False) -> Section:
    section = Section("Bytes written to a terminal (the real monitor in a pty, 20 jobs)")
    results = []
    for width, height in sizes:
        factor = 1.0 if (width, height) == (80, 24) else 2.0
        for scenario in scenarios:
            result = measure(scenario, (width, height), warmup, seconds,
                             f"{dump}.{scenario}.{width}x{height}" if dump else None, overview)
            results.append(result)
            target = TARGETS[scenario] * factor
            what = "20 finished jobs, nothing polled" if scenario == "finished" else "20 running jobs polled every 2 s"
            section.rows.append(Row(f"{width}x{height}, {what}: KB/s (CPU)",
                                    f"{result['kb_per_s']:.2f} ({result['cpu']:.1%} of a core)",
                                    target=f"≤ {target:g} KB/s", met=result["kb_per_s"] <= target))
    section.notes.append(f"`vclm-watch` in a pseudo-terminal, TERM=xterm-256color; {warmup:g} s warm-up, then "
                         f"{seconds:g} s counted; simulator on loopback in its own process")
    section.raw = {"results": results}
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.terminal_bytes", description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT (repeatable; default 80x24 and 160x45)")
    parser.add_argument("--scenario", action="append", choices=("finished", "running"))
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--overview", action="store_true", help="measure with the overview screen (o) open")
    parser.add_argument("--dump", help="also append the raw bytes to DUMP.SCENARIO.WxH (to look at them)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.size] if args.size else SIZES
    from tests.bench.__main__ import render

    section = terminal_bytes(sizes, tuple(args.scenario or ("finished", "running")), args.warmup, args.seconds,
                             args.dump, args.overview)
    print(render(section), flush=True)
    print(json.dumps(section.raw["results"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
