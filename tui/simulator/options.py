"""`vclm-watch simulate`'s options: argparse only, so that building the command line's parser
imports no simulator (and no asyncio) for the commands that do not run one."""

from __future__ import annotations

import argparse

DEFAULT_HOST = "127.0.0.1"  # the simulator listens on this machine only, unless told otherwise

# Every dest starts with sim_ so that nothing here collides with the main CLI's own options.
FAULT_OPTIONS = (
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
    """The options of `simulate`; `command.run(args)` reads them back."""
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
    for option, name, help_text in FAULT_OPTIONS:
        faults.add_argument(option, dest=f"sim_{name}", metavar="P", type=_probability, default=0.0, help=help_text)
    faults.add_argument("--stall-seconds", dest="sim_stall_seconds", metavar="SECONDS", type=_non_negative, default=30.0,
                        help="how late a stalled answer comes (default %(default)s)")

    results = parser.add_argument_group("result files (the videos at the ResultVideoUrls handed out)")
    results.add_argument("--results", dest="sim_results", action="store_true",
                         help="serve the result files at this server's /results/ (Range, ETag, URLs that expire "
                              "after the simulated 24 h); without it the URLs point nowhere")
    results.add_argument("--result-size", dest="sim_result_size", type=_size, nargs=2, metavar=("MIN", "MAX"),
                         default=None, help="size range of the files in bytes (default 65536 262144)")
    results.add_argument("--result-p-drop", dest="sim_result_p_drop", metavar="P", type=_probability, default=0.0,
                         help="chance an answer with a body has its connection dropped mid-body")
    results.add_argument("--result-drop-after", dest="sim_result_drop_after", metavar="BYTES", type=_size,
                         default=65536, help="where such a drop cuts the body (default %(default)s)")
    results.add_argument("--result-rate", dest="sim_result_rate", metavar="BYTES_PER_S", type=_positive, default=None,
                         help="send every file no faster than this (a slow trickle)")


def _size(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size in bytes is 0 or more, not {text}")
    return value
