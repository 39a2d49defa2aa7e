"""The simulator as the benchmarks need it: a process of its own, a strict quota, jitter, a log of arrivals.

Run as `python -m tests.bench.simproc [options]`. The first line on stdout is JSON with the
base URL and the ids of the jobs it created; then it answers commands read from stdin, one
per line, with one JSON line each: `stats` (everything measured so far), `quit`.
Times are `time.monotonic()`, which on Linux is one clock for every process of the machine,
so the benchmark can set them against its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tui.api.models import JOB_SUCCESS
from tui.simulator.faults import Faults
from tui.simulator.results import ResultFaults
from tui.simulator.server import serve
from tui.simulator.service import Simulator

REPO = Path(__file__).resolve().parents[2]


class LoggingSimulator(Simulator):
    """Keeps (arrival time, JobId, what was answered) for every request: polls per job, at the server."""

    def __init__(self, *args: Any, keep_log: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep_log = keep_log
        self.arrival_log: list[tuple[float, str | None, str]] = []

    def respond(self, method, path, headers, body):  # type: ignore[override]
        at = self.clock.monotonic()
        answer = super().respond(method, path, headers, body)
        if self.keep_log:
            try:
                job_id = json.loads(body).get("JobId")
            except (ValueError, AttributeError):
                job_id = None
            outcome = answer.error_code or ""
            if not outcome and job_id in self.jobs:
                outcome = self.jobs[job_id].status_at(self.sim_now())
            self.arrival_log.append((at, job_id, outcome or f"http {answer.status}"))
        return answer


def _stats(sim: LoggingSimulator) -> dict[str, Any]:
    with sim._lock:  # the loop thread appends under it
        stats = sim.stats
        return {
            "now": sim.clock.monotonic(),
            "requests": stats.requests,
            "arrivals": [t for times in stats.arrivals.values() for t in times],
            "rate_limited": stats.rate_limited,
            "quota_rejections": stats.quota_rejections,
            "errors": dict(stats.errors),
            "log": list(sim.arrival_log),
        }


async def _main(args: argparse.Namespace) -> None:
    sim = LoggingSimulator(
        seed=args.seed, quota=args.quota, quota_window=args.window, keep_log=not args.no_log,
        faults=Faults(latency=args.latency, jitter=args.jitter),
        result_sizes=(args.result_size, args.result_size),
        result_faults=ResultFaults(bytes_per_second=args.result_rate),
    )
    ids: dict[str, list[str]] = {"running": [], "finishing": [], "finished": []}
    for _ in range(args.running):
        ids["running"].append(sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=1e9))
    for i in range(args.finishing):
        # spread over the given span, so some finish in each part of the run
        run = args.finishing_after + args.finishing_span * i / max(1, args.finishing - 1)
        ids["finishing"].append(sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=run))
    for _ in range(args.finished):
        ids["finished"].append(sim.create_job(fate=JOB_SUCCESS, init_seconds=0.0, run_seconds=0.0))
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def read_commands() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                reply = asyncio.run_coroutine_threadsafe(_in_loop(_stats, sim), loop).result()
                sys.stdout.write(json.dumps(reply) + "\n")
                sys.stdout.flush()
            elif command == "quit":
                break
        loop.call_soon_threadsafe(done.set)

    async with serve(sim, "127.0.0.1", 0, serve_results=args.results) as server:
        print(json.dumps({"url": server.base_url, **ids}), flush=True)
        threading.Thread(target=read_commands, daemon=True).start()
        await done.wait()


async def _in_loop(fn, *args):
    return fn(*args)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.simproc")
    parser.add_argument("--latency", type=float, default=0.0, help="fixed part of the network delay (s)")
    parser.add_argument("--jitter", type=float, default=0.0, help="width of the uniform extra delay (s)")
    parser.add_argument("--quota", type=int, default=20)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--running", type=int, default=0, help="jobs that stay JobRunning")
    parser.add_argument("--finishing", type=int, default=0, help="jobs that end during the run")
    parser.add_argument("--finishing-after", type=float, default=2.0)
    parser.add_argument("--finishing-span", type=float, default=10.0)
    parser.add_argument("--finished", type=int, default=0, help="jobs already JobSuccess")
    parser.add_argument("--no-log", action="store_true", help="keep no per-request log (CPU runs)")
    parser.add_argument("--results", action="store_true", help="serve the result files (downloads)")
    parser.add_argument("--result-size", type=int, default=64 * 1024, help="bytes of every result file")
    parser.add_argument("--result-rate", type=float, default=None, help="bytes/s each file is sent at, at most")
    asyncio.run(_main(parser.parse_args()))


class SimProcess:
    """The parent's handle on one simulator process: `with SimProcess(latency=0.05) as sim: sim.url`."""

    def __init__(self, **options: Any) -> None:
        argv = [sys.executable, "-m", "tests.bench.simproc"]
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value is not False and value is not None:
                argv += [flag, str(value)]
        self._proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, env=_env())
        first = self._proc.stdout.readline()
        if not first:
            self._proc.kill()
            raise RuntimeError("the simulator process did not start")
        info = json.loads(first)
        self.url: str = info["url"]
        self.running: list[str] = info["running"]
        self.finishing: list[str] = info["finishing"]
        self.finished: list[str] = info["finished"]

    def stats(self) -> dict[str, Any]:
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.flush()
                self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


if __name__ == "__main__":
    main()
