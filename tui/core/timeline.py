"""A job's timeline as a bar: the states it was in, in order, how long it spent in each, and how
many cells of a bar each gets (no Textual, no Rich: the detail pane draws it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.api.models import TERMINAL_STATUS_CODES
from tui.core.jobstate import STATE_UNKNOWN, Transition
from tui.core.states import CODE_KEYS


@dataclass(frozen=True, slots=True)
class Stretch:
    """One state the job was in: from `start` for `seconds`; `seconds` is None for the state a job
    finished in (it stays there for good: the time since is not time the job spent working)."""

    code: str  # the StatusCode
    state: str  # its display state (palette key)
    start: float
    seconds: float | None
    current: bool  # the state the job is in now


def stretches(history: Sequence[Transition], now: float) -> list[Stretch]:
    """The states of `history` in order, a repeated state (the same code twice in a row) as one,
    the last one up to `now` (a clock that went back counts as no time, never as negative)."""
    merged: list[tuple[str, float]] = []
    for transition in history:
        if merged and merged[-1][0] == transition.to_code:
            continue
        merged.append((transition.to_code, transition.at))
    out: list[Stretch] = []
    for n, (code, start) in enumerate(merged):
        last = n == len(merged) - 1
        if last and code in TERMINAL_STATUS_CODES:
            seconds: float | None = None
        else:
            seconds = max(0.0, (now if last else merged[n + 1][1]) - start)
        out.append(Stretch(code, CODE_KEYS.get(code, STATE_UNKNOWN), start, seconds, last))
    return out


def cell_widths(seconds: Sequence[float | None], width: int) -> list[int]:
    """How many of `width` cells each stretch gets: one for a finished state (None), and the rest in
    proportion to the time, at least one each while there are cells for all (largest remainders
    take the spare cells, earlier stretches winning ties; the widest give up cells for the one-cell
    minimum). The widths add up to `width` unless every stretch is a finished state; with fewer
    cells than stretches the latest win."""
    if width <= 0 or not seconds:
        return [0] * len(seconds)
    if len(seconds) > width:  # the latest states are what a person looks at: the earliest drop out
        return [0] * (len(seconds) - width) + cell_widths(seconds[len(seconds) - width:], width)
    widths = [1] * len(seconds)
    timed = [n for n, s in enumerate(seconds) if s is not None]
    if not timed:
        return widths
    cells = width - (len(seconds) - len(timed))  # what the finished marker leaves
    total = sum(seconds[n] or 0.0 for n in timed)
    if total <= 0:  # no time has passed: the current (last timed) stretch takes the bar
        widths[timed[-1]] += cells - len(timed)
        return widths
    ideal = {n: cells * (seconds[n] or 0.0) / total for n in timed}
    for n in timed:
        widths[n] = max(1, int(ideal[n]))
    spare = cells - sum(widths[n] for n in timed)
    for n in sorted(timed, key=lambda n: (-(ideal[n] - int(ideal[n])), n))[:max(0, spare)]:
        widths[n] += 1
    while spare < 0:  # the one-cell minimums took more than the remainders left: the widest give
        widest = max(timed, key=lambda n: (widths[n], -n))
        widths[widest] -= 1
        spare += 1
    return widths


def total_seconds(parts: Sequence[Stretch]) -> float:
    """From the first state seen to finished (or to now, for a job not finished)."""
    return sum(part.seconds or 0.0 for part in parts)


def bar_seconds(parts: Sequence[Stretch], steps: int = 256) -> tuple[float | None, ...]:
    """The stretches' times rounded down to a step of about 1/`steps` of the whole (a power of two
    of seconds): a bar at most `steps` cells wide drawn from them is the bar of the exact times to
    a cell, and it changes every few seconds, not every second, while a job runs (a pane redrawn
    every second then keeps the bar's line as it was)."""
    total = total_seconds(parts)
    step = 1.0
    while step * steps < total:
        step *= 2
    return tuple(None if part.seconds is None else (part.seconds // step) * step for part in parts)
