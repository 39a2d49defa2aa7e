"""Where files live, by the XDG conventions (overridable by environment for tests), and reading
one without being fooled by what is not a file."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

APP_DIR = "vclm-watch"


def _base(env_var: str, default: str) -> Path:
    value = os.environ.get(env_var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config") / APP_DIR


def data_dir() -> Path:
    return _base("XDG_DATA_HOME", ".local/share") / APP_DIR


def config_path() -> Path:
    return config_dir() / "config.toml"


def watchlist_path() -> Path:
    return data_dir() / "watchlist.toml"


def demo_watchlist_path() -> Path:
    """The demo's own watchlist: never the user's."""
    return data_dir() / "demo" / "watchlist.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def state_path() -> Path:
    """What the monitor remembers between runs (the theme picked with `t`): never the config file."""
    return data_dir() / "state.toml"


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotAFile(OSError):
    """The path names a directory, a FIFO, a device or a socket, not a regular file."""

    def __init__(self, shown: Path | str, kind: str) -> None:
        super().__init__(f"{shown} is {kind}, not a file")
        self.kind = kind

    def __str__(self) -> str:
        return str(self.args[0])


def special_kind(mode: int) -> str | None:
    """What a non-regular file is ("a FIFO (named pipe)"), None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def refuse_special(mode: int, shown: Path | str) -> None:
    kind = special_kind(mode)
    if kind is not None:
        raise NotAFile(shown, kind)


def read_regular_file(path: Path | str) -> bytes:
    """The bytes of a regular file. Anything else is refused before a byte is read: a FIFO is
    opened without blocking (a plain open would wait for a writer forever) and a device such as
    /dev/zero is never read (it would be read forever). FileNotFoundError as usual."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        refuse_special(os.fstat(fd).st_mode, path)
        os.set_blocking(fd, True)
        # One buffer of the file's size, filled in place (a 100,000-job watchlist is 11 MB:
        # reading it in pieces and joining them copied it twice).
        with io.FileIO(fd, "rb", closefd=False) as handle:
            return handle.readall()
    finally:
        os.close(fd)
