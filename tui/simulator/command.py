"""`vclm-watch simulate`: the simulator on a loopback port, as its options (`options.py`) describe, and its banner."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.credentials import ENV_SECRET_ID, ENV_SECRET_KEY, ENV_TOKEN
from tui.simulator.demo import seed_demo
from tui.simulator.faults import Faults
from tui.simulator.options import FAULT_OPTIONS
from tui.simulator.results import DEFAULT_SIZE_RANGE, ResultFaults
from tui.simulator.server import serve
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Account, Lifecycle, Simulator


def build_simulator(args: argparse.Namespace, *, clock: Clock = SYSTEM_CLOCK,
                    log: Callable[[str], None] | None = None) -> Simulator:
    """The Simulator the options describe; ValueError when they contradict each other."""
    if bool(args.sim_secret_id) != bool(args.sim_secret_key):
        raise ValueError("--secret-id and --secret-key go together")
    secret_id = args.sim_secret_id or DEFAULT_SECRET_ID
    secret_key = args.sim_secret_key or DEFAULT_SECRET_KEY
    tokens = frozenset({args.sim_token}) if args.sim_token else frozenset()
    if args.sim_quota < 1:
        raise ValueError("--quota must be at least 1")
    faults = Faults(
        latency=args.sim_latency,
        jitter=args.sim_jitter,
        latency_after=args.sim_latency_after,
        stall_seconds=args.sim_stall_seconds,
        **{name: getattr(args, f"sim_{name}") for _, name, _ in FAULT_OPTIONS},
    )
    lifecycle = Lifecycle(
        init_seconds=tuple(args.sim_init_seconds),
        run_seconds=tuple(args.sim_run_seconds),
        p_failed=args.sim_p_failed,
        p_moderation_failed=args.sim_p_moderation_failed,
    )
    sizes = getattr(args, "sim_result_size", None)
    if sizes is not None and sizes[0] > sizes[1]:
        raise ValueError("--result-size MIN MAX: MIN must not be above MAX")
    return Simulator(
        result_sizes=tuple(sizes) if sizes is not None else DEFAULT_SIZE_RANGE,
        result_faults=ResultFaults(p_drop=getattr(args, "sim_result_p_drop", 0.0),
                                   drop_after_bytes=getattr(args, "sim_result_drop_after", 65536),
                                   bytes_per_second=getattr(args, "sim_result_rate", None)),
        seed=args.sim_seed if args.sim_seed is not None else 0,
        clock=clock,
        speed=args.sim_speed,
        accounts={secret_id: Account(secret_key, tokens)},
        quota=args.sim_quota,
        quota_window=args.sim_quota_window,
        lifecycle=lifecycle,
        faults=faults,
        log=log,
    )


def shows_key(args: argparse.Namespace) -> bool:
    """A key given with --secret-key is the user's own and is masked unless --show-key; the
    built-in one is made up (not a secret of anyone's) and always shown, so the lines to paste work."""
    return bool(args.sim_show_key)


def mask(secret: str) -> str:
    """Enough of a key to recognise it, not enough to use it."""
    if len(secret) < 12:
        return "*" * len(secret)
    return secret[:4] + "*" * (len(secret) - 6) + secret[-2:]


SAMPLE_VIDEO_URL = "https://media.example.invalid/input.mp4"  # the simulator takes any http(s) URL


def banner_lines(simulator: Simulator, base_url: str, *, show_key: bool) -> list[str]:
    """What `simulate` prints first: the URL (on the first line), credentials, lines to paste."""
    (secret_id, account), = simulator.accounts.items()
    made_up = secret_id == DEFAULT_SECRET_ID and account.secret_key == DEFAULT_SECRET_KEY
    shown = show_key or made_up
    token = next(iter(account.tokens), None)
    masked = [name for name, hidden in (("SecretKey", not shown), ("token", bool(token) and not show_key)) if hidden]
    if masked:
        note = f" ({' and '.join(masked)} masked; --show-key prints {'them' if len(masked) > 1 else 'it'})"
    else:
        note = " (made up: not a secret)" if made_up else ""
    lines = [
        f"VCLM simulator serving at {base_url} (seed {simulator.seed}, speed {simulator.speed:g}x, "
        f"quota {simulator.quota} per {simulator.quota_window:g} s per SecretId; Ctrl-C stops it)",
        f"accepts SecretId {secret_id} with SecretKey {account.secret_key if shown else mask(account.secret_key)}"
        + (f" and token {token if show_key else mask(token)}" if token else "") + note,
    ]
    key = account.secret_key if shown else "<the SecretKey above>"
    env = f"export {ENV_SECRET_ID}={secret_id} {ENV_SECRET_KEY}={key}"
    if token:
        env += f" {ENV_TOKEN}={token if show_key else '<the token above>'}"
    lines += [
        f"paste: {env}",
        f"then:  vclm-watch --endpoint {base_url} submit --add {SAMPLE_VIDEO_URL}   # a new job, on your watchlist",
        f"       vclm-watch --endpoint {base_url}   # the monitor",
    ]
    return lines


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 1 if it cannot listen, 2 on bad options."""
    out = out or sys.stdout
    err = err or sys.stderr
    if args.sim_seed is None:
        args.sim_seed = random.SystemRandom().randrange(1_000_000)
    log = None
    if args.sim_log:
        def log(line: str) -> None:
            print(f"{time.strftime('%H:%M:%S')} {line}", file=err, flush=True)
    try:
        simulator = build_simulator(args, log=log)
    except ValueError as exc:
        print(f"vclm-watch simulate: error: {exc}", file=err)
        return 2
    show_key = shows_key(args)
    try:
        asyncio.run(_serve_until_stopped(simulator, args, show_key, out, err))
    except OSError as exc:
        print(f"vclm-watch simulate: cannot listen on {args.sim_host}:{args.sim_port}: {exc.strerror or exc}", file=err)
        return 1
    except KeyboardInterrupt:  # where signal handlers cannot be installed
        pass
    return 0


async def _serve_until_stopped(simulator: Simulator, args: argparse.Namespace, show_key: bool,
                               out: TextIO, err: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such support
            pass
    async with serve(simulator, args.sim_host, args.sim_port,
                     serve_results=getattr(args, "sim_results", False)) as server:
        lines = banner_lines(simulator, server.base_url, show_key=show_key)
        if simulator.results.base is not None:
            low, high = simulator.results.size_range
            lines.append(f"result files served at {simulator.results.base} ({low}-{high} bytes each; "
                         f"try: vclm-watch --endpoint {server.base_url} check --wait --download DIR ID)")
        if args.sim_demo:
            lines.append("demo jobs:")
            lines += [f"  {job_id}  {label}" for job_id, label in await seed_demo(simulator)]
        print("\n".join(lines), file=out, flush=True)
        await stop.wait()
    print("VCLM simulator stopped", file=err, flush=True)
