"""Presentation of times, durations, ids and outside text, always relative to an injected `now`."""

from __future__ import annotations

import time
import unicodedata

SHORT_ID_CHARS = 8


def duration(seconds: float | None, *, coarse: bool = False) -> str:
    """A compact duration: 0s, 42s, 3m05s, 2h07m, 4d03h.

    `coarse` drops the seconds past the first minute (3m): text redrawn every second then
    changes once a minute, which is what a person reads in a table anyway, and what keeps a
    screen of running jobs from repainting every row every second (CPU, and bytes over SSH).
    """
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m" if coarse else f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def relative(then: float | None, now: float, *, coarse: bool = False) -> str:
    """'3s ago', 'in 4s', or 'never' (`coarse`: as for `duration`)."""
    if then is None:
        return "never"
    delta = now - then
    if delta < 0:
        return f"in {duration(-delta, coarse=coarse)}" if delta <= -1 else "now"
    if delta < 1:
        return "now"
    return f"{duration(delta, coarse=coarse)} ago"


def timestamp(at: float | None) -> str:
    """Local date and time of a wall-clock instant, to the second."""
    if at is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def clock_time(at: float | None) -> str:
    if at is None:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(at))


def short_id(job_id: str, chars: int = SHORT_ID_CHARS) -> str:
    return job_id[:chars]


def inert(text: object, limit: int = 200, *, placeholder: str = "�") -> str:
    """Outside text made safe to show: control characters and escape sequences become visible
    placeholders, and long strings are cut with an ellipsis (limit 0: no cut). (Markup safety
    is the caller's job: put the result into a rich.text.Text, never into markup.)"""
    raw = "" if text is None else str(text)
    out: list[str] = []
    for ch in raw:
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch == "\x7f":
            out.append(placeholder)
        else:
            out.append(ch)
    cleaned = "".join(out)
    if limit and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned


def rate(value: float) -> str:
    return f"{value:.1f}"


def byte_size(n: int | None) -> str:
    """Bytes as a person reads them: 812 B, 1.00 kB, 14.3 MB, 1.20 GB (powers of 1000, as `ls -h --si`)."""
    if n is None:
        return "?"
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
