"""The watchlist writer of vclm-watch before the job database (format 1: states in the file),
kept as it was so that tests can make the files that today's users have on disk."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import tomli_w

from tui.core.jobstate import MAX_HISTORY, JobRecord

_SURROGATE = re.compile("[\ud800-\udfff]")


def _ts(value: float | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def record_to_toml(record: JobRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record.job_id, "label": record.label}
    pairs = {
        "added_at": _ts(record.added_at),
        "status_code": record.status_code,
        "status_msg": record.status_msg or None,
        "result_video_url": record.result_video_url or None,
        "url_received_at": _ts(record.url_received_at),
        "state_since": _ts(record.state_since),
        "last_change": _ts(record.last_change),
        "last_polled": _ts(record.last_polled),
        "last_request_id": record.last_request_id,
        "poll_count": record.poll_count or None,
    }
    out.update({k: v for k, v in pairs.items() if v is not None})
    if record.last_error is not None:
        err = record.last_error
        out["last_error"] = {k: v for k, v in {
            "code": err.code, "message": err.message, "request_id": err.request_id, "at": _ts(err.at),
        }.items() if v is not None}
    if record.history:
        out["history"] = [
            {k: v for k, v in {"at": _ts(t.at), "from": t.from_code, "to": t.to_code}.items() if v is not None}
            for t in record.history[-MAX_HISTORY:]
        ]
    return out


def dumps_format1(records: Iterable[JobRecord]) -> str:
    text = tomli_w.dumps({"version": 1, "jobs": [record_to_toml(r) for r in records]})
    return _SURROGATE.sub("\ufffd", text)
