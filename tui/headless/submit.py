"""`vclm-watch submit`: submit a video for stylization through the monitor's client, print the JobId.

Result (the JobId, or the answer with --json) on stdout, everything else on stderr. Exit codes as
for `check`: 0 submitted, 2 usage or configuration error (nothing submitted, except when only the
watchlist could not be written after the submission: the JobId is still printed), 3 the API
refused or the request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import TextIO
from urllib.parse import urlsplit

from tui.api.errors import ApiError, ConfigError, TransportError, VclmError
from tui.api.models import SubmittedJob
from tui.api.retry import RetryPolicy
from tui.core.hints import hint_for
from tui.core.jobstate import JobRecord
from tui.core.settings import build_client, load_credentials, load_settings
from tui.core.watchlist import WatchlistError, WatchlistStore
from tui.headless.check import Verdict
from tui.headless.commands import EXIT_INTERRUPTED, MAX_LABEL, Streams, UsageError, _log_to


class SubmitRetry(RetryPolicy):
    """Another attempt only when the service answered with a retryable refusal: after a transport
    error the submission may have gone through, and trying again could create a second job."""

    def should_retry(self, error: VclmError, attempt: int) -> bool:
        return isinstance(error, ApiError) and super().should_retry(error, attempt)


def _check_url(url: str) -> str:
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in text):
        raise UsageError(f"bad video URL {url[:200]!r}: expected an http:// or https:// URL")
    return text


def run(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run `submit`; the exit status."""
    streams = Streams(stdin=None, stdout=sys.stdout if stdout is None else stdout,
                      stderr=sys.stderr if stderr is None else stderr,
                      env=os.environ if env is None else env, command="submit")
    handler = _log_to(streams.stderr)
    try:
        return _submit(args, streams)
    except (UsageError, ConfigError, WatchlistError) as exc:
        streams.note("error", str(exc))
        return Verdict.USAGE
    except KeyboardInterrupt:
        streams.note("", "interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        streams.note("error", f"{exc.strerror or exc}{where}")
        return Verdict.USAGE
    finally:
        logging.getLogger("tui").removeHandler(handler)


def _submit(args: argparse.Namespace, streams: Streams) -> int:
    video_url = _check_url(args.video_url)
    label = " ".join((args.label or "").split())
    if label and not args.add:
        raise UsageError("--label goes with --add")
    if len(label) > MAX_LABEL or any(not ch.isprintable() for ch in label):
        raise UsageError(f"a label is at most {MAX_LABEL} printable characters")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a number of seconds above 0, not {args.timeout:g}")
    settings = load_settings(args, streams.env)
    credentials = load_credentials(settings, streams.env)
    store = WatchlistStore(settings.watchlist_path) if args.add else None
    if store is not None:
        store.peek()  # a watchlist that cannot be used stops us before a job exists

    async def send() -> SubmittedJob:
        async with build_client(settings, credentials, read_timeout=args.timeout) as client:
            client.retry = SubmitRetry()
            return await client.submit_job(args.style, video_url, args.strength)

    try:
        submitted = asyncio.run(send())
    except VclmError as error:
        streams.note("error", _describe_failure(error))
        return Verdict.UNQUERYABLE
    if args.json:
        streams.stdout.write(json.dumps({"JobId": submitted.job_id, "RequestId": submitted.request_id}) + "\n")
    else:
        streams.stdout.write(submitted.job_id + "\n")
    streams.stdout.flush()
    if store is not None:
        _add_to_watchlist(store, submitted.job_id, label, streams)
    return 0


def _describe_failure(error: VclmError) -> str:
    if isinstance(error, ApiError):
        return str(error)  # Code: Message (RequestId ...)
    text = f"{error.code}: {error}"
    if isinstance(error, TransportError):
        text += f"; {hint_for(error.code)}; the job may have been submitted all the same"
    return text


def _add_to_watchlist(store: WatchlistStore, job_id: str, label: str, streams: Streams) -> None:
    def change(records: list[JobRecord]) -> list[JobRecord]:
        if all(record.job_id != job_id for record in records):
            records.append(JobRecord(job_id=job_id, label=label, added_at=time.time()))
        return records

    store.update(change)
    streams.note("", f"added {job_id} to the watchlist {store.path}" + (f"  ({label})" if label else ""))
