"""`check`: query jobs through the polling engine, once or until they finish, and give the verdict.

The engine (Poller) does the asking, so the rate limiter, retries and error handling are the
TUI's own. Without --wait each job gets exactly one logical query (the client may retry a
retryable failure inside it); with --wait the engine keeps polling unfinished jobs until all
are settled or the deadline passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.errors import TASK_NOT_EXIST, ApiError, VclmError
from tui.api.models import FAILED_STATUS_CODES, JOB_SUCCESS
from tui.api.retry import Backoff
from tui.core.engine import DescribeClient, Poller
from tui.core.events import EngineEvent, HealthChanged, JobUpdated, PollFailed, StateChanged
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord, last_error_of
from tui.core.team import Team
from tui.headless.verdict import Verdict

if TYPE_CHECKING:
    from tui.headless.progress import WaitTally

# Far enough away that a job, once asked about, is never due again during one `check`.
NEVER = 1e9
# Problems that hit every job and will not clear by waiting: stop and report them at once.
HOPELESS_PROBLEMS = ("auth", "config")
# Under --wait, how long an id the service calls unknown (TaskNotExist) is asked again before it
# counts as unqueryable: a just-submitted id can be briefly unknown. Asked again 2 s, 4 s, 8 s,
# then every 10 s, so the verdict comes at most 10 s after the grace ends.
DEFAULT_NOT_FOUND_GRACE = 60.0
WAIT_NOT_FOUND_BACKOFF = Backoff(2.0, 10.0)


@dataclass
class CheckResult:
    records: list[JobRecord]  # in the order the ids were given
    timed_out: bool = False
    aborted_by: VclmError | None = None  # the error that hit every job, if the run was cut short
    verdict: Verdict = Verdict.SUCCESS
    permanent: set[str] = field(default_factory=set)  # ids whose last answer will not change


def job_verdict(record: JobRecord) -> Verdict:
    if record.status_code in FAILED_STATUS_CODES:
        return Verdict.FAILED
    if record.status_code == JOB_SUCCESS:
        return Verdict.SUCCESS
    if record.last_error is not None:
        return Verdict.UNQUERYABLE
    return Verdict.PENDING


def overall_verdict(records: Iterable[JobRecord]) -> Verdict:
    """Failed beats unqueryable beats pending beats success."""
    found = {job_verdict(record) for record in records}
    for verdict in (Verdict.FAILED, Verdict.UNQUERYABLE, Verdict.PENDING):
        if verdict in found:
            return verdict
    return Verdict.SUCCESS


def build_check_poller(client: DescribeClient, *, wait: bool, min_interval: float, clock: Clock = SYSTEM_CLOCK,
                       team: Team | None = None) -> Poller:
    if wait:
        return Poller(client, clock=clock, min_interval=min_interval, not_found_backoff=WAIT_NOT_FOUND_BACKOFF, team=team)
    # One logical query per job: whatever the answer, the job is not due again. (In a team, an
    # answer another process fetched less than min_interval ago is taken instead of a query.)
    never = Backoff(NEVER, NEVER)
    return Poller(client, clock=clock, min_interval=NEVER, error_backoff=never, not_found_backoff=never,
                  team=team, lease=min_interval)


async def check_jobs(
    client: DescribeClient,
    job_ids: list[str],
    *,
    wait: bool = False,
    timeout: float | None = None,
    min_interval: float = 2.0,
    clock: Clock = SYSTEM_CLOCK,
    on_transition: Callable[[StateChanged], None] | None = None,
    not_found_grace: float = DEFAULT_NOT_FOUND_GRACE,
    on_answer: Callable[[JobRecord], None] | None = None,
    on_update: Callable[[JobRecord], None] | None = None,
    tally: WaitTally | None = None,
    team: Team | None = None,
) -> CheckResult:
    """Ask about every job (once, or until settled with `wait`) and return what is known.

    With `wait`, an id answered TaskNotExist is asked again, with backoff, until `not_found_grace`
    seconds from the start have passed; only an answer after that settles it as unqueryable.
    Without `wait`, `on_answer(record)` is called as each job's one query ends (answered or
    failed): its row is final then, and can be printed at once. `on_update(record)` is called
    after every query of a job, with or without `wait` (what is recorded in the job database).
    A `tally` is kept up to date with every answer and state change (`check --wait`'s progress).
    With a `team`, an answer another process fetched within `min_interval` counts as this one's
    (the record says so: `shared_from`).
    """
    poller = build_check_poller(client, wait=wait, min_interval=min_interval, clock=clock, team=team)
    answered: set[str] = set()  # (without --wait: the jobs whose row went out)
    started = clock.monotonic()
    result = CheckResult(records=[])
    last_failure: dict[str, VclmError] = {}
    problem: list[VclmError] = []  # the error behind the engine's current every-job problem

    def listen(event: EngineEvent) -> None:
        if tally is not None and isinstance(event, JobUpdated):
            tally.seen(event.record, settled=settled(event.record))
        if isinstance(event, JobUpdated) and on_update is not None:
            on_update(event.record)
        if isinstance(event, JobUpdated) and not wait and event.record.job_id not in answered:
            answered.add(event.record.job_id)  # its first answer, fetched or taken from the team
            if on_answer is not None:
                on_answer(event.record)
        elif isinstance(event, PollFailed):
            last_failure[event.record.job_id] = event.error
            if tally is not None:  # (JobUpdated came first, before the failure was known here)
                tally.seen(event.record, settled=settled(event.record))
        elif isinstance(event, StateChanged):
            if tally is not None:
                tally.changed(event)
            if on_transition is not None:
                on_transition(event)
        elif isinstance(event, HealthChanged):
            problem[:] = [] if event.problem is None else [event.error or VclmError(event.detail)]
            # Bad credentials hit every job alike, and without --wait so does a network outage
            # (the engine declares one only after several jobs failed after their retries).
            if problem and result.aborted_by is None and (event.problem in HOPELESS_PROBLEMS or not wait):
                result.aborted_by = problem[0]

    def settled(record: JobRecord) -> bool:
        if record.terminal:
            return True
        if record.last_error is None:
            return False
        failure = last_failure.get(record.job_id)
        # A refusal the service will repeat (no such job, bad parameter): waiting changes nothing,
        # except for an id not known yet, within the grace.
        if not (isinstance(failure, ApiError) and not failure.retryable):
            return False
        return not (wait and failure.code == TASK_NOT_EXIST and clock.monotonic() - started < not_found_grace)

    def done() -> bool:
        if result.aborted_by is not None:
            return True
        if wait:
            return all(settled(r) for r in poller.records.values())
        return answered.issuperset(poller.records)

    unsubscribe = poller.subscribe(listen)
    try:
        for job_id in job_ids:
            poller.add(job_id)
        finished = await poller.run_until(done, timeout if wait else None)
    finally:
        unsubscribe()

    result.records = [poller.records[job_id] for job_id in job_ids]
    result.timed_out = not finished
    if problem:  # cut short, or --wait ran out during an outage: the unasked jobs share its fate
        _mark_not_queried(result.records, problem[0], clock.time())
    result.permanent = {r.job_id for r in result.records if settled(r) and not r.terminal}
    result.verdict = overall_verdict(result.records)
    if tally is not None:
        tally.finish(result.records)
    return result


MAX_HINTS = 5


def error_hints(result: CheckResult) -> list[tuple[str, str]]:
    """(code, plain-language hint) for each error the run met, first met first: the hints the
    monitor shows in its banner and detail pane (e.g. a clock more than 5 minutes off)."""
    codes: list[str] = []
    if result.aborted_by is not None:
        codes.append(result.aborted_by.code)
    for record in result.records:
        if record.last_error is not None and record.last_error.code not in codes:
            codes.append(record.last_error.code)
    return [(code, hint_for(code)) for code in codes[:MAX_HINTS]]


def _mark_not_queried(records: list[JobRecord], error: VclmError, now: float) -> None:
    """Jobs never answered when the run ended in an every-job problem carry its error (with no
    RequestId: no request was answered for them)."""
    message = getattr(error, "message", "") or str(error)
    for record in records:
        if record.last_polled is None and record.last_error is None:
            record.last_error = replace(last_error_of(error, now), message=message, request_id=None)
