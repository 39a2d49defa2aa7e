"""Benchmark: `vclm-watch check -` of many ids against the strict simulator on loopback, for minutes.

Run from the repository root:

    PYTHONPATH=. python -m tests.bench.bench_quota_soak [--minutes 10] [--rate R]

On loopback a round trip takes well under a millisecond, so nothing the network does spreads
requests out: the quota (20 per sliding second per SecretId, counted at arrival) holds only if
the client never lets 21 requests reach the server within a second. The simulator runs in a
process of its own (tests/bench/simproc.py); `check -` reads as many ids as it can ask about in
the time given at the default pace, through the real CLI path. Reported, from the server's
side: requests, RequestLimitExceeded answers, the busiest sliding second, and requests per
second on the wire. The goal: 0 refusals, 20 or fewer in any second, 18 req/s or better.
Not collected by pytest (tests/bench is excluded).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bench.simproc import SimProcess
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

QUOTA = 20
TARGET_RATE = 18.0


def busiest_second(arrivals: list[float], window: float = 1.0) -> tuple[int, float]:
    """(most arrivals in any sliding `window`, half-open (t - window, t]; when the busiest began)."""
    times = sorted(arrivals)
    best, at = 0, 0.0
    for i, t in enumerate(times):
        first = bisect.bisect_right(times, t - window, 0, i + 1)
        if i + 1 - first > best:
            best, at = i + 1 - first, times[first]
    return best, at


def run(minutes: float, rate: float | None) -> dict:
    pace = rate or 19.0
    n_ids = max(20, int(minutes * 60 * pace))
    with SimProcess(finished=n_ids, quota=QUOTA, window=1.0, no_log=True) as sim, \
            tempfile.TemporaryDirectory(prefix="bench-quota-") as home:
        env = dict(os.environ, PYTHONPATH=str(REPO), HOME=home, XDG_CONFIG_HOME=f"{home}/config",
                   XDG_DATA_HOME=f"{home}/data", TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
                   TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY)
        argv = [sys.executable, "-m", "tui", "check", "--json", "--endpoint", sim.url, "-"]
        if rate is not None:
            argv += ["--rate", str(rate)]
        started = time.monotonic()
        done = subprocess.run(argv, input="\n".join(sim.finished), capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=minutes * 60 * 3 + 120)
        wall = time.monotonic() - started
        stats = sim.stats()
    arrivals = sorted(stats["arrivals"])
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    busiest, busiest_at = busiest_second(arrivals)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    first = bisect.bisect_left(arrivals, busiest_at)
    return {
        "busiest_gaps_ms": [round((b - a) * 1000, 1) for a, b in zip(arrivals[first:first + 21], arrivals[first + 1:first + 22])],
        "ids": n_ids,
        "exit": done.returncode,
        "rows": len(rows),
        "rows_with_error": sum(1 for row in rows if row["Error"] is not None),
        "requests": stats["requests"],
        "refusals": stats["rate_limited"],
        "quota_rejections": stats["quota_rejections"],
        "busiest_second": busiest,
        "busiest_at_s": busiest_at - arrivals[0] if arrivals else 0.0,
        "wire_rate": (len(arrivals) - 1) / span if span > 0 else float("nan"),
        "wall_s": wall,
        "stderr": done.stderr.strip()[-300:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_quota_soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long check runs (default 10)")
    parser.add_argument("--rate", type=float, help="--rate given to check (default: its own, 19)")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args(argv)
    print(f"check - of {int(options.minutes * 60 * (options.rate or 19))} ids on loopback, strict quota "
          f"{QUOTA} per sliding 1 s, about {options.minutes:g} min", flush=True)
    r = run(options.minutes, options.rate)
    print(f"requests {r['requests']}  refusals {r['refusals']} (quota {r['quota_rejections']})  "
          f"busiest sliding second {r['busiest_second']} (at {r['busiest_at_s']:.1f} s)  "
          f"{r['wire_rate']:.2f} req/s on the wire  wall {r['wall_s']:.0f} s  exit {r['exit']}  "
          f"rows {r['rows']} ({r['rows_with_error']} with an error)")
    if r["busiest_second"] > QUOTA:
        print(f"gaps between the arrivals of the busiest second (ms): {r['busiest_gaps_ms']}")
    if r["stderr"]:
        print(f"stderr: {r['stderr']}")
    if options.json:
        Path(options.json).write_text(json.dumps(r, indent=2))
    ok = r["refusals"] == 0 and r["busiest_second"] <= QUOTA and r["wire_rate"] >= TARGET_RATE
    print(("PASS" if ok else "FAIL") + f": goal 0 refusals, <= {QUOTA} in any second, >= {TARGET_RATE:g} req/s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
