"""Benchmark: `vclm-watch check` of 200 ids against a simulator enforcing 20 requests in any sliding second.

Run from the repository root:

    python tests/bench/bench_check.py [--ids 200] [--runs 3] [--latency S] [--jitter S]

The simulator runs on loopback in a thread of this process (quota 20 per sliding 1 s per
SecretId, the real API's default); `check` runs as a subprocess through the real CLI path,
exactly as a user types it. What counts is what the server saw: requests per second on the
wire (arrivals, first to last) and RequestLimitExceeded answers. The goal: none of the
latter, and 18 req/s or better. Not collected by pytest (tests/bench is excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tui.api.models import DESCRIBE_ACTION, JOB_FAILED, JOB_SUCCESS  # noqa: E402
from tui.simulator.faults import Faults
from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator  # noqa: E402

QUOTA = 20
TARGET_RATE = 18.0


def one_run(n_ids: int, latency: float, jitter: float, seed: int) -> dict:
    simulator = Simulator(seed=seed, quota=QUOTA, quota_window=1.0, faults=Faults(latency=latency, jitter=jitter))
    ids = []
    for n in range(n_ids):  # a realistic mix: most finished, some running, a few failed
        if n % 10 == 0:
            ids.append(simulator.create_job(fate=JOB_FAILED, init_seconds=0.0, run_seconds=0.0))
        elif n % 3 == 0:
            ids.append(simulator.create_job(init_seconds=0.0, run_seconds=3600.0))
        else:
            ids.append(simulator.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=0.0))
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-check-{os.getpid()}"
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
               TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY)
    with run_in_thread(simulator) as server:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tui", "check", "--json", "--endpoint", server.base_url, *ids],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        wall = time.monotonic() - started
    stats = simulator.stats
    arrivals = sorted(stats.arrivals.get(DEFAULT_SECRET_ID, []))
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {
        "exit": done.returncode,
        "rows": len(rows),
        "rows_with_error": sum(1 for row in rows if row["Error"] is not None),
        "describes": stats.actions[DESCRIBE_ACTION],
        "wire_rate": (len(arrivals) - 1) / span if span > 0 else float("nan"),
        "span": span,
        "max_in_1s": stats.max_in_window(1.0, DEFAULT_SECRET_ID),
        "rate_limited": stats.rate_limited,
        "quota_rejections": stats.quota_rejections,
        "wall": wall,
        "stderr": done.stderr.strip()[:300],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.0, help="simulated network delay per request (s)")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this much more, drawn per request (s)")
    options = parser.parse_args()
    print(f"check of {options.ids} ids, quota {QUOTA} per sliding 1 s, latency {options.latency:g} s, "
          f"jitter {options.jitter:g} s, {options.runs} run(s)")
    print(f"{'run':>3} {'exit':>4} {'rows':>4} {'describes':>9} {'wire req/s':>10} {'max/1s':>6} "
          f"{'RLE':>4} {'span s':>7} {'wall s':>7}")
    worst_rate, total_rle = float("inf"), 0
    for run in range(1, options.runs + 1):
        r = one_run(options.ids, options.latency, options.jitter, seed=run)
        worst_rate = min(worst_rate, r["wire_rate"])
        total_rle += r["rate_limited"]
        print(f"{run:>3} {r['exit']:>4} {r['rows']:>4} {r['describes']:>9} {r['wire_rate']:>10.2f} "
              f"{r['max_in_1s']:>6} {r['rate_limited']:>4} {r['span']:>7.2f} {r['wall']:>7.2f}")
        if r["rows"] != options.ids or r["rows_with_error"]:
            print(f"    unexpected: {r['rows']} rows, {r['rows_with_error']} with an error; stderr: {r['stderr']}")
    verdict = "PASS" if worst_rate >= TARGET_RATE and total_rle == 0 else "FAIL"
    print(f"{verdict}: worst wire rate {worst_rate:.2f} req/s (goal >= {TARGET_RATE:g}), "
          f"RequestLimitExceeded answers {total_rle} (goal 0)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
