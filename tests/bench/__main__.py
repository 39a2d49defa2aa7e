"""`PYTHONPATH=. python -m tests.bench [--quick] [--only NAMES] [--profile] [--json PATH]`: the benchmark suite.

Prints the machine, then one markdown table per measurement (metric | ours | SDK | target | met?).
Needs the `bench` extra (the official SDK) for the side-by-side columns. Full run: about 5 minutes.
The soak (`--only soak [--minutes 60] [--trace]`, tests/bench/soak.py) runs only when named: it
takes an hour by default. So does the big watchlist of issue 13 (`--only big [--jobs 100000]
[--seconds 60]`, tests/bench/big_watchlist.py): shell commands, first paint and polling on 100,000 jobs.
`--only terminal` counts the bytes the real monitor writes to a pseudo-terminal
(tests/bench/terminal_bytes.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict

from tests.bench import suite

PLANS = {
    # name: (full, quick) arguments
    "throughput": ({"seconds": 30.0, "sdk_seconds": 10.0}, {"seconds": 8.0, "sdk_seconds": 4.0}),
    # (active jobs, seconds, jobs that finish during the run, jobs loaded as finished); 1,000 jobs
    # need two full rounds at 19 req/s (2 x 1,010 / 19 = 106 s) for one interval per job
    "freshness": ({"runs": ((100, 24.0, 5, 50), (1000, 110.0, 10, 100))}, {"runs": ((100, 14.0, 5, 50),)}),
    "cost": ({"n": 400, "rounds": 7}, {"n": 300, "rounds": 2}),
    "scale": ({"n": 10_000, "repeats": 3, "updates": 4000, "ui_batches": 12, "ui_idle": 5.0},
              {"n": 10_000, "repeats": 2, "updates": 1000, "ui_batches": 4, "ui_idle": 3.0}),
    "sharing": ({"seconds": 40.0, "settle": 10.0}, {"seconds": 20.0, "settle": 10.0}),
    # the real monitor in a pseudo-terminal, 20 jobs finished / running, at 80x24 and 160x45
    "terminal": ({"warmup": 5.0, "seconds": 25.0}, {"warmup": 5.0, "seconds": 10.0}),
}
ON_REQUEST = ("soak", "big")  # run only when named in --only


SETUP = """Setup: the simulator runs in a process of its own on loopback, with a strict quota of 20 requests
per sliding 1 s per SecretId, counted when a request arrives; injected latency is a fixed part plus a
uniform jitter, both applied before the arrival is counted: "50 ± 20 ms" is 30 ms + U(0, 40 ms),
"300 ± 100 ms" is 200 ms + U(0, 200 ms). Ours: Poller(min_interval=0, max_in_flight=32) over VclmClient
at the default rate (19.2 req/s). SDK: tencentcloud-sdk-python-common CommonClient, http, keep-alive, one
call after another. Every figure is taken at the simulator unless it says otherwise."""


def machine() -> list[str]:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    try:
        import tencentcloud

        sdk = f"tencentcloud-sdk-python-common {getattr(tencentcloud, '__version__', '?')}"
    except ImportError:
        sdk = "official SDK not installed (pip install '.[bench]')"
    import httpx

    try:
        import subprocess

        revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=suite.REPO, capture_output=True,
                                  text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        revision = "unknown"
    return [
        f"- code: git {revision}",
        f"- CPU: {model}, {os.cpu_count()} cores (shared with other work; load average at start {load})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), httpx {httpx.__version__}, {sdk}",
        f"- OS: {platform.platform()}",
        f"- started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
    ]


def render(section: suite.Section) -> str:
    lines = [f"### {section.title}", "", "| metric | ours | SDK | target | met? |", "|---|---|---|---|---|"]
    for row in section.rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.metric} | {row.ours} | {row.sdk} | {row.target} | {met} |")
    for note in section.notes:
        lines += ["", note]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, for iterating (about 2 minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join([*PLANS, *ON_REQUEST])}")
    parser.add_argument("--profile", action="store_true", help="add cProfile tables where time is spent (client cost, watchlist, UI)")
    parser.add_argument("--json", help="also write every raw figure to this file")
    parser.add_argument("--sharing-seconds", type=float, help="run the sharing benchmark this long instead")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the soak (default 60)")
    parser.add_argument("--trace", action="store_true", help="soak: tracemalloc and object counts after the warm-up")
    parser.add_argument("--jobs", type=int, help="big: jobs on the watchlist (default 100,000; 10,000 with --quick)")
    parser.add_argument("--seconds", type=float, help="big: length of the polling run (default 60; 20 with --quick)")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(PLANS)
    unknown = [name for name in chosen if name not in PLANS and name not in ON_REQUEST]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    command = "PYTHONPATH=. python -m tests.bench" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    print("## vclm-watch benchmarks\n")
    print(f"`{command}`\n")
    print("\n".join(machine()) + "\n", flush=True)
    print(SETUP + "\n", flush=True)
    began = time.monotonic()
    sections: list[suite.Section] = []

    def run(section: suite.Section) -> None:
        sections.append(section)
        print(render(section) + "\n", flush=True)

    for name in chosen:
        if name == "soak":
            from tests.bench.soak import soak

            run(soak(args.minutes, trace=args.trace, profile=args.profile,
                     progress=lambda text: print(text, file=sys.stderr, flush=True)))
            continue
        if name == "big":
            from tests.bench.big_watchlist import JOBS, SECONDS, big_watchlist

            for section in big_watchlist(args.jobs or (10_000 if args.quick else JOBS),
                                         args.seconds or (20.0 if args.quick else SECONDS),
                                         progress=lambda text: print(text, file=sys.stderr, flush=True)):
                run(section)
            continue
        plan = PLANS[name][1 if args.quick else 0]
        if name == "throughput":
            for label, (latency, jitter) in suite.LATENCIES.items():
                run(suite.throughput(label, latency, jitter, plan["seconds"], plan["sdk_seconds"]))
        elif name == "freshness":
            for active, seconds, finishing, finished in plan["runs"]:
                run(suite.freshness(active, seconds, finishing=finishing, finished=finished))
        elif name == "cost":
            run(suite.client_cost(plan["n"], rounds=plan["rounds"], profile=args.profile))
        elif name == "scale":
            run(suite.watchlist(plan["n"], plan["repeats"], profile=args.profile))
            run(suite.engine_batches(plan["n"], plan["updates"]))
            run(suite.ui_at_scale(plan["n"], plan["ui_batches"], plan["ui_idle"], profile=args.profile))
        elif name == "terminal":
            from tests.bench.terminal_bytes import terminal_bytes

            run(terminal_bytes(warmup=plan["warmup"], seconds=plan["seconds"]))
        elif name == "sharing":
            run(suite.sharing(args.sharing_seconds or plan["seconds"], plan["settle"]))
    missed = [f"{s.title}: {r.metric}" for s in sections for r in s.rows if r.met is False]
    print(f"_{time.monotonic() - began:.0f} s in all; targets missed: {len(missed)}_")
    for item in missed:
        print(f"- {item}")
    if args.json:
        dump_json(args.json, sections)
    return 0


def dump_json(path: str, sections) -> None:
    """Every raw figure of these sections, to a file (`--json`)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([asdict(s) for s in sections], handle, indent=1, default=str)


if __name__ == "__main__":
    raise SystemExit(main())
