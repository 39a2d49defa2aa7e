"""The exit statuses of the shell commands: `check`'s verdicts, whose USAGE every command shares
(a module of its own, so that `add` can exit with it without importing `check`'s engine)."""

from __future__ import annotations

import enum


class Verdict(enum.IntEnum):
    """The exit status of `check`, worst first when several jobs disagree (see EXIT_CODES_HELP)."""

    SUCCESS = 0
    FAILED = 1
    USAGE = 2
    UNQUERYABLE = 3
    PENDING = 4
