"""Secrets: the SecretKey and the session token never leave the signer. Not in a repr, an error, a log
line, a file, the command line's output; signed requests never go over plain http to another
machine; the simulator listens on loopback unless told otherwise; files are user-only."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import random
import stat
import traceback
from pathlib import Path

import pytest
from relkit import GatewayFront, SkewedClock, in_process

from tui.api.client import VclmClient, resolve_endpoint
from tui.api.clock import SYSTEM_CLOCK, FakeClock
from tui.api.credentials import Credentials, resolve_credentials
from tui.api.errors import ConfigError, TransportError, VclmError
from tui.api.ratelimit import RateLimiter
from tui.api.retry import Backoff, RetryPolicy
from tui.core.config import load_config
from tui.core.engine import Poller
from tui.core.events import EngineEvent
from tui.core.watchlist import WatchlistStore
from tui.simulator import command as simulate_command
from tui.simulator import options as simulate_options
from tui.simulator.server import DEFAULT_HOST, SimulatorServer, run_in_thread, serve
from tui.simulator.service import Account, Simulator

SECRET_ID = "AKIDreliability0000000000000000000"
SECRET_KEY = "SeCrEtKeY-must-never-show-7f3a9c1e5b"
TOKEN = "SeSsIoNtOkEn-must-never-show-4d2e8a6c0b"
SECRETS = (SECRET_KEY, TOKEN)
CREDENTIALS = Credentials(SECRET_ID, SECRET_KEY, TOKEN, source="test")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert secret[4:20] not in text  # nor a recognisable part of it


def everything_about(error: BaseException) -> str:
    """Every way an error reaches a person: str, repr, args, and a full traceback with its chain."""
    return "\n".join([str(error), repr(error), repr(error.args),
                      "".join(traceback.format_exception(type(error), error, error.__traceback__))])


def secret_simulator(clock) -> Simulator:
    return Simulator(seed=3, clock=clock, accounts={SECRET_ID: Account(SECRET_KEY, frozenset({TOKEN}))})


# -- in memory: reprs and errors -------------------------------------------------------------------

@pytest.mark.parametrize("show", [repr, str, format, Credentials.describe], ids=["repr", "str", "format", "describe"])
def test_credentials_never_show_the_key_or_token(show) -> None:
    assert_no_secret(show(CREDENTIALS))


def test_the_client_repr_never_shows_the_key_or_token() -> None:
    client = VclmClient(CREDENTIALS, "ap-guangzhou", "http://127.0.0.1:9")
    assert_no_secret(repr(client))
    asyncio.run(client.aclose())


def _revoke(sim: Simulator, clock) -> None:
    sim.revoke_account(SECRET_ID)


def _wrong_token(sim: Simulator, clock) -> None:
    sim.add_account(SECRET_ID, SECRET_KEY, tokens=["another-token"])


def _wrong_key(sim: Simulator, clock) -> None:
    sim.add_account(SECRET_ID, "a-different-key")


def _fault(kind: str):
    return lambda sim, clock: setattr(sim.faults, f"p_{kind}", 1.0)


def _skew(sim: Simulator, clock) -> None:
    clock.skew = 3600.0


ERROR_CASES = {
    "HTTP 502": _fault("http_502"),
    "connection dropped": _fault("drop"),
    "timeout": _fault("stall"),
    "malformed JSON": _fault("malformed_json"),
    "InnerError": _fault("inner_error"),
    "InternalError": _fault("internal_error"),
    "RequestLimitExceeded": _fault("rate_limit"),
    "SecretId revoked": _revoke,
    "token refused": _wrong_token,
    "signature refused": _wrong_key,
    "signature expired": _skew,
}


async def _fail_once(case: str) -> tuple[VclmError, list[EngineEvent], str]:
    clock = FakeClock()
    client_clock = SkewedClock(clock)
    sim = secret_simulator(clock)
    job = sim.create_job(init_seconds=1e6)
    ERROR_CASES[case](sim, client_clock)
    client = VclmClient(CREDENTIALS, "ap-guangzhou", "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=2, rng=random.Random(1)), transport=in_process(sim),
                        clock=client_clock)
    poller = Poller(client, clock=clock, network_failures_for_outage=1)
    events: list[EngineEvent] = []
    poller.subscribe(events.append)
    async with client:
        with pytest.raises(VclmError) as caught:
            await client.describe_job(job)
        poller.add(job)
        await poller.poll_job(job)
    return caught.value, events, repr(poller.records[job])


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_of_every_kind_never_show_the_key_or_token(case: str) -> None:
    error, _, _ = asyncio.run(_fail_once(case))
    assert_no_secret(everything_about(error))


@pytest.mark.parametrize("case", ERROR_CASES)
def test_what_the_engine_reports_never_shows_the_key_or_token(case: str) -> None:
    _, events, record = asyncio.run(_fail_once(case))
    assert events
    assert_no_secret(record)
    for event in events:
        assert_no_secret(repr(event))
        error = getattr(event, "error", None)
        if error is not None:
            assert_no_secret(everything_about(error))


def test_a_config_error_from_a_bad_endpoint_never_shows_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        VclmClient(CREDENTIALS, "ap-guangzhou", "http://example.com")
    assert_no_secret(everything_about(caught.value))


# -- broken files holding the secret ----------------------------------------------------------------

BROKEN_CREDENTIAL_FILES = {
    "tccli json cut short": (".tccli/default.credential", f'{{"secretId": "{SECRET_ID}", "secretKey": "{SECRET_KEY}", "tok'),
    "tccli json not an object": (".tccli/default.credential", f'["{SECRET_KEY}", "{TOKEN}"]'),
    "ini without a section": (".tencentcloud/credentials", f"secret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n"),
    "ini with a duplicate key": (".tencentcloud/credentials",
                                 f"[default]\nsecret_key = {SECRET_KEY}\nsecret_key = {TOKEN}\n"),
    "ini not utf-8": (".tencentcloud/credentials", f"[default]\nsecret_key = {SECRET_KEY}\xff".encode("latin-1")),
}


@pytest.mark.parametrize("case", BROKEN_CREDENTIAL_FILES)
def test_a_broken_credentials_file_is_reported_without_its_contents(tmp_path: Path, case: str) -> None:
    relative, content = BROKEN_CREDENTIAL_FILES[case]
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    try:
        found = resolve_credentials(env={"HOME": str(tmp_path)}, system_file=tmp_path / "none")
    except ConfigError as error:
        assert_no_secret(everything_about(error))
    else:
        pytest.fail(f"credentials were found in a broken file: {found.describe()}")


@pytest.mark.parametrize("content", [
    f'secret_key = "{SECRET_KEY}"\n',
    f'endpoint = "https://vclm.tencentcloudapi.com" {SECRET_KEY}\n',
    f'region = ["{TOKEN}"]\n',
    f'rate = "{SECRET_KEY}"\n',
], ids=["unknown key", "broken line", "wrong type", "bad rate"])
def test_a_config_file_holding_a_secret_by_mistake_is_reported_without_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert_no_secret(everything_about(caught.value))


# -- on disk and in the logs -------------------------------------------------------------------------

async def _run_with_errors_over_loopback(workdir: Path) -> None:
    """A real-socket run with answers, API errors and dropped connections; the watchlist saved."""
    sim = secret_simulator(SYSTEM_CLOCK)
    jobs = [sim.create_job(init_seconds=1e6), sim.phantom_job_id()]
    sim.faults.p_drop = 0.3
    sim.faults.p_inner_error = 0.3
    async with serve(sim) as server:
        client = VclmClient(CREDENTIALS, "ap-guangzhou", server.base_url,
                            retry=RetryPolicy(attempts=2, base=0.01, cap=0.02, rng=random.Random(2)))
        quick = Backoff(0.02, 0.05)
        poller = Poller(client, min_interval=0.02, not_found_backoff=quick, error_backoff=quick, probe_backoff=quick)
        async with client:
            for job in jobs:
                poller.add(job, label="mine")
            await poller.run_until(lambda: all(r.poll_count >= 3 for r in poller.records.values()), timeout=5.0)
        WatchlistStore(workdir / "data" / "watchlist.toml").save(list(poller.records.values()))
    assert all(r.poll_count >= 3 for r in poller.records.values())


def test_nothing_logged_at_debug_during_a_run_with_errors_shows_the_key_or_token(tmp_path, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        asyncio.run(_run_with_errors_over_loopback(tmp_path))
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert_no_secret(caplog.text)
    for record in caplog.records:
        assert_no_secret(record.getMessage())


def test_no_file_written_during_a_run_shows_the_key_or_token(tmp_path: Path) -> None:
    asyncio.run(_run_with_errors_over_loopback(tmp_path))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "watchlist.toml" for p in written)
    for path in written:
        assert_no_secret(path.read_bytes().decode("utf-8", errors="replace"))


def test_files_the_program_writes_are_user_only_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        path = tmp_path / "fresh" / "watchlist.toml"
        WatchlistStore(path).save([])
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name("watchlist.toml.lock").stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_watchlist_once_readable_by_others_is_user_only_after_a_save(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text("version = 1\n", encoding="utf-8")
    path.chmod(0o644)
    WatchlistStore(path).save([])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- the command line's output ----------------------------------------------------------------------

def _headless(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    from tui.cli import build_parser
    from tui.headless import commands

    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(args, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("revoked", [False, True], ids=["answered", "credentials refused"])
def test_check_json_output_never_shows_the_key_or_token(tmp_path: Path, revoked: bool) -> None:
    sim = secret_simulator(SYSTEM_CLOCK)
    ids = [sim.create_job(fate="JobSuccess", init_seconds=0, run_seconds=0), sim.phantom_job_id()]
    if revoked:
        sim.revoke_account(SECRET_ID)
    env = {"HOME": str(tmp_path), "TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
           "TENCENTCLOUD_TOKEN": TOKEN}
    with run_in_thread(sim) as server:
        code, out, err = _headless(["check", "--json", "--endpoint", server.base_url, *ids], env)
    assert code == 3, err  # some job could not be queried
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["JobId"] for row in rows] == ids
    assert_no_secret(out)
    assert_no_secret(err)


def test_the_simulator_banner_masks_a_key_of_the_user_s() -> None:
    sim = Simulator(accounts={SECRET_ID: Account(SECRET_KEY, frozenset({TOKEN}))})
    assert_no_secret("\n".join(simulate_command.banner_lines(sim, "http://127.0.0.1:1", show_key=False)))


# -- where signed requests may go --------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", [
    "http://example.com", "http://vclm.tencentcloudapi.com", "HTTP://EXAMPLE.COM", "http://10.0.0.1:8080",
    "http://192.168.1.20", "http://[2001:db8::1]:80", "http://localhost.evil.example", "http://127.0.0.1.nip.io",
    "http://0.0.0.0:8080",
])
def test_signed_requests_over_plain_http_to_another_machine_are_refused(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="plain http"):
        resolve_endpoint(endpoint)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:9",
                                      "http://127.8.9.10", "https://example.com"])
def test_plain_http_is_allowed_only_to_loopback(endpoint: str) -> None:
    assert resolve_endpoint(endpoint).url.startswith(endpoint.split("://")[0])


@pytest.mark.parametrize("region", ["x@evil.example#", "evil.example/", "ap-guangzhou.evil.example:443#",
                                    "ap guangzhou", "ap-guangzhou\r\nX-Injected: 1"])
def test_a_region_cannot_send_signed_requests_to_another_host(region: str) -> None:
    with pytest.raises(ConfigError, match="region"):
        resolve_endpoint(None, region, regional=True)


async def _follow_redirect() -> TransportError:
    sim = secret_simulator(SYSTEM_CLOCK)
    front = GatewayFront(sim)
    front.mode = "redirect"
    await front.start()
    try:
        async with VclmClient(CREDENTIALS, "ap-guangzhou", front.url, retry=RetryPolicy(attempts=1),
                              connect_timeout=0.5, read_timeout=0.5) as client:
            with pytest.raises(TransportError) as caught:
                await client.describe_job("0" * 32)
    finally:
        await front.stop()
    return caught.value


def test_a_redirect_is_not_followed_with_the_signed_request() -> None:
    error = asyncio.run(_follow_redirect())
    assert error.kind == "http_status" and error.http_status == 307


# -- the simulator binds to loopback ----------------------------------------------------------------

def test_the_simulator_server_defaults_to_loopback() -> None:
    assert DEFAULT_HOST == "127.0.0.1"
    assert SimulatorServer(Simulator()).host == "127.0.0.1"


async def _started_host() -> str:
    async with serve(Simulator()) as server:
        return server.host


def test_a_started_simulator_listens_on_loopback_only() -> None:
    assert asyncio.run(_started_host()) == "127.0.0.1"


def test_the_simulate_command_binds_loopback_unless_told_otherwise() -> None:
    parser = argparse.ArgumentParser()
    simulate_options.add_arguments(parser)
    assert parser.parse_args([]).sim_host == "127.0.0.1"
