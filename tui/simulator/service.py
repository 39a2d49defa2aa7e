"""The simulated VCLM service: accounts, signature checks, quota, jobs and their lifecycle, faults.

Pure server-side logic with no I/O of its own: `Simulator.handle` turns one HTTP request into
one `SimAnswer`, and the two front-ends (the in-process httpx transport and the loopback
server) only carry bytes. Time comes from the injected clock and chance from RNGs seeded
from `seed`, so a given seed, clock and request sequence always give the same run.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tui.api.clock import SYSTEM_CLOCK, Clock
from tui.api.errors import TASK_NOT_EXIST
from tui.api.models import (
    API_VERSION,
    DEFAULT_REGION,
    DESCRIBE_ACTION,
    JOB_FAILED,
    JOB_INIT,
    JOB_MODERATION_FAILED,
    JOB_RUNNING,
    JOB_SUCCESS,
    QUOTA_PER_SECOND,
    RESULT_URL_VALIDITY_SECONDS,
    SERVICE,
    STYLE_IDS,
    STYLE_STRENGTHS,
    SUBMIT_ACTION,
)
from tui.api.signing import V1_COMMON_FIELDS
from tui.simulator.auth import Account, Refusal, Request, authenticate, read_request
from tui.simulator.faults import ANSWER_FAULTS, GATEWAY_FAULTS, SERVICE_FAULTS, Faults
from tui.simulator.results import DEFAULT_SIZE_RANGE, ResultBody, ResultFaults, ResultFiles

# Made-up credentials the simulator accepts when given no accounts. Not a secret of anyone's.
DEFAULT_SECRET_ID = "AKIDsimulator0000000000000000000000"
DEFAULT_SECRET_KEY = "simulator-secret-key-00000000000"

ARRIVALS_KEPT = 200_000  # per SecretId, for max_in_window: hours at the full quota

STATUS_MESSAGES = {
    JOB_INIT: "初始化中",
    JOB_RUNNING: "处理中",
    JOB_SUCCESS: "处理完成",
    JOB_FAILED: "处理失败",
    JOB_MODERATION_FAILED: "审核失败",
}
FATES = (JOB_SUCCESS, JOB_FAILED, JOB_MODERATION_FAILED)

# Where the simulator pretends to offer VCLM: a well-formed region elsewhere gets UnsupportedRegion,
# as from the service (see VCLM-API.md, common errors).
SERVED_REGIONS = frozenset({
    "ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-nanjing", "ap-hongkong",
    "ap-singapore", "ap-bangkok", "ap-jakarta", "ap-seoul", "ap-tokyo", "ap-mumbai", "na-siliconvalley",
    "na-ashburn", "eu-frankfurt", "sa-saopaulo", "ap-shanghai-fsi", "ap-shenzhen-fsi",
})

RATE_LIMIT_MESSAGE = "Request frequency exceeds the limit of this action."

# Codes whose message follows X-TC-Language (zh-CN, the default, or en-US).
LOCALISED_MESSAGES = {
    TASK_NOT_EXIST: ("任务不存在。", "The task does not exist."),
    "FailedOperation.InnerError": ("内部错误，请稍后重试。", "Internal error, please try again later."),
}

def bad_gateway_body(request_number: int) -> bytes:
    """A gateway's 502 page, as nginx in front of a service writes it: with its own id of the
    request (a new one each time), so no two pages of one outage are the same."""
    return (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n"
        + f"<center>request {request_number:016x}</center>\r\n".encode("ascii")
        + b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )

JSON_HEADERS = (("Content-Type", "application/json"),)
HTML_HEADERS = (("Content-Type", "text/html"),)
TEXT_HEADERS = (("Content-Type", "text/plain; charset=utf-8"),)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """How long jobs stay in each state (simulated seconds) and how they end."""

    init_seconds: tuple[float, float] = (1.0, 3.0)
    run_seconds: tuple[float, float] = (10.0, 40.0)
    p_failed: float = 0.05
    p_moderation_failed: float = 0.05  # decided at the end of JobInit: such jobs never run
    result_url_base: str = "https://vclm-result.example.invalid/stylized"

    def __post_init__(self) -> None:
        for name in ("init_seconds", "run_seconds"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (min, max) with 0 <= min <= max, not {(low, high)!r}")
        if not (0 <= self.p_failed <= 1 and 0 <= self.p_moderation_failed <= 1):
            raise ValueError("fate probabilities must be between 0 and 1")
        if self.p_failed + self.p_moderation_failed > 1 + 1e-9:
            raise ValueError("p_failed + p_moderation_failed must not exceed 1")


@dataclass(slots=True)
class SimJob:
    job_id: str
    style_id: str
    style_strength: str
    video_url: str
    created_at: float  # simulated seconds since the simulator started
    init_seconds: float
    run_seconds: float
    fate: str
    owner: str | None = None  # SecretId that submitted it; None: visible to every account
    region: str | None = None
    inner_errors_left: int = 0

    def status_at(self, sim_now: float) -> str:
        elapsed = sim_now - self.created_at
        if elapsed < self.init_seconds:
            return JOB_INIT
        if self.fate == JOB_MODERATION_FAILED:
            return JOB_MODERATION_FAILED
        if elapsed < self.init_seconds + self.run_seconds:
            return JOB_RUNNING
        return self.fate


@dataclass(frozen=True, slots=True)
class SimAnswer:
    """What to send back for one request, and how the front-end must misbehave while sending it.

    `drop`: close the connection without answering. `stall`: wait this many seconds (on the
    simulator clock) before sending. `stream`: a result file's body, sent in chunks after the
    headers (which then hold its Content-Length); `body` is empty.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    drop: bool = False
    stall: float = 0.0
    fault: str | None = None
    request_id: str | None = None
    error_code: str | None = None
    stream: ResultBody | None = None


@dataclass
class SimStats:
    """Counters for tests and benchmarks. Times are the simulator clock's monotonic seconds."""

    requests: int = 0
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # per SecretId, in arrival order
    actions: Counter = field(default_factory=Counter)  # X-TC-Action as received
    errors: Counter = field(default_factory=Counter)  # error code answered
    faults: Counter = field(default_factory=Counter)  # fault kind served
    rate_limited: int = 0  # RequestLimitExceeded answered, quota and storms alike
    quota_rejections: int = 0  # of which because the quota was really exceeded
    asked: Counter = field(default_factory=Counter)  # Describe requests answered about each job (by id)

    def max_in_window(self, window: float = 1.0, secret_id: str | None = None) -> int:
        """Most arrivals of one SecretId in any sliding `window` (half-open: (t - window, t])."""
        series = [self.arrivals.get(secret_id, [])] if secret_id is not None else list(self.arrivals.values())
        best = 0
        for times in series:
            for i, t in enumerate(times):
                first = bisect.bisect_right(times, t - window, 0, i + 1)
                best = max(best, i + 1 - first)
        return best


def _normalise_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name.strip().lower(), value.strip())
    return out


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Simulator:
    """The VCLM service's server side. See the module docstring; thread-safe for one loop plus helpers."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        speed: float = 1.0,
        accounts: Mapping[str, str | Account] | None = None,
        quota: int = QUOTA_PER_SECOND,
        quota_window: float = 1.0,
        lifecycle: Lifecycle | None = None,
        faults: Faults | None = None,
        log: Callable[[str], None] | None = None,
        result_base: str | None = None,
        result_sizes: tuple[int, int] = DEFAULT_SIZE_RANGE,
        result_faults: ResultFaults | None = None,
    ) -> None:
        """`result_base` (e.g. `http://127.0.0.1:PORT/results/`): hand out result URLs under it and
        serve the files at them (see results.py); None keeps the made-up URLs that point nowhere."""
        if not speed > 0:
            raise ValueError(f"speed must be above 0, not {speed!r}")
        if quota < 1 or quota_window <= 0:
            raise ValueError("quota must be at least 1 request per window of more than 0 seconds")
        self.seed = seed
        self.clock = clock
        self.speed = float(speed)
        self.quota = quota
        self.quota_window = quota_window
        self.lifecycle = lifecycle or Lifecycle()
        self.faults = faults or Faults()
        self.log = log
        self.stats = SimStats()
        self.accounts: dict[str, Account] = {}
        for secret_id, value in (accounts if accounts is not None else {DEFAULT_SECRET_ID: DEFAULT_SECRET_KEY}).items():
            self.accounts[secret_id] = value if isinstance(value, Account) else Account(value)
        self.jobs: dict[str, SimJob] = {}
        self._lock = threading.RLock()
        # One stream per concern, so e.g. turning a fault on does not change the job ids.
        self._id_rng = random.Random(f"{seed}/ids")
        self._request_rng = random.Random(f"{seed}/requests")
        self._fault_rng = random.Random(f"{seed}/faults")
        self._network_rng = random.Random(f"{seed}/network")
        self._quota_hits: dict[str, deque[float]] = {}
        self._mono_start = clock.monotonic()
        self.results = ResultFiles(
            seed=seed, clock=clock, find_job=self.jobs.get, status_of=self.status_of, sim_now=self.sim_now,
            base=result_base, size_range=result_sizes, faults=result_faults,
        )

    def __repr__(self) -> str:
        return f"Simulator(seed={self.seed!r}, speed={self.speed!r}, jobs={len(self.jobs)}, accounts={list(self.accounts)})"

    # -- time -------------------------------------------------------------------------------

    def sim_now(self) -> float:
        """Simulated seconds since start: the clock's, `speed` times faster."""
        return (self.clock.monotonic() - self._mono_start) * self.speed

    # -- accounts ---------------------------------------------------------------------------

    def add_account(self, secret_id: str, secret_key: str, *, tokens: Iterable[str] = ()) -> None:
        """Accept this SecretId; with `tokens`, as temporary credentials needing one of them."""
        with self._lock:
            self.accounts[secret_id] = Account(secret_key, frozenset(tokens))

    def revoke_account(self, secret_id: str) -> None:
        """From now on this SecretId is unknown (AuthFailure.SecretIdNotFound), as after deletion."""
        with self._lock:
            self.accounts.pop(secret_id, None)

    # -- jobs -------------------------------------------------------------------------------

    def _new_id(self) -> str:
        while True:
            job_id = f"{self._id_rng.getrandbits(128):032x}"
            if job_id not in self.jobs:
                return job_id

    def phantom_job_id(self) -> str:
        """A well-formed job id that no job has (drawn from the seeded id stream)."""
        with self._lock:
            return self._new_id()

    def _new_job(
        self,
        style_id: str,
        style_strength: str,
        video_url: str,
        *,
        owner: str | None,
        region: str | None,
        fate: str | None = None,
        init_seconds: float | None = None,
        run_seconds: float | None = None,
        inner_errors: int = 0,
    ) -> SimJob:
        if fate is not None and fate not in FATES:
            raise ValueError(f"fate must be one of {', '.join(FATES)}, not {fate!r}")
        if style_id not in STYLE_IDS:
            raise ValueError(f"style_id must be one of {', '.join(STYLE_IDS)}, not {style_id!r}")
        job_id = self._new_id()
        # Each job's chances come from its own stream: its fate depends on the seed and its
        # rank only, not on how many requests came before it.
        rng = random.Random(f"{self.seed}/job/{len(self.jobs)}")
        life = self.lifecycle
        drawn_init = rng.uniform(*life.init_seconds)
        drawn_run = rng.uniform(*life.run_seconds)
        u = rng.random()
        if u < life.p_moderation_failed:
            drawn_fate = JOB_MODERATION_FAILED
        elif u < life.p_moderation_failed + life.p_failed:
            drawn_fate = JOB_FAILED
        else:
            drawn_fate = JOB_SUCCESS
        job = SimJob(
            job_id=job_id,
            style_id=style_id,
            style_strength=style_strength,
            video_url=video_url,
            created_at=self.sim_now(),
            init_seconds=drawn_init if init_seconds is None else float(init_seconds),
            run_seconds=drawn_run if run_seconds is None else float(run_seconds),
            fate=fate or drawn_fate,
            owner=owner,
            region=region,
            inner_errors_left=inner_errors,
        )
        self.jobs[job_id] = job
        return job

    def create_job(
        self,
        style_id: str = "2d_anime",
        *,
        fate: str | None = None,
        init_seconds: float | None = None,
        run_seconds: float | None = None,
        inner_errors: int = 0,
        style_strength: str = "medium",
        video_url: str = "https://media.example.invalid/input.mp4",
    ) -> str:
        """Create a job directly (no request), visible to every account in every region.

        Unset durations and fate are drawn as for a submitted job. `inner_errors=N`: the
        first N Describe queries of this job answer FailedOperation.InnerError.
        """
        with self._lock:
            return self._new_job(
                style_id, style_strength, video_url, owner=None, region=None, fate=fate,
                init_seconds=init_seconds, run_seconds=run_seconds, inner_errors=inner_errors,
            ).job_id

    def set_fate(
        self,
        job_id: str,
        fate: str | None = None,
        *,
        init_seconds: float | None = None,
        run_seconds: float | None = None,
        inner_errors: int | None = None,
    ) -> None:
        """Change how an existing job ends or how long its states last (measured from its creation)."""
        with self._lock:
            job = self.jobs[job_id]
            if fate is not None:
                if fate not in FATES:
                    raise ValueError(f"fate must be one of {', '.join(FATES)}, not {fate!r}")
                job.fate = fate
            if init_seconds is not None:
                job.init_seconds = float(init_seconds)
            if run_seconds is not None:
                job.run_seconds = float(run_seconds)
            if inner_errors is not None:
                job.inner_errors_left = inner_errors

    def status_of(self, job_id: str) -> str:
        """The StatusCode a Describe would answer now (no request, no fault, no quota)."""
        with self._lock:
            return self.jobs[job_id].status_at(self.sim_now())

    # -- the request path -------------------------------------------------------------------

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
    ) -> SimAnswer:
        """One HTTP request in, one answer out. Network latency passes on the simulator clock."""
        with self._lock:
            delay = self.faults.network_delay(self._network_rng)
        if delay > 0:
            await self.clock.sleep(delay)
        answer = self.respond(method, path, headers, body)
        if self.faults.latency_after > 0:
            await self.clock.sleep(self.faults.latency_after)
        return answer

    def respond(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
    ) -> SimAnswer:
        """The answer to a request that arrives now (no network delay)."""
        if self.results.serves(path):
            with self._lock:
                served = self.results.respond(method, path, _normalise_headers(headers))
            if self.log is not None:
                self.log(f"file {method} {path.split('?')[0]} HTTP {served.status}")
            return SimAnswer(served.status, served.headers, served.body, stream=served.stream)
        request = read_request(method, path, _normalise_headers(headers), body)
        with self._lock:
            answer = self._respond(request)
        if self.log is not None:
            self.log(f"{request.action or '-'} {self._describe_answer(answer)}")
        return answer

    def _respond(self, request: Request) -> SimAnswer:
        stats = self.stats
        stats.requests += 1
        now = self.clock.monotonic()
        claimed = request.claimed_secret_id()
        if claimed:
            arrivals = stats.arrivals.setdefault(claimed, [])
            arrivals.append(now)
            if len(arrivals) > ARRIVALS_KEPT:  # a long demo must not grow without bound
                del arrivals[: ARRIVALS_KEPT // 2]
        action = request.action
        stats.actions[action] += 1

        fault = self.faults.draw(GATEWAY_FAULTS, self._fault_rng)
        if fault is not None:
            stats.faults[fault] += 1
        if fault == "http_502":
            return SimAnswer(502, HTML_HEADERS, bad_gateway_body(stats.faults[fault]), fault=fault)
        if fault == "drop":
            return SimAnswer(0, (), b"", drop=True, fault=fault)

        # POST with TC3 or a v1 form; GET only with v1 parameters in the query string.
        if request.method not in ("GET", "POST") or (request.method == "GET" and not request.v1):
            return SimAnswer(405, TEXT_HEADERS + (("Allow", "GET, POST"),),
                             b"405 Method Not Allowed: POST / (or GET / with signature v1 parameters) only\n")
        if request.path != "/":
            return SimAnswer(404, TEXT_HEADERS, b"404 Not Found: the API is served at /\n")

        request_id = str(uuid.UUID(int=self._request_rng.getrandbits(128), version=4))
        english = request.language.lower().startswith("en")
        describe_success = False
        try:
            response = self._serve(request, action)
            describe_success = action == DESCRIBE_ACTION
        except Refusal as refusal:
            stats.errors[refusal.code] += 1
            if refusal.code.startswith("RequestLimitExceeded"):
                stats.rate_limited += 1
            message = refusal.message
            if refusal.code in LOCALISED_MESSAGES:
                message = LOCALISED_MESSAGES[refusal.code][1 if english else 0]
            response = {"Error": {"Code": refusal.code, "Message": message}, "RequestId": request_id}
            error_code: str | None = refusal.code
        else:
            response["RequestId"] = request_id
            response = dict(sorted(response.items()))  # the service's key order
            error_code = None

        applicable = ANSWER_FAULTS if describe_success else ("stall", "malformed_json")
        fault = self.faults.draw(ANSWER_FAULTS, self._fault_rng, applicable)
        if fault is not None:
            stats.faults[fault] += 1
        if fault == "unknown_status":
            response.update(StatusCode=self.faults.unknown_status_code,
                            StatusMsg=self.faults.unknown_status_msg, ResultVideoUrl="")
        encoded = json.dumps({"Response": response}, ensure_ascii=False).encode("utf-8")
        if fault == "malformed_json":
            encoded = encoded[: len(encoded) // 2]  # an answer cut short: not JSON
        stall = self.faults.stall_seconds if fault == "stall" else 0.0
        return SimAnswer(200, JSON_HEADERS, encoded, stall=stall, fault=fault,
                         request_id=request_id, error_code=error_code)

    def _serve(self, request: Request, action: str) -> dict[str, Any]:
        """The service proper, in the real service's order of checks; raises Refusal."""
        secret_id = authenticate(request, self.accounts, int(self.clock.time()))
        version = request.version
        if not version:
            raise Refusal("MissingParameter", f"The request is missing a required parameter `{request.name_of('Version')}`.")
        if version != API_VERSION:
            raise Refusal("NoSuchVersion", f"The requested version `{version[:40]}` of service `{SERVICE}` does not exist.")
        if not action:
            raise Refusal("MissingParameter", f"The request is missing a required parameter `{request.name_of('Action')}`.")
        if action not in (DESCRIBE_ACTION, SUBMIT_ACTION):
            raise Refusal("InvalidAction", f"The requested action `{action[:80]}` does not exist.")
        self._take_quota(secret_id)

        fault = self.faults.draw(SERVICE_FAULTS, self._fault_rng)
        if fault is not None:
            self.stats.faults[fault] += 1
        if fault == "rate_limit":
            raise Refusal("RequestLimitExceeded", RATE_LIMIT_MESSAGE)
        if fault == "internal_error":
            raise Refusal("InternalError", "An internal error has occurred. Retry your request later.")
        if fault == "inner_error":
            raise Refusal("FailedOperation.InnerError", "")

        params: Any
        if request.form is not None:
            params = {name: value for name, value in request.form.items() if name not in V1_COMMON_FIELDS}
        else:
            try:
                params = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise Refusal("InvalidParameter", "The request body is not valid JSON.") from None
            if not isinstance(params, dict):
                raise Refusal("InvalidParameter", "The request body must be a JSON object.")
        region = request.region or DEFAULT_REGION
        if region not in SERVED_REGIONS:
            raise Refusal("UnsupportedRegion", f"The action does not support the region `{region[:60]}`.")
        if action == SUBMIT_ACTION:
            return self._submit(params, secret_id, region)
        return self._describe(params, secret_id, region)

    def _take_quota(self, secret_id: str) -> None:
        """Count a request against its SecretId at its arrival time; refused ones do not count."""
        now = self.clock.monotonic()
        hits = self._quota_hits.setdefault(secret_id, deque())
        while hits and hits[0] <= now - self.quota_window:
            hits.popleft()
        if len(hits) >= self.quota:
            self.stats.quota_rejections += 1
            raise Refusal("RequestLimitExceeded", RATE_LIMIT_MESSAGE)
        hits.append(now)

    def _submit(self, params: dict[str, Any], secret_id: str, region: str) -> dict[str, Any]:
        for name in ("StyleId", "VideoUrl"):
            if params.get(name) is None:
                raise Refusal("MissingParameter", f"The request is missing a required parameter `{name}`.")
        style_id = params["StyleId"]
        if style_id not in STYLE_IDS:
            raise Refusal("InvalidParameterValue.StyleNotExist",
                           f"StyleId `{str(style_id)[:40]}` does not exist; one of {', '.join(STYLE_IDS)}.")
        strength = params.get("StyleStrength")
        strength = "medium" if strength is None else strength
        if strength not in STYLE_STRENGTHS:
            raise Refusal("InvalidParameterValue.StyleStrengthNotExist",
                           f"StyleStrength `{str(strength)[:40]}` does not exist; one of {', '.join(STYLE_STRENGTHS)}.")
        video_url = params["VideoUrl"]
        if not _is_http_url(video_url):
            raise Refusal("InvalidParameterValue.UrlIllegal", "VideoUrl must be an http or https URL.")
        job = self._new_job(style_id, strength, video_url, owner=secret_id, region=region)
        return {"JobId": job.job_id}

    def _describe(self, params: dict[str, Any], secret_id: str, region: str) -> dict[str, Any]:
        job_id = params.get("JobId")
        if job_id is None:
            raise Refusal("MissingParameter", "The request is missing a required parameter `JobId`.")
        if not isinstance(job_id, str):
            raise Refusal("InvalidParameter", "JobId must be a string.")
        job = self.jobs.get(job_id.strip().lower())
        if job is None or (job.owner is not None and (job.owner != secret_id or job.region != region)):
            raise Refusal(TASK_NOT_EXIST, "")
        self.stats.asked[job_id.strip().lower()] += 1
        if job.inner_errors_left > 0:
            job.inner_errors_left -= 1
            raise Refusal("FailedOperation.InnerError", "")
        status = job.status_at(self.sim_now())
        return {
            "JobId": job.job_id,
            "ResultVideoUrl": self._result_url(job) if status == JOB_SUCCESS else "",
            "StatusCode": status,
            "StatusMsg": STATUS_MESSAGES[status],
        }

    def _result_url(self, job: SimJob) -> str:
        """A fresh signed-looking URL, valid for 24 hours from this answer."""
        expiry = int(self.clock.time()) + RESULT_URL_VALIDITY_SECONDS
        served = self.results.url_for(job.job_id, expiry)
        if served is not None:
            return served
        sign = hashlib.sha256(f"{self.seed}:{job.job_id}:{expiry}".encode()).hexdigest()[:32]
        return f"{self.lifecycle.result_url_base}/{job.job_id}.mp4?sign={sign}&t={expiry}"

    @staticmethod
    def _describe_answer(answer: SimAnswer) -> str:
        if answer.drop:
            return "fault drop: connection closed without an answer"
        if answer.status != 200:
            return f"HTTP {answer.status}" + (f" (fault {answer.fault})" if answer.fault else "")
        outcome = answer.error_code or "ok"
        if answer.error_code is None:
            try:
                status = json.loads(answer.body)["Response"].get("StatusCode")
            except (ValueError, KeyError, TypeError):
                status = None
            outcome = status or "ok"
        extra = f" (fault {answer.fault})" if answer.fault else ""
        return f"{answer.request_id} {outcome}{extra}"
