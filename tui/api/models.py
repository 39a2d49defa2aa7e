"""What the API says about a job: status codes and the parsed Describe answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SERVICE = "vclm"
API_VERSION = "2024-05-23"
DEFAULT_HOST = "vclm.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
# A region's form: ap-guangzhou, na-siliconvalley, ap-shanghai-fsi (it becomes part of a host name)
REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
QUOTA_PER_SECOND = 20

DESCRIBE_ACTION = "DescribeVideoStylizationJob"
SUBMIT_ACTION = "SubmitVideoStylizationJob"

JOB_INIT = "JobInit"
JOB_RUNNING = "JobRunning"
JOB_SUCCESS = "JobSuccess"
JOB_FAILED = "JobFailed"
JOB_MODERATION_FAILED = "JobModerationFailed"

KNOWN_STATUS_CODES = (JOB_INIT, JOB_RUNNING, JOB_SUCCESS, JOB_FAILED, JOB_MODERATION_FAILED)
TERMINAL_STATUS_CODES = frozenset({JOB_SUCCESS, JOB_FAILED, JOB_MODERATION_FAILED})
FAILED_STATUS_CODES = frozenset({JOB_FAILED, JOB_MODERATION_FAILED})

STYLE_IDS = ("2d_anime", "3d_cartoon", "3d_china", "pixel_art")
STYLE_STRENGTHS = ("low", "medium", "high")

# Ids seen in practice are 32 lowercase hex characters; upper case is accepted and folded.
JOB_ID_RE = re.compile(r"^[0-9a-fA-F]{32}$")

# How long a ResultVideoUrl stays valid after the answer that carried it.
RESULT_URL_VALIDITY_SECONDS = 24 * 3600


def is_terminal(status_code: str | None) -> bool:
    return status_code in TERMINAL_STATUS_CODES


def is_valid_job_id(text: str) -> bool:
    return bool(JOB_ID_RE.match(text))


def normalize_job_id(text: str) -> str:
    """Return the canonical (lower-case) form of a job id, or raise ValueError."""
    candidate = text.strip()
    if not JOB_ID_RE.match(candidate):
        raise ValueError(f"not a job id (32 hex characters expected): {candidate[:80]!r}")
    return candidate.lower()


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One successful DescribeVideoStylizationJob answer.

    `status_code` is kept verbatim, even when it is not one of KNOWN_STATUS_CODES.
    """

    job_id: str
    status_code: str
    status_msg: str
    result_video_url: str
    request_id: str
    latency: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status_code)

    @property
    def known(self) -> bool:
        return self.status_code in KNOWN_STATUS_CODES


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    job_id: str
    request_id: str
