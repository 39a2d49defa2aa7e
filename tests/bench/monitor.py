"""The two things the benchmarks drive against a simulator: our monitor (Poller + VclmClient) and the SDK loop.

`python -m tests.bench.monitor URL IDS_FILE SECONDS [START_AT] [--team [--solo | --shared URL]]`
runs one monitor in a process of its own (the sharing benchmark starts two, the team benchmark
two beside two `check --wait`) and prints its client-side figures as one JSON line. With
`--team` it joins its account's team as the monitor does (`settings.build_team`: --solo, --shared
URL, or by default every vclm-watch of this HOME's data directory) and polls with the config's
min_interval; without it, alone, as before team mode.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tui.api.client import VclmClient
from tui.api.credentials import Credentials
from tui.api.models import DEFAULT_REGION, DESCRIBE_ACTION, JOB_SUCCESS
from tui.api.ratelimit import DEFAULT_TARGET_RATE, RateLimiter
from tui.core.engine import Poller
from tui.core.events import JobUpdated
from tui.core.jobstate import JobRecord
from tui.core.team import Team
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="bench")


async def run_monitor(
    url: str,
    active: list[str],
    duration: float,
    *,
    finished: list[str] = (),
    rate: float = DEFAULT_TARGET_RATE,
    min_interval: float = 0.0,
    max_in_flight: int = 32,
    team: Team | None = None,
) -> dict[str, Any]:
    """Poll `active` (plus `finished`, loaded as already JobSuccess) for `duration` seconds."""
    limiter = RateLimiter(rate)
    async with VclmClient(CREDENTIALS, DEFAULT_REGION, url, limiter=limiter) as client:
        poller = Poller(client, min_interval=min_interval, max_in_flight=max_in_flight, team=team)
        updates = 0
        failures: dict[str, int] = {}

        def count(event: object) -> None:
            nonlocal updates
            if isinstance(event, JobUpdated):
                updates += 1
                error = event.record.last_error
                if error is not None:
                    failures[error.code] = failures.get(error.code, 0) + 1

        poller.subscribe(count)
        for job_id in finished:
            poller.add(job_id, record=JobRecord(job_id=job_id, status_code=JOB_SUCCESS,
                                                status_msg="处理完成", added_at=time.time()))
        for job_id in active:
            poller.add(job_id)
        cpu0, t0 = time.process_time(), time.monotonic()
        try:
            await poller.run(deadline=t0 + duration)
        finally:
            if poller.team is not None:
                status = poller.team.status()
                await poller.team.close()
        cpu1, t1 = time.process_time(), time.monotonic()
    shared = sum(1 for record in poller.records.values() if record.shared_from is not None)
    return {
        "team": None if poller.team is None else {"mode": status.mode, "members": status.members, "taken": status.taken,
                                                 "problem": status.problem, "rows_shared_at_end": shared},
        "started": t0,
        "ended": t1,
        "updates": updates,
        "failures": failures,
        "requests_sent": client.requests_sent,
        "cuts": limiter.cuts,
        "cpu": cpu1 - cpu0,
    }


def run_sdk_loop(url: str, job_ids: list[str], duration: float) -> dict[str, Any]:
    """Poll `job_ids` round-robin, one call after another, with the official SDK's CommonClient."""
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    client = sdk_client(url)
    ok, errors = 0, {}
    t0 = time.monotonic()
    deadline = t0 + duration
    i = 0
    while time.monotonic() < deadline:
        try:
            client.call_json(DESCRIBE_ACTION, {"JobId": job_ids[i % len(job_ids)]})
            ok += 1
        except TencentCloudSDKException as exc:
            errors[exc.code] = errors.get(exc.code, 0) + 1
        i += 1
    return {"started": t0, "ended": time.monotonic(), "ok": ok, "errors": errors}


def sdk_client(url: str):
    """The SDK's CommonClient on the simulator: http, keep-alive on (its best case)."""
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    host = url.split("://", 1)[1]
    http = HttpProfile(protocol="http", endpoint=host, keepAlive=True)
    return CommonClient("vclm", "2024-05-23", Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY),
                        DEFAULT_REGION, profile=ClientProfile(httpProfile=http))


def main() -> None:
    import argparse

    from tui.core.options import add_team_options
    from tui.core.settings import build_team, load_settings

    parser = argparse.ArgumentParser(prog="python -m tests.bench.monitor")
    parser.add_argument("url")
    parser.add_argument("ids_file")
    parser.add_argument("seconds", type=float)
    parser.add_argument("start_at", type=float, nargs="?", default=0.0)
    parser.add_argument("--team", action="store_true", help="join the account's team as the monitor does")
    add_team_options(parser)
    args = parser.parse_args()
    with open(args.ids_file, encoding="utf-8") as handle:
        ids = json.load(handle)
    options: dict[str, Any] = {}
    if args.team:
        settings = load_settings(argparse.Namespace(endpoint=args.url, shared=getattr(args, "shared", None),
                                                    solo=getattr(args, "solo", False)))
        options = {"min_interval": settings.config.min_interval, "rate": settings.rate}

    async def go() -> dict[str, Any]:
        team = build_team(settings, CREDENTIALS) if args.team else None  # (in the loop: a team may start tasks)
        delay = args.start_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return await run_monitor(args.url, ids, args.seconds, team=team, **options)

    print(json.dumps(asyncio.run(go())), flush=True)


if __name__ == "__main__":
    main()
