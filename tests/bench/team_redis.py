"""Team mode across machines: four "machines" sharing one account through a real Valkey server.

    PYTHONPATH=. python -m tests.bench.team_redis [--seconds 40] [--jobs 1000] [--only shared,solo,restart]

Four processes, each with its own HOME and data directory (nothing shared but the server's URL):
two monitors' engines and two `check --wait`-like runs, every one watching the same 1,000 running
jobs on the loopback simulator (its own process, a strict 20 per sliding second at arrival, 50 ± 20
ms). `shared`: all four with `--shared`; `solo`: the same four, each on its own (today's
behaviour, side by side); `restart`: shared, with the server killed at 15 s and started again
(empty) 10 s later.

Figures come from the simulator's arrival log (`time.monotonic()`, one clock for every process
of the machine): accepted req/s after the first 5 s, RequestLimitExceeded, the busiest sliding
second at arrival, requests per job against run ÷ min_interval + 1; for `restart`, the crashes
(exit status), the jobs polled while the server was down, and how long after the restart each
process was back on the shared window (its mode `shared`, and its grace over: the full window).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "team_redis"))

from tests.bench.simproc import SimProcess, _env  # noqa: E402
from tests.bench.suite import is_rate_limited, max_in_window  # noqa: E402

QUOTA = 20
MIN_INTERVAL = 2.0
SETTLE = 5.0


# -- one "machine" ----------------------------------------------------------------------------


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    from tui.api.client import VclmClient
    from tui.api.clock import SYSTEM_CLOCK
    from tui.api.credentials import Credentials
    from tui.api.models import DEFAULT_REGION
    from tui.api.ratelimit import DEFAULT_TARGET_RATE, RateLimiter
    from tui.core.engine import Poller
    from tui.core.events import JobUpdated
    from tui.core.team import account_key
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

    credentials = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="bench")
    ids = json.loads(Path(args.ids).read_text())
    team = None
    if args.shared:
        from tui.api.client import resolve_endpoint
        from tui.core.team_redis import RedisTeam

        # keyed as settings.build_team keys it (the endpoint as the settings resolve it)
        account = account_key(resolve_endpoint(args.url, DEFAULT_REGION).url, DEFAULT_SECRET_ID)
        team = RedisTeam(args.shared, account, clock=SYSTEM_CLOCK)
    limiter = RateLimiter(DEFAULT_TARGET_RATE)
    modes: list[tuple[float, str, bool]] = []
    updates = 0
    errors: Counter[str] = Counter()

    def count(event: object) -> None:
        nonlocal updates
        if isinstance(event, JobUpdated):
            updates += 1
            if event.record.last_error is not None:
                errors[event.record.last_error.code] += 1

    sent: list[tuple[float, int]] = []  # (time, requests sent so far), every 0.5 s

    async def watch_mode() -> None:
        while True:
            if team is not None:
                mode, grace = team.status().mode, team.in_grace()
                if not modes or tuple(modes[-1][1:3]) != (mode, grace):
                    modes.append((time.monotonic(), mode, grace, team.status().problem))
            if not sent or time.monotonic() - sent[-1][0] >= 0.5:
                sent.append((time.monotonic(), client.requests_sent))
            await asyncio.sleep(0.05)

    async with VclmClient(credentials, DEFAULT_REGION, args.url, limiter=limiter) as client:
        poller = Poller(client, min_interval=MIN_INTERVAL, team=team)
        poller.subscribe(count)
        for job_id in ids:
            poller.add(job_id)
        await asyncio.sleep(max(0.0, args.start - time.monotonic()))
        watcher = asyncio.create_task(watch_mode())
        t0 = time.monotonic()
        await poller.run(deadline=t0 + args.seconds)
        t1 = time.monotonic()
        watcher.cancel()
        if team is not None:
            await team.close()
    return {
        "role": args.role,
        "started": t0,
        "ended": t1,
        "updates": updates,
        "errors": dict(errors),
        "requests_sent": client.requests_sent,
        "cuts": limiter.cuts,
        "modes": modes,
        "sent": sent,
        "taken": team.status().taken if team is not None else 0,
        "status": repr(team.status()) if team is not None else None,
        "server_starts": list(team.server_starts) if team is not None else [],
        "heard": team.heard if team is not None else 0,
        "inbox": len(team._inbox) if team is not None else 0,
        "polled": sum(r.poll_count for r in poller.records.values()),
    }


# -- the runs ---------------------------------------------------------------------------------


def run(sim: SimProcess, ids_file: str, seconds: float, shared: str | None, tmp: Path, *, fault=None) -> dict[str, Any]:
    """Two monitors' engines (workers of this module) and two real `vclm-watch check --wait`, each
    with a HOME of its own; all four start together."""
    from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

    start = time.monotonic() + 3.0  # the workers import and load, then all start together
    procs: list[tuple[str, subprocess.Popen[str], Path, Path]] = []
    for i, role in enumerate(("monitor", "monitor", "check", "check")):
        home = tmp / f"machine{i}"
        home.mkdir()
        env = _env()
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local/share"),
            TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
            TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
        )
        team = ["--shared", shared] if shared else ["--solo"]
        if role == "monitor":
            argv = [sys.executable, "-m", "tests.bench.team_redis", "worker", "--role", role, "--url", sim.url,
                    "--ids", ids_file, "--seconds", str(seconds), "--start", str(start)]  # fmt: skip
            if shared:
                argv += ["--shared", shared]
        else:
            time.sleep(max(0.0, start - 0.4 - time.monotonic()))  # (its own start-up: about 0.4 s)
            argv = [sys.executable, "-m", "tui", "check", "--wait", "--json", "--endpoint", sim.url,
                    "--timeout", str(seconds), *team, "-"]  # fmt: skip
        ids_text = Path(ids_file).with_suffix(".txt")
        ids_text.write_text("\n".join(json.loads(Path(ids_file).read_text())) + "\n")
        # output to files: a pipe nobody reads while the fault runs would fill and stop the process
        out_path, err_path = home / "stdout", home / "stderr"
        with open(ids_text) as stdin, open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=stdin if role == "check" else subprocess.DEVNULL,
                                    stdout=out, stderr=err, text=True)  # fmt: skip
        procs.append((role, proc, out_path, err_path))
    events = fault(start) if fault else {}
    results = []
    for role, proc, out_path, err_path in procs:
        proc.wait()
        out, err = out_path.read_text(), err_path.read_text()
        if role == "monitor":
            results.append({"exit": proc.returncode, "stderr": err[-2000:], **(json.loads(out) if out.strip() else {})})
        else:
            lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            rows = [line for line in lines if "Event" not in line]
            changes = [line for line in lines if line.get("Event") == "StateChanged"]
            results.append({
                "role": "check", "exit": proc.returncode, "stderr": err[-2000:], "rows": len(rows),
                "shared_rows": sum(1 for row in rows if row.get("Source") == "shared"), "changes": len(changes),
                "updates": len(rows) + len(changes),
            })  # fmt: skip
    return {"results": results, "stats": sim.stats(), "start": start, "events": events}


def figures(outcome: dict[str, Any], seconds: float) -> dict[str, Any]:
    t0 = outcome["start"]
    log = [e for e in outcome["stats"]["log"] if t0 <= e[0] <= t0 + seconds + 1.0]
    late = [e for e in log if t0 + SETTLE <= e[0] < t0 + seconds]
    accepted_late = [e for e in late if not is_rate_limited(e[2])]
    per_job = Counter(e[1] for e in log if e[1])
    return {
        # a crash: a traceback, or an exit status no run ends with (a monitor's worker: 0; check
        # --wait: 4, jobs still running at its timeout, or 3, some could not be queried)
        "crashes": sum(1 for r in outcome["results"] if "Traceback" in r["stderr"] or r["exit"] not in (0, 3, 4)),
        "exits": [r["exit"] for r in outcome["results"]],
        "combined": len(accepted_late) / (seconds - SETTLE),
        "limit_exceeded": sum(1 for e in log if is_rate_limited(e[2])),
        "limit_exceeded_at": [round(e[0] - t0, 2) for e in log if is_rate_limited(e[2])],
        "busiest_after_settle": max_in_window([e[0] for e in late]),
        "busiest": max_in_window([e[0] for e in log]),
        "requests": len(log),
        "max_per_job": max(per_job.values(), default=0),
        "per_job_bound": seconds / MIN_INTERVAL + 1,
        "updates": [r.get("updates") for r in outcome["results"]],
        "taken": [r.get("taken") for r in outcome["results"]],
        "cuts": [r.get("cuts") for r in outcome["results"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.team_redis")
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker")
    worker.add_argument("--role", default="monitor")
    worker.add_argument("--url", required=True)
    worker.add_argument("--ids", required=True)
    worker.add_argument("--seconds", type=float, required=True)
    worker.add_argument("--start", type=float, default=0.0)
    worker.add_argument("--shared")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--only", default="shared,solo,restart")
    parser.add_argument("--kill-at", type=float, default=15.0, help="restart: seconds into the run the server is killed")
    parser.add_argument("--down", type=float, default=10.0, help="restart: seconds it stays down")
    parser.add_argument("--json", help="write every figure and the raw results here")
    args = parser.parse_args()
    if args.command == "worker":
        print(json.dumps(asyncio.run(_worker(args))))
        return

    from valkeykit import ValkeyProcess

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        valkey = ValkeyProcess(tmp / "valkey")
        valkey.start()
        try:
            for name in args.only.split(","):
                with SimProcess(running=args.jobs, latency=0.03, jitter=0.04) as sim:
                    ids_file = tmp / f"ids-{name}.json"
                    ids_file.write_text(json.dumps(sim.running))
                    runs = tmp / name
                    runs.mkdir()
                    if name == "solo":
                        outcome = run(sim, str(ids_file), args.seconds, None, runs)
                    elif name == "shared":
                        outcome = run(sim, str(ids_file), args.seconds, valkey.url, runs)
                    else:

                        def fault(start: float) -> dict[str, Any]:
                            before: list[tuple[float, int]] = []
                            with valkey.client() as admin:
                                while time.monotonic() < start + args.kill_at:
                                    count = sum(admin.zcard(key) for key in admin.scan_iter("*:members"))
                                    before.append((round(time.monotonic() - start, 2), count))
                                    time.sleep(0.5)
                            valkey.kill()
                            killed = time.monotonic()
                            time.sleep(args.down)
                            valkey.start()
                            restarted = time.monotonic()
                            # when each process registers again (its first heartbeat after the restart)
                            seen: dict[str, float] = {}
                            with valkey.client() as admin:
                                while len(seen) < 4 and time.monotonic() < restarted + 8.0:
                                    for key in admin.scan_iter("*:members"):
                                        for member in admin.zrange(key, 0, -1):
                                            seen.setdefault(member, time.monotonic() - restarted)
                                    time.sleep(0.02)
                            return {"killed": killed, "restarted": restarted, "rejoined": sorted(seen.values()), "members_before": before}

                        outcome = run(sim, str(ids_file), args.seconds, valkey.url, runs, fault=fault)
                result = figures(outcome, args.seconds)
                if name == "restart":
                    result.update(outage(outcome))
                report[name] = {"figures": result, "raw": outcome["results"], "start": outcome["start"], "log": outcome["stats"]["log"]}
                print(name, json.dumps(result), flush=True)
        finally:
            valkey.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))


def outage(outcome: dict[str, Any]) -> dict[str, Any]:
    killed, restarted = outcome["events"]["killed"], outcome["events"]["restarted"]
    log = outcome["stats"]["log"]
    down = [e for e in log if killed + 1.5 <= e[0] < restarted]
    back, full = [], []
    for r in outcome["results"]:
        modes = r.get("modes") or []
        after = [(t, mode, grace) for t, mode, grace, _ in modes if t >= restarted]
        shared_at = next((t for t, mode, _ in after if mode == "shared"), None)
        full_at = next((t for t, mode, grace in after if mode == "shared" and not grace), None)
        back.append(None if shared_at is None else round(shared_at - restarted, 2))
        full.append(None if full_at is None else round(full_at - restarted, 2))
    fell = [any(mode == "fallback" and killed <= t < restarted for t, mode, _, _ in r["modes"]) for r in outcome["results"] if "modes" in r]
    return {
        "all_fell_back": all(fell),
        "requests_while_down": len(down),
        "jobs_polled_while_down": len({e[1] for e in down if e[1]}),
        "rate_while_down": len(down) / max(1e-9, restarted - killed - 1.5),
        "busiest_around_the_restart": max_in_window([e[0] for e in log if restarted - 2 <= e[0] <= restarted + 8]),
        "registered_after_restart": [round(t, 2) for t in outcome["events"]["rejoined"]],
        "members_before_the_kill": outcome["events"]["members_before"],
        "back_shared_after_restart": back,
        "full_window_after_restart": full,
    }


if __name__ == "__main__":
    main()
