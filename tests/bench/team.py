"""Benchmark: team mode. Monitors and `check --wait` processes on one account, one quota, side by side
with the same processes each on its own (`--solo`, how every vclm-watch polled before team mode).

Run from the repository root:

    PYTHONPATH=. python -m tests.bench.team [--seconds 40] [--jobs 1000] [--monitors 2] [--checks 2]
        [--modes solo,team] [--shared URL] [--homes same|separate] [--json FILE]

Each mode gets a fresh simulator process (tests/bench/simproc.py: a strict quota of 20 requests
per sliding second per SecretId, counted at arrival, and 50 ± 20 ms of latency) with `--jobs`
jobs that stay JobRunning, and the same processes: `--monitors` monitors (tests/bench/monitor.py,
building their team as the monitor does) and `--checks` `vclm-watch check --wait --json -`
reading every id, all on the same account for `--seconds`. `solo` runs them all with --solo;
`team` with nothing (every process of one machine shares through the data directory), or with
`--shared URL` (a Redis/Valkey server). `--homes separate` gives every process its own HOME and
data directory, as on separate machines: then only --shared can join them.

Reported per mode, from the server's own log: the combined rate of accepted requests after the
first `--settle` seconds (% of the quota), RequestLimitExceeded answers, the busiest sliding
second, and the most requests any job got against the bound run ÷ min_interval + 1.
Not collected by pytest (tests/bench is excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bench.simproc import SimProcess
from tests.bench.suite import FRESHNESS_LATENCY, is_rate_limited, max_in_window, slice_log
from tui.core.team import shown_url
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

QUOTA = 20
MIN_INTERVAL = 2.0  # the config's default: what every process here polls with
LAUNCH_LEAD = 4.0  # seconds from launching the processes to the common start (imports, loading 1,000 ids)
# Every process runs this long past the measured `--seconds`: the measure is of processes polling,
# not of them stopping (one that ends cancels its requests in flight and gives up the team's place
# it had booked, and a `check --wait` started early ends as early: the window's last second lost
# 2 to 4 requests that way).
TAIL = 1.0


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
                XDG_DATA_HOME=str(home / "data"), TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
                TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY)


def _launch(argv: list[str], home: Path, name: Path, stdin: Any) -> tuple[subprocess.Popen[str], Path, Path]:
    """Starts a process whose output goes to files. (Not pipes: read one process at a time, the
    pipe of a `check --wait` printing its rows fills in about 15 s, and its writes then block it
    until the process before it ends; so stopped, it leaves the team's places it booked empty.)"""
    out_path, err_path = name.with_suffix(".out"), name.with_suffix(".err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(argv, cwd=REPO, env=_env(home), stdin=stdin, stdout=out, stderr=err, text=True)
    return process, out_path, err_path


def run_mode(mode: str, *, seconds: float, settle: float, jobs: int, monitors: int, checks: int,
             shared: str | None, homes: str) -> dict[str, Any]:
    team_options = ["--solo"] if mode == "solo" else (["--shared", shared] if shared else [])
    latency, jitter = FRESHNESS_LATENCY
    with SimProcess(running=jobs, latency=latency, jitter=jitter, quota=QUOTA, window=1.0) as sim, \
            tempfile.TemporaryDirectory(prefix=f"bench-team-{mode}-") as tmp:
        base = Path(tmp)
        ids_file = base / "ids.json"
        ids_file.write_text(json.dumps(sim.running))

        def home(n: int) -> Path:
            path = base / (f"home{n}" if homes == "separate" else "home")
            path.mkdir(exist_ok=True)
            return path

        start = time.monotonic() + LAUNCH_LEAD
        procs = []
        for n in range(monitors):
            argv = [sys.executable, "-m", "tests.bench.monitor", sim.url, str(ids_file), str(seconds + TAIL), str(start),
                    "--team", *team_options]
            procs.append(("monitor", _launch(argv, home(n), base / f"monitor{n}", subprocess.DEVNULL)))
        time.sleep(max(0.0, start - time.monotonic() - 1.5))  # check starts polling as soon as it has read its ids
        ids_lines = base / "ids.txt"
        ids_lines.write_text("\n".join(sim.running) + "\n")
        for n in range(checks):
            argv = [sys.executable, "-m", "tui", "check", "--wait", "--json", "--endpoint", sim.url,
                    "--timeout", f"{start + seconds + TAIL - time.monotonic():.2f}", *team_options, "-"]
            with ids_lines.open() as ids_in:  # (a file: every check reads its ids at once, none waits for another)
                procs.append(("check", _launch(argv, home(monitors + n), base / f"check{n}", ids_in)))
        outputs = []
        for kind, (process, out_path, err_path) in procs:
            process.wait(timeout=seconds + 120)
            outputs.append((kind, process.returncode, out_path.read_text(), err_path.read_text()))
        stats = sim.stats()
    monitors_out = [json.loads(out.splitlines()[-1]) for kind, code, out, _err in outputs if kind == "monitor" and out.strip()]
    check_rows = [[json.loads(line) for line in out.splitlines() if line.strip()] for kind, _c, out, _e in outputs
                  if kind == "check"]
    t0 = start
    t_end = start + seconds
    log = slice_log(stats["log"], t0 - LAUNCH_LEAD, t_end + TAIL + 1.0)
    late = [e for e in log if t0 + settle <= e[0] < t_end]
    late_ok = [e for e in late if not is_rate_limited(e[2])]
    asked = Counter(e[1] for e in log if e[1])
    run = (max(e[0] for e in log) - min(e[0] for e in log)) if log else 0.0
    sources = Counter(str(row.get("Source")) for rows in check_rows for row in rows if "Event" not in row)
    check_errors = Counter(row["Error"]["Code"] for rows in check_rows for row in rows if "Event" not in row and row.get("Error"))
    arrivals = sorted(e[0] for e in log)
    busiest_gaps: list[float] = []
    for i in range(len(arrivals) - QUOTA):  # the gaps between the arrivals of a second with more than the quota
        if arrivals[i + QUOTA] - arrivals[i] < 1.0:
            busiest_gaps = [round((b - a) * 1000) for a, b in zip(arrivals[i:i + QUOTA + 1], arrivals[i + 1:i + QUOTA + 1])]
            busiest_gaps.insert(0, round(arrivals[i] - t0, 2))
            break
    times = sorted(e[0] for e in late)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {
        "long_gaps": [round(g * 1000) for g in gaps if g > 0.08],
        "over_quota_second": busiest_gaps,  # (when it began, from the start; then the gaps in ms)
        "mode": mode + (f" ({shown_url(shared)})" if shared and mode != "solo" else ""),
        "combined": len(late_ok) / (t_end - t0 - settle),
        "per_second": [sum(1 for e in late_ok if int(e[0] - t0) == s) for s in range(int(settle), int(t_end - t0))],
        "refused": sum(1 for e in log if is_rate_limited(e[2])),
        "refused_after_settle": len(late) - len(late_ok),
        "busiest_second": max_in_window([e[0] for e in log]),
        "requests": len(log),
        "max_per_job": max(asked.values(), default=0),
        "bound_per_job": run / MIN_INTERVAL + 1,
        "run": run,
        "check_rows_by_source": dict(sources),
        "check_errors": dict(check_errors),
        "check_rows_shared": f"{sources['shared']}/{sum(sources.values())}",
        "monitors": [m.get("team") for m in monitors_out],
        "exits": [(kind, code) for kind, code, _o, _e in outputs],
        "stderr": [err.strip()[-300:] for _k, _c, _o, err in outputs if err.strip()],
        "fallbacks": sum(err.count("unusable") for _k, _c, _o, err in outputs),
    }


def report(results: list[dict[str, Any]], settle: float) -> str:
    rows = [
        (f"combined accepted req/s after the first {settle:g}s",
         lambda r: f"{r['combined']:.2f} ({r['combined'] / QUOTA:.1%})", "≥ 95 %"),
        (f"RequestLimitExceeded (after the first {settle:g}s)", lambda r: f"{r['refused']} ({r['refused_after_settle']})", "0"),
        ("busiest sliding second at the server", lambda r: str(r["busiest_second"]), f"≤ {QUOTA}"),
        ("most requests for one job (bound run ÷ min_interval + 1)",
         lambda r: f"{r['max_per_job']} ({r['bound_per_job']:.1f})", "≤ bound"),
        ("requests in all", lambda r: str(r["requests"]), ""),
        ("check --wait rows with Source shared", lambda r: r["check_rows_shared"], ""),
    ]
    header = "| | " + " | ".join(r["mode"] for r in results) + " | goal |"
    lines = [header, "|" + "---|" * (len(results) + 2)]
    for name, cell, goal in rows:
        lines.append(f"| {name} | " + " | ".join(cell(r) for r in results) + f" | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.team", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--monitors", type=int, default=2)
    parser.add_argument("--checks", type=int, default=2)
    parser.add_argument("--modes", default="solo,team", help="comma-separated: solo, team (default both, solo first)")
    parser.add_argument("--shared", metavar="URL", help="team mode through this Redis/Valkey server")
    parser.add_argument("--homes", choices=("same", "separate"), default="same",
                        help="one HOME for every process (one machine), or one each (as separate machines)")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args(argv)
    modes = [m.strip() for m in options.modes.split(",") if m.strip()]
    print(f"{options.monitors} monitors + {options.checks} check --wait, one account, {options.jobs} running jobs, "
          f"50 ± 20 ms, {options.seconds:g} s, homes {options.homes}; modes {', '.join(modes)}", flush=True)
    results = []
    for mode in modes:
        result = run_mode(mode, seconds=options.seconds, settle=options.settle, jobs=options.jobs,
                          monitors=options.monitors, checks=options.checks, shared=options.shared, homes=options.homes)
        print(f"{mode}: {json.dumps({k: v for k, v in result.items() if k != 'stderr'})}", flush=True)
        for err in result["stderr"]:
            print(f"  stderr: {err}")
        results.append(result)
    print(report(results, options.settle))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))
    team = [r for r in results if not r["mode"].startswith("solo")]
    ok = all(r["combined"] >= 0.95 * QUOTA and r["refused_after_settle"] == 0 and r["busiest_second"] <= QUOTA
             and r["max_per_job"] <= r["bound_per_job"] for r in team)
    print(("PASS" if ok else "FAIL") + ": team mode ≥ 95 % after the settle, 0 refusals, ≤ 20 in any second, "
          "per-job bound")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
