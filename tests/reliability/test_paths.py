"""Paths are what the user meant: a symlinked watchlist keeps its link (the change goes to the
target, the lock sits beside the target); a profile is a name, never a path; what is not a
regular file (a FIFO, a device, a directory) is refused at once, not read forever; a credential
file other users can read is warned about. Real symlinks, FIFOs and devices throughout."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from ptykit import REPO, STARTUP_DEADLINE, PtyRun, cli_env

from tui.api.credentials import resolve_credentials
from tui.api.errors import ConfigError
from tui.core.jobstate import JobRecord
from tui.core.watchlist import WatchlistStore
from tui.simulator.server import run_in_thread
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator

JOB = "a" * 32
NEW = "c" * 32
CLI_DEADLINE = 20.0  # seconds; a refusal takes a Python start-up, a hang would take forever
MEMORY_CAP = 1 << 30  # a command that reads /dev/zero fails here instead of filling the machine


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def vclm(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], env=cli_env(home, env), cwd=REPO, capture_output=True,
                          text=True, timeout=CLI_DEADLINE, stdin=subprocess.DEVNULL, preexec_fn=_cap_memory)


def _ids(path: Path) -> list[str]:
    return [record.job_id for record in WatchlistStore(path).peek()]


# -- symlinks --------------------------------------------------------------------------------------

def _absolute_link(link: Path, target: Path) -> None:
    link.symlink_to(target)


def _relative_link(link: Path, target: Path) -> None:
    link.symlink_to(os.path.relpath(target, link.parent))


def _chained_link(link: Path, target: Path) -> None:
    middle = link.with_name("middle.toml")
    middle.symlink_to(target)
    link.symlink_to(middle)


LINKS = {"absolute": _absolute_link, "relative": _relative_link, "link to a link": _chained_link}


def _save(link: Path, _home: Path) -> None:  # what the monitor does
    store = WatchlistStore(link)
    store.save(store.load() + [JobRecord(job_id=NEW)])


def _update(link: Path, _home: Path) -> None:
    WatchlistStore(link).update(lambda records: records + [JobRecord(job_id=NEW)])


def _add_command(link: Path, home: Path) -> None:
    done = vclm(home, "add", NEW, "--watchlist", str(link))
    assert done.returncode == 0, done.stderr


WRITERS = {"monitor save": _save, "update": _update, "vclm-watch add": _add_command}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("link_kind", LINKS)
def test_a_symlinked_watchlist_keeps_its_link_and_the_change_goes_to_the_target(tmp_path, link_kind, writer):
    target = tmp_path / "dotfiles" / "watchlist.toml"
    target.parent.mkdir()
    WatchlistStore(target).update(lambda _: [JobRecord(job_id=JOB)])
    link = tmp_path / "config" / "watchlist.toml"
    link.parent.mkdir()
    LINKS[link_kind](link, target)

    WRITERS[writer](link, tmp_path)

    assert link.is_symlink()
    assert link.resolve() == target.resolve()
    assert _ids(target) == [JOB, NEW]
    assert (target.parent / "watchlist.toml.lock").exists()  # where every writer of the target looks
    assert not (link.parent / "watchlist.toml.lock").exists()


def test_a_dangling_symlink_gets_its_target_created(tmp_path):
    target = tmp_path / "elsewhere" / "watchlist.toml"
    link = tmp_path / "watchlist.toml"
    link.symlink_to(target)
    WatchlistStore(link).update(lambda records: records + [JobRecord(job_id=NEW)])
    assert link.is_symlink() and _ids(target) == [NEW]


def test_the_monitor_saves_through_a_symlink(tmp_path):
    target = tmp_path / "dotfiles" / "watchlist.toml"
    target.parent.mkdir()
    WatchlistStore(target).update(lambda _: [JobRecord(job_id=JOB, label="x", added_at=1.0),
                                             JobRecord(job_id=NEW, label="y", added_at=2.0)])
    link = tmp_path / "watchlist.toml"
    link.symlink_to(target)
    home = tmp_path / "home"
    home.mkdir()
    run = PtyRun("--watchlist", str(link), env=cli_env(home))
    try:
        run.wait_for_text(NEW[:8], STARTUP_DEADLINE)
        mark = len(run.output)
        run.type("d")
        run.wait_for_text("Press u to undo", 10, start=mark)
        run.type("q")
        assert run.wait_exit(10) == 0
    finally:
        run.close()
    assert link.is_symlink()
    assert _ids(target) == [NEW]


# -- special files ------------------------------------------------------------------------------------

def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.toml"
    path.mkdir()
    return path


def _symlink_to_fifo(tmp_path: Path) -> Path:
    link = tmp_path / "link.toml"
    link.symlink_to(_fifo(tmp_path))
    return link


# Places of our own that may be written to if the refusal failed; devices only where nothing writes.
WRITABLE_SPECIALS = {"FIFO": (_fifo, "a FIFO (named pipe)"), "directory": (_directory, "a directory"),
                     "symlink to a FIFO": (_symlink_to_fifo, "a FIFO (named pipe)")}
DEVICES = {"/dev/null": "a character device", "/dev/zero": "a character device"}


def _special(tmp_path: Path, name: str) -> tuple[Path, str]:
    if name in DEVICES:
        return Path(name), DEVICES[name]
    make, kind = WRITABLE_SPECIALS[name]
    return make(tmp_path), kind


@pytest.mark.parametrize("name", list(WRITABLE_SPECIALS) + list(DEVICES))
def test_ls_refuses_a_watchlist_that_is_not_a_file(tmp_path, name):
    path, kind = _special(tmp_path, name)
    done = vclm(tmp_path, "ls", "--watchlist", str(path))
    assert done.returncode == 2
    assert f"{path} is {kind}, not a file" in done.stderr


@pytest.mark.parametrize("command", ["add", "remove"])
@pytest.mark.parametrize("name", list(WRITABLE_SPECIALS))
def test_add_and_remove_refuse_a_watchlist_that_is_not_a_file_and_leave_it(tmp_path, name, command):
    path, kind = _special(tmp_path, name)
    done = vclm(tmp_path, command, JOB, "--watchlist", str(path))
    assert done.returncode == 2
    assert f"{path} is {kind}, not a file" in done.stderr
    assert not path.resolve().is_file()  # the FIFO or directory is still what it was
    assert not list(path.resolve().parent.glob("*.lock"))  # refused before even taking the lock


@pytest.mark.parametrize("name", list(WRITABLE_SPECIALS) + list(DEVICES))
def test_a_config_that_is_not_a_file_is_refused(tmp_path, name):
    path, kind = _special(tmp_path, name)
    done = vclm(tmp_path, "ls", "--config", str(path), "--watchlist", str(tmp_path / "w.toml"))
    assert done.returncode == 2
    assert f"{path} is {kind}, not a file" in done.stderr


def test_a_symlinked_config_is_read_and_keeps_its_link(tmp_path):
    target = tmp_path / "dotfiles" / "config.toml"
    target.parent.mkdir()
    target.write_text(tomli_w.dumps({"watchlist": str(tmp_path / "w.toml")}))
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    WatchlistStore(tmp_path / "w.toml").update(lambda _: [JobRecord(job_id=JOB)])
    done = vclm(tmp_path, "ls", "--config", str(link), "--json")
    assert done.returncode == 0, done.stderr
    assert JOB in done.stdout
    assert link.is_symlink()


@pytest.mark.parametrize("name", list(WRITABLE_SPECIALS))
def test_the_monitor_shows_a_watchlist_that_is_not_a_file_as_a_problem_and_never_writes_it(tmp_path, name):
    path, kind = _special(tmp_path, name)
    home = tmp_path / "home"
    home.mkdir()
    run = PtyRun("--watchlist", str(path), env=cli_env(home))
    try:
        run.wait_for_text("Watchlist not loaded", STARTUP_DEADLINE)
        run.type("q")
        assert run.wait_exit(10) == 0
    finally:
        run.close()
    assert not path.resolve().is_file()


# -- profile names -------------------------------------------------------------------------------------

BAD_PROFILES = ["../evil", "..", "a/b", "/etc/passwd", "a\\b", "x/../../y", "tab\there", "nul\x00"]


@pytest.fixture
def planted_credentials(tmp_path) -> Path:
    """Credentials where `--profile ../evil` would find them: outside ~/.tccli."""
    (tmp_path / ".tccli").mkdir()
    (tmp_path / "evil.credential").write_text(
        json.dumps({"secretId": DEFAULT_SECRET_ID, "secretKey": DEFAULT_SECRET_KEY}))
    return tmp_path


@pytest.mark.parametrize("profile", BAD_PROFILES)
@pytest.mark.parametrize("where", ["option", "config"])
def test_a_profile_is_a_name_and_a_path_is_refused_with_exit_2(planted_credentials, tmp_path, profile, where):
    if "\x00" in profile:
        pytest.skip("an argument cannot carry NUL")
    args = ["--profile", profile] if where == "option" else ["--config", str(_config(tmp_path, profile))]
    with run_in_thread(Simulator(seed=1)) as server:
        done = vclm(planted_credentials, "check", "--endpoint", server.base_url, JOB, *args)
    assert done.returncode == 2
    assert "bad profile name" in done.stderr


def _config(tmp_path: Path, profile: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps({"profile": profile}))
    return path


def test_the_monitor_refuses_a_path_as_profile_before_starting(planted_credentials):
    done = vclm(planted_credentials, "--profile", "../evil")
    assert done.returncode == 2
    assert "bad profile name" in done.stderr


@pytest.mark.parametrize("profile", BAD_PROFILES)
def test_credentials_never_read_through_a_profile_that_is_a_path(planted_credentials, profile):
    with pytest.raises(ConfigError, match="bad profile name"):
        resolve_credentials(profile=profile, env={"HOME": str(planted_credentials)})


# -- credential files other users can read ----------------------------------------------------------------

def _tccli(home: Path) -> Path:
    path = home / ".tccli" / "default.credential"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"secretId": DEFAULT_SECRET_ID, "secretKey": DEFAULT_SECRET_KEY}))
    return path


def _sdk_ini(home: Path) -> Path:
    path = home / ".tencentcloud" / "credentials"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"[default]\nsecret_id = {DEFAULT_SECRET_ID}\nsecret_key = {DEFAULT_SECRET_KEY}\n")
    return path


CREDENTIAL_FILES = {"tccli profile": _tccli, "SDK credentials file": _sdk_ini}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
@pytest.mark.parametrize("kind", CREDENTIAL_FILES)
def test_a_credential_file_others_can_read_is_warned_about(tmp_path, kind, mode):
    path = CREDENTIAL_FILES[kind](tmp_path)
    path.chmod(mode)
    credentials = resolve_credentials(env={"HOME": str(tmp_path)})
    assert len(credentials.warnings) == 1
    assert str(path) in credentials.warnings[0] and f"{mode:04o}" in credentials.warnings[0]
    assert DEFAULT_SECRET_KEY not in credentials.warnings[0]


@pytest.mark.parametrize("kind", CREDENTIAL_FILES)
def test_a_private_credential_file_gets_no_warning(tmp_path, kind):
    CREDENTIAL_FILES[kind](tmp_path).chmod(0o600)
    assert resolve_credentials(env={"HOME": str(tmp_path)}).warnings == ()


def test_check_warns_on_stderr_about_a_credential_file_others_can_read(tmp_path):
    path = _tccli(tmp_path)
    path.chmod(0o644)
    simulator = Simulator(seed=1)
    job = simulator.create_job(fate="JobSuccess", init_seconds=0.0, run_seconds=0.0)
    with run_in_thread(simulator) as server:
        done = vclm(tmp_path, "check", "--endpoint", server.base_url, job)
    assert done.returncode == 0, done.stderr
    assert f"warning: {path} can be read by other users (mode 0644)" in done.stderr


def test_the_monitor_warns_in_a_toast_about_a_credential_file_others_can_read(tmp_path):
    path = _tccli(tmp_path)
    path.chmod(0o644)
    with run_in_thread(Simulator(seed=1)) as server:
        run = PtyRun("--endpoint", server.base_url, "--watchlist", str(tmp_path / "w.toml"), env=cli_env(tmp_path))
        try:
            run.wait_for_text("Credentials exposed", STARTUP_DEADLINE)
            run.wait_for_text("users (mode 0644)", 10)
            run.type("q")
            assert run.wait_exit(10) == 0
        finally:
            run.close()
