"""Team mode across machines: the account's quota, job leases and answers, shared through Redis/Valkey.

Every process pointed at one server (`--shared URL`) is a member of its account's team there.
Everything lives under `vclm:{<account key>}:` (the braces make it one hash slot, so the scripts'
keys stay together on a cluster too):

- `window`: a sorted set of request starts, scored in microseconds of the **server's** clock
  (`TIME` inside the script), so no two machines' clocks need to agree. `GATE` trims it, counts the
  starts within the caller's span and records one only if fewer than `ceiling` are there and the
  team's last start is at least 1/rate old; otherwise it says how long to wait.
- `lease:<job>`: `SET NX PX` by the member polling the job; `answer:<job>`: its newest answer,
  stamped with the time its request was sent on the **server's** clock (the server's now less the
  answer's age, which its member measured on its own clock: "fresh" and "newer" are judged on one
  clock), also PUBLISHed on the `answers` channel, which every member's listener reads. An answer
  asked no later than the one stored (a slow poll's, ending after a newer one) is neither stored
  nor announced.
- `members`: heartbeats (sorted by server time, dropped after MEMBER_TTL); `epoch`: a random value
  every heartbeat keeps alive. A server that restarted empty, or was flushed, has none: whoever
  sees that rejoins (see below).

Nothing of the credentials goes there: the account key is a salted hash (team.account_key), the
member a random id, values are the service's answers.

When the server cannot be reached (refused, dropped, restarted, slower than `timeout` per call)
the process falls back to a local window at a share of the quota, target ÷ max(2, members last
seen), or target ÷ 4 while it has never seen a count (processes started while the server was
down), so that all of them together stay under it; claims are granted locally. Keeping the whole
quota in any second at the server through the changes over:

- falling back: the first local start waits one span after the fault was seen, so no start the
  server granted before the fault shares a window with a local one;
- rejoining (the probe, every PROBE_INTERVAL, reaches the server; or the epoch is gone): the
  starts of the last RECORD_SPAN are written into the server's window (at the server's now minus
  their age), and for REJOIN_GRACE (longer than the probe interval plus a timeout, so every other
  member has rejoined and written its own starts by then) the process still keeps to its local
  share besides asking the server. Until every member is back each keeps to its share, and after
  that the server's window holds every start.

Background loops wait in real time (they pace I/O); every time they judge comes from the
injected clock, and `check_now()` runs one round at once for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tui.api.clock import Clock
from tui.api.ratelimit import DEFAULT_TARGET_RATE
from tui.core.team import Claim, QuotaGate, SharedAnswer, TeamMode, TeamStatus, share_divisor

CALL_TIMEOUT = 0.5  # seconds: every call to the server, connecting included
PROBE_INTERVAL = 0.5  # seconds between heartbeats (shared) or probes (fallback)
MEMBER_TTL = 3.0  # a member not heard of for this long has left
EPOCH_TTL = 5.0  # the epoch outlives this many seconds without any heartbeat
REJOIN_GRACE = 2.0  # after a rejoin, keep to the local share this long (> probe interval + timeout)
RECORD_SPAN = 2.0  # own starts this recent are written into the server's window on a rejoin
RATE_SPAN = 5.0  # combined_rate is counted over this many seconds
ANSWER_TTL = 120.0  # a stored answer is kept this long (claims hand it back only while fresh)
INBOX_LIMIT = 10_000  # answers waiting for drain(): the latest per job, at most this many jobs
# A process's first requests reach the API later than its steady ones (lazy imports, a new
# connection, a loop busy loading): counted this much later in the team's window, so that the
# limiter's margin is not spent on them (the limiter corrects its own window from round trips,
# which the first requests have none of yet to judge by).
WARMUP_STARTS = 10  # ...its first this many starts,
WARMUP_SECONDS = 3.0  # ...and those of its first this many seconds of requests
WARMUP_LATENESS = 0.1
FIRST_LATENESS = 0.25  # ...and its very first start this much: it opens the connection (LocalTeam's slack too)

_US = 1_000_000

# KEYS: window, epoch, grid.  ARGV: epoch, span µs, ceiling, interval µs, start id, keep µs, expire ms,
# lateness µs. Returns {-1, 0}: the epoch is not ours (restarted, flushed); {0, now}: recorded at
# server time `now` (µs); {1, wait}: refused, ask again in `wait` µs.
# The team is paced on a grid (`grid` holds the slot of the last start): a start let through up to
# two intervals late does not push every later one back (two back to back at most), as in the
# process's own limiter; the window bounds every span whatever the pace does. A start is
# counted in the window `lateness` after `now`: how much later than usual it may reach the API.
GATE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = tonumber(ARGV[2])
local ceiling = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[6]))
local inside = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - span), '+inf', 'WITHSCORES')
local n = #inside / 2
local wait = 0
if n >= ceiling then
  wait = tonumber(inside[(n - ceiling) * 2 + 2]) + span - now
end
local slot = tonumber(redis.call('GET', KEYS[3]) or '')
if slot then
  wait = math.max(wait, slot + interval - now)
end
if wait > 0 then return {1, math.ceil(wait)} end
local due = now
if slot and now - (slot + interval) < 2 * interval then due = slot + interval end
redis.call('SET', KEYS[3], string.format('%d', due), 'PX', ARGV[7])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[8]), ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {0, now}
"""

# KEYS: window, epoch.  ARGV: epoch, start id prefix, expire ms, ages µs...
# Writes this member's recent starts at the server's now minus their age. Returns -1 if the epoch
# is not ours, else how many were written.
RECORD = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], now - tonumber(ARGV[i]), ARGV[2] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return #ARGV - 3
"""

# KEYS: members, epoch, window.  ARGV: member, new epoch, member ttl µs, epoch ttl ms, rate span µs.
# Returns {epoch, created (1/0), members, starts within the rate span}.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local epoch = redis.call('GET', KEYS[2])
local created = 0
if not epoch then
  epoch = ARGV[2]
  created = 1
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[4])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) / 1000))
local members = redis.call('ZCARD', KEYS[1])
local recent = redis.call('ZCOUNT', KEYS[3], '(' .. (now - tonumber(ARGV[5])), '+inf')
return {epoch, created, members, recent}
"""

# KEYS: lease, answer.  ARGV: member, min_interval µs.
# Returns {1, answer, age µs}: a fresh answer another member fetched; {2, '', lease ms left}: another
# member's poll is out; {0, '', 0}: leased to the caller (its own fresh answer is no reason not to).
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[2])
if stored then
  local stamp, by, message = string.match(stored, '^(%d+) (%S+) (.*)$')
  local at = tonumber(stamp)
  if at and by ~= ARGV[1] and now - at < interval then
    return {1, message, now - at}
  end
end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return {2, '', redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, math.floor(interval / 1000)))
return {0, '', 0}
"""

# KEYS: answer.  ARGV: message, ttl ms, channel, member, age µs (since the answer's request was sent).
# Stored as "<server µs the request was sent> <member> <message>", and published, unless the answer
# stored was asked at the same time or later: returns 1 when stored, 0 when not.
PUBLISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now - math.max(0, tonumber(ARGV[5]))
local stored = redis.call('GET', KEYS[1])
if stored then
  local before = tonumber(string.match(stored, '^(%d+) '))
  if before and before >= at then return 0 end
end
redis.call('SET', KEYS[1], string.format('%d', at) .. ' ' .. ARGV[4] .. ' ' .. ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
"""

# KEYS: leases...  ARGV: member.  Deletes the leases still held by the member.
RELEASE = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
"""


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***` (userinfo and `password=` in the query)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:***@{host}"
        query = parts.query
        if query:
            pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode(pairs, safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "the shared server's URL"


def _password_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
    except ValueError:
        return None
    return parts.password or query.get("password") or None


def answer_from(text: Any, *, received_at: float, age: float | None = None) -> SharedAnswer | None:
    """An answer as published (JSON: job, by, latency, age, response); None if it is not one. Its
    `polled_at` is `age` seconds before `received_at` (this process's clock); without `age`, the age
    its member published it with (the time from its request to its publication, on that member's
    clock: no two machines' clocks need to agree)."""
    try:
        data = json.loads(text)
        response = data["response"]
        if not isinstance(response, dict):
            return None
        return SharedAnswer(
            job_id=str(data["job"]),
            response=response,
            polled_at=received_at - max(0.0, float(data.get("age") or 0.0) if age is None else age),
            latency=float(data.get("latency") or 0.0),
            by=str(data.get("by") or ""),
        )
    except (ValueError, TypeError, KeyError):
        return None


def keep_newest(inbox: dict[str, SharedAnswer], answer: SharedAnswer) -> None:
    """Put `answer` in the inbox unless it holds one of the job's asked later; the latest arrival
    last, and no more than INBOX_LIMIT jobs (the oldest arrival goes)."""
    kept = inbox.pop(answer.job_id, None)
    if kept is not None and kept.polled_at > answer.polled_at:
        answer = kept
    if len(inbox) >= INBOX_LIMIT:
        inbox.pop(next(iter(inbox)))
    inbox[answer.job_id] = answer


class RedisTeam:
    """One process's membership of its account's team on a Redis or Valkey server (see the module
    docstring for what is kept there and how faults are ridden out). Implements `Team`, and its
    own `QuotaGate`."""

    def __init__(
        self,
        url: str,
        account: str,
        *,
        clock: Clock,
        member: str | None = None,
        timeout: float = CALL_TIMEOUT,
        probe_interval: float = PROBE_INTERVAL,
        grace: float = REJOIN_GRACE,
    ) -> None:
        self.url = url
        self.account = account
        self.clock = clock
        self.member = "".join((member or secrets.token_hex(8)).split())  # (no blanks: stored answers are split on them)
        self.timeout = timeout
        self.probe_interval = probe_interval
        self.grace = grace
        self._prefix = f"vclm:{{{account}}}:"
        self._channel = self._prefix + "answers"
        self._redis: Any = None
        self._scripts: dict[str, Any] = {}
        self._wake: Callable[[], None] = lambda: None
        self._mode: TeamMode = "fallback"  # (until start() has joined: nothing is shared yet)
        self._problem: str | None = None
        self._started = False
        self._epoch: str | None = None
        self._members = 1
        self._share_members = 0  # the member count the local share is divided by (share_divisor; 0: none seen yet)
        self._combined: float | None = None
        self._rate = DEFAULT_TARGET_RATE  # the rate the limiter last asked with
        self._fell_at: float | None = None  # monotonic: when the current fallback began
        self._fallen = False  # a fallback happened since the last join (not only "not joined yet")
        self._grace_until = float("-inf")  # monotonic: keep to the local share until then
        self._own: deque[float] = deque()  # monotonic times of this process's recent starts
        self._seq = 0
        self._granted = 0  # starts the server granted this process
        self._first_grant: float | None = None  # monotonic: when the first was
        self._grants: deque[tuple[float, str]] = deque(maxlen=256)  # (monotonic, start id) of recent ones
        self._moves: set[asyncio.Task[None]] = set()
        self._leases: set[str] = set()  # granted, not yet answered or released
        self._inbox: dict[str, SharedAnswer] = {}
        self._taken = 0
        self._keeper: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._stop = asyncio.Event()
        self._rejoin_lock = asyncio.Lock()
        self.heard = 0  # messages read from the channel (every member's, this one's too)
        self.server_starts: deque[int] = deque(maxlen=10_000)  # server times (µs) of the starts it granted us

    # -- Team ----------------------------------------------------------------------------

    @property
    def gate(self) -> QuotaGate:
        return self

    async def start(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._started = True
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._redis = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
                health_check_interval=0,
            )
            self._scripts = {
                name: self._redis.register_script(text)
                for name, text in (
                    ("gate", GATE),
                    ("record", RECORD),
                    ("heartbeat", HEARTBEAT),
                    ("claim", CLAIM),
                    ("publish", PUBLISH),
                    ("release", RELEASE),
                )
            }
        except Exception as exc:  # a URL redis-py cannot use: stay in fallback, say why
            self._fall(exc)
            self._redis = None
            return
        await self._rejoin()
        self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="vclm-team-keeper")

    async def close(self) -> None:
        self._stop.set()
        for task in (self._keeper, self._listener, *self._moves):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._redis is not None:
            if self._mode == "shared":
                keys = [self._key("lease:" + job) for job in self._leases]
                with contextlib.suppress(Exception):
                    if keys:
                        await self._call(self._scripts["release"](keys=keys, args=[self.member]))
                    await self._call(self._redis.zrem(self._key("members"), self.member))
            await self._close_pubsub()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._redis.aclose(), self.timeout)
        self._leases.clear()

    async def claim(self, job_id: str, min_interval: float) -> Claim:
        if self._mode != "shared":
            return Claim(True)
        try:
            kind, text, number = await self._call(
                self._scripts["claim"](
                    keys=[self._key("lease:" + job_id), self._key("answer:" + job_id)],
                    args=[self.member, max(1, int(min_interval * _US))],
                )
            )
        except Exception as exc:
            self._fall(exc)
            return Claim(True)
        now = self.clock.time()
        if int(kind) == 1:
            age = int(number) / _US
            answer = answer_from(text, received_at=now, age=age)
            if answer is not None:
                self._taken += 1
                return Claim(False, answer=answer, retry_at=now + max(0.0, min_interval - age))
            return Claim(True)  # an answer we cannot read: poll it ourselves
        if int(kind) == 2:
            return Claim(False, retry_at=now + max(0, int(number)) / 1000)
        self._leases.add(job_id)
        return Claim(True)

    async def release(self, job_id: str) -> None:
        self._leases.discard(job_id)
        if self._mode != "shared":
            return
        try:
            await self._call(self._scripts["release"](keys=[self._key("lease:" + job_id)], args=[self.member]))
        except Exception as exc:
            self._fall(exc)

    async def publish(self, answer: SharedAnswer) -> None:
        self._leases.discard(answer.job_id)
        if self._mode != "shared":
            return
        age = max(0.0, self.clock.time() - answer.polled_at)  # (since its request was sent: the stamp it keeps)
        message = json.dumps(
            {"job": answer.job_id, "by": self.member, "latency": answer.latency, "age": round(age, 6), "response": answer.response},
            separators=(",", ":"),
        )
        try:
            await self._call(
                self._scripts["publish"](
                    keys=[self._key("answer:" + answer.job_id)],
                    args=[message, int(ANSWER_TTL * 1000), self._channel, self.member, int(age * _US)],
                )
            )
        except Exception as exc:
            self._fall(exc)

    def drain(self) -> list[SharedAnswer]:
        answers = list(self._inbox.values())
        self._inbox.clear()
        self._taken += len(answers)
        return answers

    def status(self) -> TeamStatus:
        if not self._started:
            return TeamStatus("shared")  # not joined yet: nothing to report, nothing wrong
        fallback = self._mode == "fallback"
        return TeamStatus(
            self._mode,
            members=self._members,
            combined_rate=None if fallback else self._combined,
            share=self.share_rate() if fallback or self.in_grace() else None,
            problem=self._problem,
            taken=self._taken,
        )

    # -- QuotaGate -----------------------------------------------------------------------

    async def try_start(self, span: float, ceiling: int, rate: float) -> float:
        self._rate = rate
        for _ in range(2):  # a second round only after a rejoin
            now = self.clock.monotonic()
            if self._mode == "fallback" or now < self._grace_until:
                wait = self._local_wait(now, span, ceiling, rate)
                if wait > 0:
                    return wait
                if self._mode == "fallback":
                    self._record_own(now)
                    return 0.0
            self._seq += 1
            try:
                kind, value = await self._call(
                    self._scripts["gate"](
                        keys=[self._key("window"), self._key("epoch"), self._key("grid")],
                        args=[
                            self._epoch or "",
                            int(span * _US),
                            int(ceiling),
                            int(_US / rate),
                            f"{self.member}:{self._seq}",
                            int(max(span, RATE_SPAN, RECORD_SPAN) * _US),
                            int(max(span, RATE_SPAN, RECORD_SPAN) * 1000) + 1000,
                            int(self._lateness(now) * _US),
                        ],
                    )
                )
            except Exception as exc:
                self._fall(exc)
                return max(self._local_wait(self.clock.monotonic(), span, ceiling, rate), 1e-3)
            if int(kind) == 0:
                self._granted += 1
                if self._first_grant is None:
                    self._first_grant = now
                self.server_starts.append(int(value))
                now = self.clock.monotonic()
                self._record_own(now)
                self._grants.append((now, f"{self.member}:{self._seq}"))
                return 0.0
            if int(kind) == 1:
                return int(value) / _US
            await self._rejoin()  # the epoch is gone: the server restarted empty, or was flushed
        return 1.0 / rate

    def moved(self, at: float, later: float) -> None:
        """The limiter's word that the start it was given at `at` (monotonic) may have reached the
        API `later` seconds after its window's margin allows: that start counts as much later in the
        team's window (ZADD XX INCR: one already trimmed is not written back). Never raises."""
        if later <= 0 or self._mode != "shared" or self._redis is None:
            return
        start = next((sid for mono, sid in reversed(self._grants) if mono <= at + 1e-3), None)
        if start is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._move(start, int(later * _US)))
        except RuntimeError:  # no loop running: nothing to tell
            return
        self._moves.add(task)
        task.add_done_callback(self._moves.discard)

    async def _move(self, start: str, later_us: int) -> None:
        try:
            await self._call(self._redis.zadd(self._key("window"), {start: later_us}, xx=True, incr=True))
        except Exception as exc:
            self._fall(exc)

    # -- public hooks ----------------------------------------------------------------------

    async def check_now(self) -> None:
        """One round of the background loop, now: a heartbeat when shared, a probe in fallback."""
        if self._redis is not None:
            await self._rejoin()

    def in_grace(self) -> bool:
        return self._mode == "shared" and self.clock.monotonic() < self._grace_until

    def share_rate(self) -> float:
        """The req/s this process keeps to on its own (in fallback, and for a while after a rejoin)."""
        return self._rate / share_divisor(self._share_members)

    def _lateness(self, now: float) -> float:
        """How much later than granted a start counts in the team's window (see WARMUP_*)."""
        if self._granted == 0:
            return FIRST_LATENESS
        warming = self._granted < WARMUP_STARTS or self._first_grant is None or now - self._first_grant < WARMUP_SECONDS
        return WARMUP_LATENESS if warming else 0.0

    # -- the local share -------------------------------------------------------------------

    def _local_wait(self, now: float, span: float, ceiling: int, rate: float) -> float:
        divisor = share_divisor(self._share_members)
        cap = max(1, ceiling // divisor)
        wait = 0.0
        if self._fell_at is not None:
            wait = self._fell_at + span - now
        inside = [s for s in self._own if s > now - span]
        if len(inside) >= cap:
            wait = max(wait, inside[-cap] + span - now)
        if self._own:
            wait = max(wait, self._own[-1] + divisor / rate - now)
        return max(0.0, wait)

    def _record_own(self, at: float) -> None:
        self._own.append(at)
        while self._own and self._own[0] <= at - max(RECORD_SPAN, RATE_SPAN):
            self._own.popleft()

    # -- joining, falling back, rejoining -----------------------------------------------------

    def _key(self, name: str) -> str:
        return self._prefix + name

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(awaitable, self.timeout)

    def _fall(self, exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
        password = _password_of(self.url)
        if password:
            reason = reason.replace(password, "***")
        reason = " ".join(reason.split())[:200]
        self._problem = (
            f"shared quota server {mask_url(self.url)} not answering ({reason}): keeping to a share of the quota here until it is back"
        )
        if self._mode == "fallback" and self._fallen:
            return
        self._mode = "fallback"
        self._fallen = True
        self._fell_at = self.clock.monotonic()
        if self._share_members:  # (none seen yet: the quarter holds)
            self._share_members = max(self._share_members, self._members)
        self._leases.clear()
        listener = self._listener
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()

    async def _heartbeat(self) -> bool:
        """Register, learn the team's size and rate; rejoin if the epoch changed. False on a fault."""
        try:
            epoch, created, members, recent = await self._call(
                self._scripts["heartbeat"](
                    keys=[self._key("members"), self._key("epoch"), self._key("window")],
                    args=[
                        self.member,
                        secrets.token_hex(8),
                        int(MEMBER_TTL * _US),
                        int(EPOCH_TTL * 1000),
                        int(RATE_SPAN * _US),
                    ],
                )
            )
        except Exception as exc:
            self._fall(exc)
            return False
        self._members = max(1, int(members))
        self._combined = int(recent) / RATE_SPAN
        # the share is lowered only in the steady state: a member back first after a restart finds
        # itself alone, while the others, still in fallback, keep to the share they had
        steady = self._mode == "shared" and epoch == self._epoch and not self.in_grace()
        self._share_members = self._members if steady else max(self._share_members, self._members)
        if epoch != self._epoch or self._mode == "fallback":
            return await self._adopt(str(epoch), fresh=bool(int(created)))
        return True

    async def _adopt(self, epoch: str, *, fresh: bool) -> bool:
        """Join the team of `epoch`: write this process's recent starts into its window and, unless
        the team's window was kept all along, keep to the local share for the grace period."""
        now = self.clock.monotonic()
        ages = [int((now - s) * _US) for s in self._own if s > now - RECORD_SPAN]
        if ages:
            try:
                written = await self._call(
                    self._scripts["record"](
                        keys=[self._key("window"), self._key("epoch")],
                        args=[epoch, f"{self.member}:r{secrets.token_hex(4)}", int(RATE_SPAN * 1000) + 1000, *ages],
                    )
                )
            except Exception as exc:
                self._fall(exc)
                return False
            if int(written) < 0:
                return False  # the epoch changed again meanwhile: the next round tries again
        # grace unless the window was kept all along: a first join to a live team needs none; a
        # team whose epoch is new (restarted, flushed) or a return from fallback does
        changed = self._epoch is not None and epoch != self._epoch
        if fresh or changed or self._fallen:
            self._grace_until = now + self.grace
        self._epoch = epoch
        self._fallen = False
        self._mode = "shared"
        self._problem = None
        self._fell_at = None
        return True

    async def _rejoin(self) -> None:
        """Join (or join again): the heartbeat adopts the server's epoch, then listen."""
        async with self._rejoin_lock:
            if self._mode == "fallback" and self._fallen:
                # the pool's connections from before the fault are dead (the server restarted, or
                # dropped them): each would fail a call of its own and fall back again
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._redis.connection_pool.disconnect(), self.timeout)
            if await self._heartbeat() and self._mode == "shared" and (self._listener is None or self._listener.done()):
                await self._listen()

    async def _listen(self) -> None:
        await self._close_pubsub()
        try:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await self._call(self._pubsub.subscribe(self._channel))
        except Exception as exc:
            self._fall(exc)
            return
        self._listener = asyncio.get_running_loop().create_task(self._read(self._pubsub), name="vclm-team-listener")

    async def _read(self, pubsub: Any) -> None:
        while not self._stop.is_set():
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.probe_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._fall(exc)
                return
            if not message or message.get("type") != "message":
                continue
            self.heard += 1
            answer = answer_from(message.get("data"), received_at=self.clock.time())
            if answer is None or answer.by == self.member:
                continue
            keep_newest(self._inbox, answer)
            try:
                self._wake()
            except Exception:  # the engine's callback: never let it end the listener
                pass

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), self.timeout)

    async def _keep(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.probe_interval)
            if self._stop.is_set():
                return
            try:
                await self.check_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the loop die: a fault is a fallback
                self._fall(exc)
