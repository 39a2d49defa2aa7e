"""What the monitor remembers between runs: the theme last picked (with `t` or the palette).

Kept in a small TOML file of its own in the data directory (`paths.state_path()`), written
atomically; the user's config file is never rewritten. Precedence at start: an explicit
`--theme` > the remembered choice > the config file's `theme` > the default.
"""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from pathlib import Path

import tomli_w

from tui.core import paths

log = logging.getLogger(__name__)

MAX_NAME = 100  # a theme name longer than this is not one we wrote


def remembered_theme(path: Path | None = None) -> str | None:
    """The theme last picked, or None (no file, or one that cannot be read: never fatal)."""
    path = path or paths.state_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None
    theme = data.get("theme")
    return theme if isinstance(theme, str) and 0 < len(theme) <= MAX_NAME else None


def remember_theme(name: str, path: Path | None = None) -> bool:
    """Remember `name` for the next start (temporary file, fsync, rename); False if it failed
    (logged: a read-only or full disk costs only the memory of the choice)."""
    path = path or paths.state_path()
    if remembered_theme(path) == name:
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(tomli_w.dumps({"theme": name}).encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.warning("cannot remember the theme in %s: %s", path, exc)
        return False
    return True
