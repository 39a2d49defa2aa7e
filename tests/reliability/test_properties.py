"""Hostile and malformed input, property-based: whatever arrives from the network, a paste or a file,
the program answers with a value or its own documented error, never anything else."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from relkit import SIM_CREDENTIALS

from tui.api.client import Endpoint, VclmClient, job_status_from_response, parse_response, resolve_endpoint
from tui.api.clock import FakeClock
from tui.api.credentials import resolve_credentials
from tui.api.errors import ApiError, ConfigError, TransportError, VclmError, excerpt
from tui.api.models import JobStatus
from tui.api.ratelimit import RateLimiter
from tui.api.retry import RetryPolicy
from tui.core.config import ALL_COLUMNS, Config, load_config, parse_config
from tui.core.engine import Poller
from tui.core.jobids import extract_job_ids
from tui.core.watchlist import (
    MAX_HISTORY,
    WatchlistError,
    WatchlistStore,
    WatchlistTooNew,
    WatchlistUnparsable,
    loads,
)
from tui.monitor.themes import LoadedTheme, ThemeError, load_theme_file, parse_theme

# Modest for the default run; VCLM_PROPERTY_EXAMPLES=5000 for a deep search before a release.
EXAMPLES = int(os.environ.get("VCLM_PROPERTY_EXAMPLES", "120"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_PROPERTY = settings(max_examples=max(1, EXAMPLES // 2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOWER_HEX_ID = re.compile(r"^[0-9a-f]{32}$")

# -- strategies -----------------------------------------------------------------------------------

API_KEYS = ["Response", "Error", "Code", "Message", "RequestId", "StatusCode", "StatusMsg", "JobId", "ResultVideoUrl"]
keys = st.sampled_from(API_KEYS) | st.text(max_size=8)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                           max_leaves=15)
json_objects = st.dictionaries(keys, json_values, max_size=6)

toml_scalars = (st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
                | st.datetimes(timezones=st.none() | st.just(dt.UTC)) | st.dates() | st.times())
WATCHLIST_KEYS = ["version", "jobs", "id", "label", "status_code", "status_msg", "result_video_url", "added_at",
                  "url_received_at", "state_since", "last_change", "last_polled", "last_request_id", "poll_count",
                  "last_error", "code", "message", "request_id", "at", "history", "from", "to"]
CONFIG_KEYS = ["region", "endpoint", "regional_endpoint", "profile", "rate", "min_interval", "connect_timeout",
               "read_timeout", "not_found_grace", "theme", "bell", "columns", "watchlist", "history_days"]
THEME_KEYS = ["name", "dark", "colors", "states", "variables", "description", "primary", "secondary", "accent",
              "background", "init", "running", "success", "failed", "moderation", "unknown", "error", "stale",
              "pending", "color", "symbol"]


def toml_tables(names: list[str]) -> st.SearchStrategy[dict]:
    table_keys = st.sampled_from(names) | st.text(max_size=6)
    values = st.recursive(
        toml_scalars | st.sampled_from(ALL_COLUMNS) | st.sampled_from(["#ff0000", "red", "●", "x" * 40]),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(table_keys, inner, max_size=5),
        max_leaves=15)
    return st.dictionaries(table_keys, values, max_size=8)


def toml_text(names: list[str]) -> st.SearchStrategy[str]:
    """Well-formed TOML of the right general shape (to get past the parser), or anything at all."""
    return toml_tables(names).map(tomli_w.dumps) | st.text(max_size=200)


hex_id = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32)
near_ids = st.text(alphabet="0123456789abcdef-", min_size=16, max_size=70)
pasted_text = st.lists(hex_id | near_ids | st.text(max_size=40) | st.sampled_from([" ", ",", "\n", "JobId=", "\""]),
                       max_size=12).map("".join)


# -- responses ------------------------------------------------------------------------------------

def _parse(body: bytes, status: int = 200) -> dict | None:
    try:
        return parse_response(body, status)
    except (ApiError, TransportError):
        return None


@PROPERTY
@given(body=st.binary(max_size=400), status=st.integers(100, 599))
@example(body=b"[" * 100_000, status=200)
@example(body=b'{"Response": ' * 50_000, status=200)
def test_parse_response_on_arbitrary_bytes_gives_a_response_or_a_typed_error(body: bytes, status: int) -> None:
    response = _parse(body, status)
    assert response is None or (isinstance(response, dict) and response.get("Error") is None)


@PROPERTY
@given(value=json_values | json_objects.map(lambda inner: {"Response": inner}))
def test_parse_response_on_arbitrary_json_gives_a_response_or_a_typed_error(value: object) -> None:
    body = json.dumps(value).encode()
    try:
        response = parse_response(body, 200)
    except ApiError as error:
        assert isinstance(error.code, str) and error.code
        assert isinstance(error.message, str)
        assert error.request_id is None or isinstance(error.request_id, str)
    except TransportError as error:
        assert error.code.startswith("Transport.")
    else:
        assert isinstance(response, dict) and response.get("Error") is None


@PROPERTY
@given(body=st.binary(max_size=2000) | st.text(max_size=2000))
def test_an_excerpt_of_any_body_is_short_printable_and_on_one_line(body: bytes | str) -> None:
    text = excerpt(body)
    assert len(text) <= 200
    assert text.isprintable()


@PROPERTY
@given(response=json_objects)
def test_job_status_from_any_response_object_is_a_status_or_a_transport_error(response: dict) -> None:
    try:
        status = job_status_from_response(response, 0.1, "0" * 32)
    except TransportError as error:
        assert error.kind in ("no_response", "bad_field", "wrong_job")
    else:
        assert isinstance(status, JobStatus)
        assert status.job_id.lower() == "0" * 32  # about the job asked, or no state at all
        assert isinstance(status.status_code, str) and status.status_code
        for text in (status.job_id, status.status_msg, status.result_video_url, status.request_id):
            assert isinstance(text, str)


async def _poll_once(status: int, body: bytes):
    clock = FakeClock()
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    client = VclmClient(SIM_CREDENTIALS, "ap-guangzhou", "http://127.0.0.1:9", limiter=RateLimiter(19.0, clock=clock),
                        retry=RetryPolicy(attempts=1), transport=transport, clock=clock)
    poller = Poller(client, clock=clock)
    async with client:
        record = poller.add("0" * 32)
        await poller.poll_job(record.job_id)
    return record


answers = (st.binary(max_size=300)
           | json_objects.map(lambda inner: json.dumps({"Response": inner}).encode())
           | st.builds(lambda code, msg: json.dumps({"Response": {"StatusCode": code, "StatusMsg": msg}}).encode(),
                       st.text(max_size=20), st.text(max_size=20)))


@SLOW_PROPERTY
@given(status=st.sampled_from([200, 200, 200, 404, 502]), body=answers)
def test_a_poll_of_any_answer_records_a_state_or_an_error_and_never_raises(status: int, body: bytes) -> None:
    record = asyncio.run(_poll_once(status, body))
    assert record.poll_count == 1
    assert (record.last_error is None) != (record.status_code is None)


# -- endpoints and regions from options, environment and config ------------------------------------

@PROPERTY
@given(endpoint=st.none() | st.text(max_size=60) | st.builds(lambda scheme, rest: f"{scheme}://{rest}",
                                                              st.sampled_from(["http", "https", "HTTP", "ftp"]),
                                                              st.text(max_size=40)),
       region=st.none() | st.text(max_size=30), regional=st.booleans())
def test_any_endpoint_and_region_give_an_endpoint_or_a_config_error(endpoint, region, regional) -> None:
    try:
        resolved = resolve_endpoint(endpoint, region, regional=regional)
    except ConfigError as error:
        assert str(error)
    else:
        assert isinstance(resolved, Endpoint)
        assert resolved.scheme in ("http", "https")
        assert httpx.URL(resolved.url).host  # something httpx can post to
        assert all(ch.isprintable() and not ch.isspace() for ch in resolved.host)


# -- job ids from pasted text ---------------------------------------------------------------------

@PROPERTY
@given(text=pasted_text | st.text(max_size=300), strict=st.booleans())
def test_extracted_ids_are_canonical_unique_and_really_in_the_text(text: str, strict: bool) -> None:
    found = extract_job_ids(text, strict=strict)
    assert len(set(found.ids)) == len(found.ids)
    for job_id in found.ids:
        assert LOWER_HEX_ID.match(job_id)
        assert re.search(re.escape(job_id), text, re.IGNORECASE)
    assert all(len(token) <= 80 for token in found.malformed)


@PROPERTY
@given(ids=st.lists(hex_id, min_size=1, max_size=6),
       separators=st.lists(st.text(alphabet=st.characters(blacklist_characters="0123456789abcdefABCDEF"), min_size=1,
                                   max_size=5), min_size=7, max_size=7))
def test_every_id_set_apart_from_other_hex_is_found_in_order(ids: list[str], separators: list[str]) -> None:
    text = separators[0] + "".join(job_id + sep for job_id, sep in zip(ids, separators[1:]))
    expected = list(dict.fromkeys(job_id.lower() for job_id in ids))
    assert extract_job_ids(text).ids == expected


# -- files ----------------------------------------------------------------------------------------

HUGE_INTEGER = "1" * 5000  # tomllib raises a bare ValueError for it
DEEP_NESTING = "[" * 100_000  # and a RecursionError for this


@PROPERTY
@given(text=toml_text(WATCHLIST_KEYS) | toml_tables(["id", "label"]).map(
    lambda job: tomli_w.dumps({"version": 1, "jobs": [{"id": "a" * 32, **job}]})))
@example(text=f"version = {HUGE_INTEGER}")
@example(text=f"jobs = {DEEP_NESTING}")
def test_the_watchlist_parser_gives_records_or_a_documented_error(text: str) -> None:
    try:
        records = loads(text)
    except (ValueError, WatchlistError):  # TOMLDecodeError is a ValueError
        return
    for record in records:
        assert LOWER_HEX_ID.match(record.job_id)
        assert isinstance(record.label, str) and isinstance(record.status_msg, str)  # kept whole: cut on screen only
        assert len(record.history) <= MAX_HISTORY


@SLOW_PROPERTY
@given(raw=st.binary(max_size=300) | toml_text(WATCHLIST_KEYS).map(str.encode))
@example(raw=f"version = {HUGE_INTEGER}".encode())
@example(raw=f"jobs = {DEEP_NESTING}".encode())
def test_loading_any_watchlist_file_gives_records_or_a_located_error_and_leaves_the_file_as_it_was(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "watchlist.toml"
        path.write_bytes(raw)
        try:
            WatchlistStore(path).load()
        except WatchlistUnparsable as error:
            assert str(path) in str(error)
            assert error.line is None or (error.line >= 1 and (error.column or 1) >= 1)
        except WatchlistTooNew:
            pass
        assert path.read_bytes() == raw
        names = sorted(p.name for p in Path(workdir).iterdir() if not p.name.startswith("watchlist.db"))
        assert names == ["watchlist.toml", "watchlist.toml.lock"]


@PROPERTY
@given(data=toml_tables(CONFIG_KEYS))
@example(data={"rate": 10**400})
@example(data={"min_interval": 10**400})
@example(data={"read_timeout": float("inf")})
@example(data={"history_days": -1})
@example(data={"history_days": float("nan")})
def test_the_config_parser_gives_a_config_or_a_config_error(data: dict) -> None:
    try:
        config = parse_config(data)
    except ConfigError as error:
        assert str(error)
    else:
        assert isinstance(config, Config)
        assert 0 < config.rate <= 20
        assert "job" in config.columns
        assert 0 <= config.history_days < float("inf")


@SLOW_PROPERTY
@given(raw=st.binary(max_size=300) | toml_text(CONFIG_KEYS).map(str.encode))
@example(raw=f"rate = {HUGE_INTEGER}".encode())
@example(raw=b"rate = 0")
@example(raw=f"columns = {DEEP_NESTING}".encode())
def test_loading_any_config_file_gives_a_config_or_a_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "config.toml"
        path.write_bytes(raw)
        try:
            config = load_config(path)
        except ConfigError as error:
            assert str(path) in str(error)
        else:
            assert config.path == path


@PROPERTY
@given(data=toml_tables(THEME_KEYS))
def test_the_theme_parser_gives_a_theme_or_a_theme_error(data: dict) -> None:
    try:
        loaded = parse_theme(data, "theme test.toml")
    except ThemeError as error:
        assert "theme test.toml" in str(error)
    else:
        assert isinstance(loaded, LoadedTheme)


@SLOW_PROPERTY
@given(raw=st.binary(max_size=300) | toml_text(THEME_KEYS).map(str.encode))
def test_loading_any_theme_file_gives_a_theme_or_a_theme_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "mine.toml"
        path.write_bytes(raw)
        try:
            load_theme_file(path)
        except ThemeError as error:
            assert str(path) in str(error)


@pytest.mark.parametrize("text", [f"name = {HUGE_INTEGER}", f"colors = {DEEP_NESTING}"], ids=["huge integer", "deep nesting"])
def test_a_theme_file_tomllib_chokes_on_gives_a_theme_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThemeError):
        load_theme_file(path)


@SLOW_PROPERTY
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
       where=st.sampled_from(["tccli", "ini"]))
def test_any_credentials_file_gives_credentials_or_a_config_error(raw: bytes, where: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / (".tccli/default.credential" if where == "tccli" else ".tencentcloud/credentials")
        path.parent.mkdir(parents=True)
        path.write_bytes(raw)
        try:
            found = resolve_credentials(env={"HOME": home}, system_file=Path(home) / "none")
        except ConfigError as error:
            assert str(error)
        else:
            assert found.secret_id and found.secret_key


def test_every_documented_error_is_a_vclm_error_or_a_value_error() -> None:
    assert issubclass(ApiError, VclmError) and issubclass(TransportError, VclmError)
    assert issubclass(ConfigError, VclmError)
    assert issubclass(tomllib.TOMLDecodeError, ValueError) and issubclass(ThemeError, ValueError)
