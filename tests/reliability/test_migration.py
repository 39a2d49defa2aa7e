"""A watchlist of format 1 (states inside the file, as vclm-watch wrote it before the job
database) is migrated by the first process that writes: its states move to the database, the
file keeps ids and labels, and the old file is kept beside it byte for byte. Nothing is lost."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from format1 import dumps_format1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_round_trips import records

from tui.api.clock import FakeClock
from tui.cli import build_parser
from tui.core.engine import Poller
from tui.core.watchlist import FORMAT_VERSION, WatchlistStore, loads_versioned
from tui.headless import commands
from tui.monitor.watchlist_sync import WatchlistSync

# Written by vclm-watch's own writer before the job database (git 9d9a5f5), not by hand.
FIXTURE = Path(__file__).parents[1] / "core" / "data" / "watchlist-format1.toml"
NEW_ID = "fe" * 16


def _as_format1_says(raw: str):
    records_in, version = loads_versioned(raw)
    assert version == 1
    return records_in


def _run(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = commands.run(build_parser().parse_args(list(argv)), stdout=out, stderr=err, env={"HOME": str(tmp_path)})
    return code, out.getvalue(), err.getvalue()


def test_the_fixture_is_what_the_format1_writer_wrote():
    raw = FIXTURE.read_text(encoding="utf-8")
    assert dumps_format1(_as_format1_says(raw)) == raw


def test_a_monitor_started_on_a_format1_file_migrates_it_and_loses_nothing(tmp_path):
    path = tmp_path / "watchlist.toml"
    shutil.copy(FIXTURE, path)
    expected = _as_format1_says(FIXTURE.read_text(encoding="utf-8"))
    poller = Poller(None, clock=FakeClock())  # no client: nothing is asked
    notices: list[str] = []
    sync = WatchlistSync(WatchlistStore(path), poller, problem=lambda *a: None, touched=lambda job_id: None,
                         notice=lambda message, *, title="", severity="", timeout=None: notices.append(title))
    sync.load()
    assert [replace(r, next_poll_at=None) for r in poller.records.values()] == expected  # (the engine schedules)
    text = path.read_text(encoding="utf-8")
    assert f"version = {FORMAT_VERSION}" in text and "JobSuccess" not in text and "status_code" not in text
    assert [r.job_id for r in WatchlistStore(path).peek()] == [r.job_id for r in expected]
    assert (tmp_path / "watchlist.format1.toml").read_bytes() == FIXTURE.read_bytes()
    assert notices == ["Watchlist upgraded"]
    assert WatchlistStore(path).load() == expected  # a restart: every state, from the database, no request


def test_add_migrates_a_format1_file_and_keeps_every_state(tmp_path):
    path = tmp_path / "watchlist.toml"
    shutil.copy(FIXTURE, path)
    expected = _as_format1_says(FIXTURE.read_text(encoding="utf-8"))
    code, _, err = _run(tmp_path, "add", "--watchlist", str(path), NEW_ID)
    assert code == 0, err
    loaded = WatchlistStore(path).load()
    assert loaded[:-1] == expected and loaded[-1].job_id == NEW_ID
    assert (tmp_path / "watchlist.format1.toml").read_bytes() == FIXTURE.read_bytes()


def test_ls_shows_a_format1_file_s_states_and_changes_nothing(tmp_path):
    path = tmp_path / "watchlist.toml"
    shutil.copy(FIXTURE, path)
    code, out, err = _run(tmp_path, "ls", "--json", "--watchlist", str(path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["StatusCode"] for row in rows] == ["JobSuccess", "JobFailed", None]
    assert path.read_bytes() == FIXTURE.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchlist.toml"], "one who only reads writes nothing"


def test_a_second_migration_keeps_the_first_backup(tmp_path):
    path = tmp_path / "watchlist.toml"
    shutil.copy(FIXTURE, path)
    WatchlistStore(path).update(lambda records_in: records_in)
    shutil.copy(FIXTURE, path)  # an older vclm-watch wrote format 1 again
    WatchlistStore(path).update(lambda records_in: records_in)
    backups = sorted(p.name for p in tmp_path.glob("watchlist.format1*.toml"))
    assert len(backups) == 2 and (tmp_path / "watchlist.format1.toml").read_bytes() == FIXTURE.read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), max_size=4, unique_by=lambda r: r.job_id))
def test_any_format1_file_migrates_with_every_field_as_it_was(given_records):
    raw = dumps_format1(given_records)
    expected = _as_format1_says(raw)  # what the old file says (lone surrogates were already U+FFFD there)
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "watchlist.toml"
        path.write_text(raw, encoding="utf-8")
        first = WatchlistStore(path)
        loaded = first.load()
        assert first.needs_migration
        first.save(loaded, observations=False)  # what the monitor does at start
        assert not first.needs_migration
        assert WatchlistStore(path).load() == expected
        assert loads_versioned(path.read_text(encoding="utf-8"))[1] == FORMAT_VERSION


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), max_size=6, unique_by=lambda r: r.job_id))
def test_the_format2_file_round_trips_ids_labels_and_times(given_records):
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "watchlist.toml"
        WatchlistStore(path).save(given_records, observations=False)
        parsed, version = loads_versioned(path.read_text(encoding="utf-8"))
    assert version == FORMAT_VERSION
    assert [(r.job_id, r.label, r.added_at) for r in parsed] == [
        (r.job_id, _no_surrogates(r.label), r.added_at) for r in given_records]


def _no_surrogates(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
