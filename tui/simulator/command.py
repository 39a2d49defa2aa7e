"""`vclm-watch simulate`: the simulator on a loopback port, with its options and its banner."""

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
from tui.simulator.server import DEFAULT_HOST, serve
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Account, Lifecycle, Simulator

# Every dest starts with sim_ so that nothing here collides with the main CLI's own options.
_FAULT_OPTIONS = (
    # option, Faults field, help
    ("--p-inner-error", "p_inner_error", "answer FailedOperation.InnerError"),
    ("--p-internal-error", "p_internal_error", "answer InternalError"),
    ("--p-502", "p_http_502", "answer HTTP 502 with an HTML body, as a gateway would"),
    ("--p-drop", "p_drop", "close the connection without answering"),
    ("--p-stall", "p_stall", "answer only after --stall-seconds (longer than a client's timeout)"),
    ("--p-malformed", "p_malformed_json", "answer a body cut short (not JSON)"),
    ("--p-unknown-status", "p_unknown_status", "answer a StatusCode not in the documented table"),
    ("--p-rate-limit", "p_rate_limit", "answer RequestLimitExceeded whatever the rate"),
)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability is between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `simulate`; `run(args)` reads them back."""
    server = parser.add_argument_group("server")
    server.add_argument("--host", dest="sim_host", metavar="HOST", default=DEFAULT_HOST,
                        help="address to bind (default %(default)s: this machine only)")
    server.add_argument("--port", dest="sim_port", metavar="PORT", type=_port, default=0,
                        help="port to listen on; 0 (the default) picks a free one")
    server.add_argument("--seed", dest="sim_seed", metavar="N", type=int, default=None,
                        help="seed of every random choice (default: a fresh one, printed)")
    server.add_argument("--speed", dest="sim_speed", metavar="X", type=_positive, default=1.0,
                        help="run job lifecycles X times faster (default 1)")
    server.add_argument("--secret-id", dest="sim_secret_id", metavar="ID", help="SecretId to accept instead of the built-in one")
    server.add_argument("--secret-key", dest="sim_secret_key", metavar="KEY", help="its SecretKey")
    server.add_argument("--token", dest="sim_token", metavar="TOKEN",
                        help="make the account temporary: every request must carry this X-TC-Token")
    server.add_argument("--show-key", dest="sim_show_key", action="store_true",
                        help="print the SecretKey in full even when it was not given on the command line")
    server.add_argument("--quota", dest="sim_quota", metavar="N", type=int, default=20,
                        help="requests per SecretId per window before RequestLimitExceeded (default %(default)s)")
    server.add_argument("--quota-window", dest="sim_quota_window", metavar="SECONDS", type=_positive, default=1.0,
                        help="the quota's sliding window in seconds (default %(default)s)")
    server.add_argument("--demo", dest="sim_demo", action="store_true",
                        help="create a dozen demo jobs with mixed fates and list their ids")
    server.add_argument("--log", dest="sim_log", action="store_true", help="one line per request on stderr")

    life = parser.add_argument_group("job lifecycle (simulated seconds)")
    life.add_argument("--init-seconds", dest="sim_init_seconds", type=_non_negative, nargs=2,
                      metavar=("MIN", "MAX"), default=(1.0, 3.0), help="time in JobInit (default 1 3)")
    life.add_argument("--run-seconds", dest="sim_run_seconds", type=_non_negative, nargs=2,
                      metavar=("MIN", "MAX"), default=(10.0, 40.0), help="time in JobRunning (default 10 40)")
    life.add_argument("--p-failed", dest="sim_p_failed", metavar="P", type=_probability, default=0.05,
                      help="chance a job ends JobFailed (default %(default)s)")
    life.add_argument("--p-moderation-failed", dest="sim_p_moderation_failed", metavar="P", type=_probability, default=0.05,
                      help="chance a job ends JobModerationFailed after JobInit (default %(default)s)")

    faults = parser.add_argument_group("faults (probabilities per request, 0 to 1)")
    faults.add_argument("--latency", dest="sim_latency", metavar="SECONDS", type=_non_negative, default=0.0,
                        help="seconds of network delay before each request arrives")
    faults.add_argument("--jitter", dest="sim_jitter", metavar="SECONDS", type=_non_negative, default=0.0,
                        help="up to this many more seconds, drawn per request")
    faults.add_argument("--latency-after", dest="sim_latency_after", metavar="SECONDS", type=_non_negative, default=0.0,
                        help="seconds of delay on the way back")
    for option, name, help_text in _FAULT_OPTIONS:
        faults.add_argument(option, dest=f"sim_{name}", metavar="P", type=_probability, default=0.0, help=help_text)
    faults.add_argument("--stall-seconds", dest="sim_stall_seconds", metavar="SECONDS", type=_non_negative, default=30.0,
                        help="how late a stalled answer comes (default %(default)s)")


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
        **{name: getattr(args, f"sim_{name}") for _, name, _ in _FAULT_OPTIONS},
    )
    lifecycle = Lifecycle(
        init_seconds=tuple(args.sim_init_seconds),
        run_seconds=tuple(args.sim_run_seconds),
        p_failed=args.sim_p_failed,
        p_moderation_failed=args.sim_p_moderation_failed,
    )
    return Simulator(
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
    async with serve(simulator, args.sim_host, args.sim_port) as server:
        lines = banner_lines(simulator, server.base_url, show_key=show_key)
        if args.sim_demo:
            lines.append("demo jobs:")
            lines += [f"  {job_id}  {label}" for job_id, label in await seed_demo(simulator)]
        print("\n".join(lines), file=out, flush=True)
        await stop.wait()
    print("VCLM simulator stopped", file=err, flush=True)
