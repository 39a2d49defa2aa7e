"""`vclm-watch add`, `remove` and `ls` on the watchlist file, alone and beside other writers."""

from __future__ import annotations

import json
import time

import pytest

from tui.api.models import JOB_RUNNING, JOB_SUCCESS
from tui.core.jobstate import JobRecord, LastError
from tui.core.watchlist import WatchlistStore

LS_KEYS = ["JobId", "Label", "StatusCode", "StatusMsg", "ResultVideoUrl", "RequestId", "Error", "AddedAt", "LastPolled"]
A, B, C, D = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)


@pytest.fixture
def watchlist(isolated_home):
    return isolated_home / "lists" / "watchlist.toml"


def _ids_on_disk(path) -> list[str]:
    return [record.job_id for record in WatchlistStore(path).load()]


def _ls_json(cli, path) -> list[dict]:
    result = cli("ls", "--json", "--watchlist", str(path))
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.lines()]


# -- add ------------------------------------------------------------------------------------------

def test_add_writes_ids_with_their_label(shell, watchlist):
    result = shell("add", "--watchlist", str(watchlist), "--label", "trailer cut", A, B.upper())
    assert result.code == 0, result.stderr
    assert result.lines() == [f"added {A}  (trailer cut)", f"added {B}  (trailer cut)"]
    rows = _ls_json(shell, watchlist)
    assert [(row["JobId"], row["Label"]) for row in rows] == [(A, "trailer cut"), (B, "trailer cut")]


def test_add_goes_to_the_default_watchlist_without_the_option(shell, isolated_home):
    assert shell("add", A).code == 0
    assert _ids_on_disk(isolated_home / ".local" / "share" / "vclm-watch" / "watchlist.toml") == [A]


def test_add_skips_and_reports_ids_already_watched(shell, watchlist):
    shell("add", "--watchlist", str(watchlist), "--label", "first", A)
    result = shell("add", "--watchlist", str(watchlist), "--label", "second", A, B)
    assert result.code == 0
    assert f"skipped {A}  (already in the watchlist)" in result.lines()
    assert [(row["JobId"], row["Label"]) for row in _ls_json(shell, watchlist)] == [(A, "first"), (B, "second")]


def test_add_with_a_malformed_id_writes_nothing(shell, watchlist):
    result = shell("add", "--watchlist", str(watchlist), A, "12345")
    assert result.code == 2
    assert "'12345'" in result.stderr and "Traceback" not in result.stderr
    assert not watchlist.exists()


def test_add_rejects_a_label_with_control_characters(shell, watchlist):
    result = shell("add", "--watchlist", str(watchlist), "--label", "\x1b[31mred", A)
    assert result.code == 2
    assert not watchlist.exists()


def test_add_reads_ids_from_free_text_on_stdin(shell, watchlist):
    text = f'[{{"JobId": "{A}"}}, {{"JobId": "{B}", "RequestId": "6f1c2a4e-0b7d-4c1e-9a3b-2d4e5f607182"}}]'
    result = shell("add", "--watchlist", str(watchlist), "-", stdin=text)
    assert result.code == 0, result.stderr
    assert _ids_on_disk(watchlist) == [A, B]


@pytest.mark.parametrize("command", ["add", "remove"])
def test_a_near_miss_id_on_stdin_changes_nothing_and_exits_2(shell, watchlist, command):
    shell("add", "--watchlist", str(watchlist), B)
    before = watchlist.read_bytes()
    text = f"JobId={A}\nJobId={B[:31]}\n"  # the second lost a character when pasted
    result = shell(command, "--watchlist", str(watchlist), "-", stdin=text)
    assert result.code == 2
    assert "near-miss" in result.stderr and B[:31] in result.stderr
    assert watchlist.read_bytes() == before


def test_add_needs_no_credentials_and_no_network(shell, watchlist):
    result = shell("add", "--watchlist", str(watchlist), "--endpoint", "http://127.0.0.1:9", A, credentials=False)
    assert result.code == 0, result.stderr


BROKEN = f'version = 1\n[[jobs]]\nid = "{B}"\n[[jobs]\nid = "{C}"\n'  # line 4, column 7: an unclosed header


@pytest.mark.parametrize("command", [["add", A], ["add", "--label", "x", B], ["remove", B]])
def test_add_and_remove_refuse_a_watchlist_that_does_not_parse_and_leave_it_as_it_is(shell, watchlist, command):
    watchlist.parent.mkdir(parents=True)
    watchlist.write_text(BROKEN)
    result = shell(command[0], "--watchlist", str(watchlist), *command[1:])
    assert result.code == 2
    assert result.stdout == ""
    assert f"{watchlist}:4:7" in result.stderr and "Fix it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert watchlist.read_text() == BROKEN
    names = sorted(p.name for p in watchlist.parent.iterdir() if not p.name.startswith("watchlist.db"))  # (the job database)
    assert names == ["watchlist.toml", "watchlist.toml.lock"]


def test_add_refuses_a_bad_entry_naming_its_line(shell, watchlist):
    watchlist.parent.mkdir(parents=True)
    text = f'version = 1\n\n[[jobs]]\nid = "{B}"\n\n[[jobs]]\nid = "{B[:20]}"\n'
    watchlist.write_text(text)
    result = shell("add", "--watchlist", str(watchlist), A)
    assert result.code == 2
    assert f"{watchlist}:6:1" in result.stderr and "job #2" in result.stderr
    assert watchlist.read_text() == text


# -- remove ---------------------------------------------------------------------------------------

REMOVE_CASES = [
    pytest.param([A], 0, [B, C], id="known-0"),
    pytest.param([A, D], 0, [B, C], id="known-and-unknown-0"),
    pytest.param([D], 1, [A, B, C], id="only-unknown-1"),
    pytest.param(["xyz"], 2, [A, B, C], id="malformed-2"),
]


@pytest.mark.parametrize(("ids", "expected", "left"), REMOVE_CASES)
def test_remove(shell, watchlist, ids, expected, left):
    shell("add", "--watchlist", str(watchlist), A, B, C)
    result = shell("remove", "--watchlist", str(watchlist), *ids)
    assert result.code == expected, result.stderr
    assert _ids_on_disk(watchlist) == left
    if D in ids:
        assert "not in the watchlist" in result.stderr and D in result.stderr


# -- ls -------------------------------------------------------------------------------------------

def _saved_with_states(path) -> None:
    done = JobRecord(job_id=A, label="done one", added_at=1_764_000_000.0, status_code=JOB_SUCCESS,
                     status_msg="处理完成", result_video_url="https://example.invalid/a.mp4",
                     last_request_id="11111111-2222-4333-8444-555555555555", last_polled=1_764_000_100.0)
    failing = JobRecord(job_id=B, label="", added_at=1_764_000_000.0, status_code=JOB_RUNNING, status_msg="处理中",
                        last_error=LastError("FailedOperation.InnerError", "", "66666666-7777-4888-9999-000000000000",
                                             1_764_000_200.0))
    WatchlistStore(path).save([done, failing])  # the file gets ids and labels, the job database the states


def test_ls_json_gives_the_saved_states_with_exact_fields(shell, watchlist):
    _saved_with_states(watchlist)
    rows = _ls_json(shell, watchlist)
    assert [list(row) for row in rows] == [LS_KEYS, LS_KEYS]
    assert rows[0] == {
        "JobId": A, "Label": "done one", "StatusCode": JOB_SUCCESS, "StatusMsg": "处理完成",
        "ResultVideoUrl": "https://example.invalid/a.mp4", "RequestId": "11111111-2222-4333-8444-555555555555",
        "Error": None, "AddedAt": "2025-11-24T16:00:00.000Z", "LastPolled": "2025-11-24T16:01:40.000Z",
    }
    assert rows[1]["Error"] == {"Code": "FailedOperation.InnerError", "Message": "",
                                "RequestId": "66666666-7777-4888-9999-000000000000",
                                "HttpStatus": None, "ContentType": "", "Excerpt": ""}  # (check --json's fields)


def test_ls_text_is_a_plain_table_when_piped(shell, watchlist):
    _saved_with_states(watchlist)
    result = shell("ls", "--watchlist", str(watchlist))
    assert result.code == 0
    lines = result.lines()
    assert lines[0].split()[:3] == ["JobId", "Label", "StatusCode"]
    assert lines[1].startswith(A) and "done one" in lines[1] and JOB_SUCCESS in lines[1]
    assert "FailedOperation.InnerError" in lines[2]


def test_ls_says_a_job_never_polled_is_not_polled_yet_and_json_keeps_null(shell, watchlist):
    shell("add", "--watchlist", str(watchlist), A)
    text = shell("ls", "--watchlist", str(watchlist))
    assert "not polled yet" in text.lines()[1] and "pending" not in text.stdout
    assert _ls_json(shell, watchlist)[0]["StatusCode"] is None


def test_ls_of_no_watchlist_says_it_is_empty(shell, watchlist):
    result = shell("ls", "--watchlist", str(watchlist))
    assert (result.code, result.stdout) == (0, "")
    assert "is empty" in result.stderr
    assert not watchlist.parent.exists(), "ls only looks: it creates nothing"


def test_ls_leaves_an_unreadable_watchlist_where_it_is(shell, watchlist):
    watchlist.parent.mkdir(parents=True)
    watchlist.write_text("jobs = 'oops")
    result = shell("ls", "--watchlist", str(watchlist))
    assert result.code == 2
    assert "cannot be read" in result.stderr and "Traceback" not in result.stderr
    assert f"{watchlist}:1:13" in result.stderr
    assert watchlist.read_text() == "jobs = 'oops"
    assert list(watchlist.parent.glob("*.corrupt-*")) == []


# -- several writers ------------------------------------------------------------------------------

def test_concurrent_adds_from_many_shells_lose_nothing(cli, watchlist):
    batches = [[f"{writer:02x}{n:030x}" for n in range(5)] for writer in range(4)]
    processes = [cli.start("add", "--watchlist", str(watchlist), *batch) for batch in batches]
    results = [cli.finish(process) for process in processes]
    assert [r.code for r in results] == [0] * len(batches), [r.stderr for r in results]
    assert sorted(_ids_on_disk(watchlist)) == sorted(job for batch in batches for job in batch)


def test_a_monitor_saving_after_a_shell_add_keeps_both_changes(cli, watchlist):
    """The monitor's store (in this process) and `add` (another process) write the same file."""
    cli("add", "--watchlist", str(watchlist), A)
    monitor = WatchlistStore(watchlist)
    records = monitor.load()
    records.append(JobRecord(job_id=B, label="from the monitor"))  # the monitor's own change, not saved yet

    assert cli("add", "--watchlist", str(watchlist), "--label", "from the shell", C).code == 0

    synced = monitor.sync(records)  # the monitor's periodic look at the file
    assert [r.job_id for r in synced.added] == [C]
    records += synced.added
    monitor.save(records)
    assert sorted(_ids_on_disk(watchlist)) == [A, B, C]
    labels = {row["JobId"]: row["Label"] for row in _ls_json(cli, watchlist)}
    assert labels == {A: "", B: "from the monitor", C: "from the shell"}


def test_a_monitor_removal_not_yet_saved_survives_a_sync_and_a_shell_add(shell, watchlist):
    shell("add", "--watchlist", str(watchlist), A, B)
    monitor = WatchlistStore(watchlist)
    records = [r for r in monitor.load() if r.job_id != A]  # removed in the monitor, not saved yet
    assert shell("add", "--watchlist", str(watchlist), C).code == 0
    records += monitor.sync(records).added
    monitor.save(records)
    assert sorted(_ids_on_disk(watchlist)) == [B, C]


def test_a_monitor_saving_without_syncing_first_still_keeps_the_shell_add(shell, watchlist):
    monitor = WatchlistStore(watchlist)
    records = monitor.load()
    records.append(JobRecord(job_id=A))
    assert shell("add", "--watchlist", str(watchlist), B).code == 0
    result = monitor.save(records)  # merges what is on disk
    assert [r.job_id for r in result.added] == [B]
    assert sorted(_ids_on_disk(watchlist)) == [A, B]


def test_add_waits_for_the_lock_held_by_another_writer(cli, watchlist):
    store = WatchlistStore(watchlist)
    with store.locked():
        process = cli.start("add", "--watchlist", str(watchlist), A)
        time.sleep(0.5)
        assert process.poll() is None, "add must wait while another process holds the lock"
    assert cli.finish(process).code == 0
    assert _ids_on_disk(watchlist) == [A]


def test_remove_from_the_shell_reaches_the_monitor_on_its_next_sync(shell, watchlist):
    shell("add", "--watchlist", str(watchlist), A, B)
    monitor = WatchlistStore(watchlist)
    records = monitor.load()
    assert shell("remove", "--watchlist", str(watchlist), A).code == 0
    assert monitor.sync(records).removed == [A]



def test_add_to_a_watchlist_that_cannot_be_written_is_a_one_line_error(shell, isolated_home):
    blocker = isolated_home / "a-file"
    blocker.write_text("")
    result = shell("add", "--watchlist", str(blocker / "watchlist.toml"), A)  # its directory is a file
    assert result.code == 2
    assert result.stderr.startswith("vclm-watch add: error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
