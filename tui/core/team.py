"""Team mode: what one vclm-watch process shares with the others polling the same account.

The account has one quota (20 requests per second at the server) and every job one state; a
team shares both. Three ways to be in one (all behind the `Team` protocol below):

- `solo`: nothing shared (`--solo`; the old behaviour, and the benchmarks' baseline);
- `local`: every process of the user on this machine, through a small SQLite file in the
  data directory (the default, no setup);
- `shared`: every process pointed at one Redis/Valkey server (`--shared URL`), on any machine;
  `fallback` while that server cannot be reached (each process then keeps to a safe share of
  the quota, and rejoins by itself).

What is shared is keyed by `account_key()`: a hash of the endpoint and the SecretId, never
the secret key or the session token, which never leave the process.

The engine asks `claim()` before it polls a job: a job polled by another process within
`min_interval` is not polled again; its answer (`SharedAnswer`) is taken instead. Every
answer this process fetches is `publish()`ed; answers other processes publish arrive through
`drain()` (and wake the engine through the callback given to `start()`). The limiter asks
the team's `QuotaGate` before each request: the window it keeps counts every member's
requests. Nothing here knows of Textual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tui.api.ratelimit import QuotaGate  # (defined beside the limiter that asks it: api imports no core)

TeamMode = Literal["solo", "local", "shared", "fallback"]


def account_key(endpoint_url: str, secret_id: str) -> str:
    """The namespace of everything an account shares: 16 hex digits of a salted SHA-256.

    Two accounts (or one account on two endpoints, such as the simulator and the service)
    never share a namespace; the key says nothing of the SecretId it came from.
    """
    digest = hashlib.sha256(b"vclm-watch team\0" + endpoint_url.encode() + b"\0" + secret_id.encode())
    return digest.hexdigest()[:16]


UNKNOWN_SHARE_DIVISOR = 4  # the quota ÷ this for a process in fallback that never saw a member count


def share_divisor(members_seen: int | None) -> int:
    """What the quota is divided by for a process in fallback, keeping to its own share: the
    members last seen (two at the least: the others may be alone as well, so never the whole
    quota each), or UNKNOWN_SHARE_DIVISOR while no count was ever seen (several processes may
    start while the shared state cannot be reached: each must leave room for the others)."""
    return max(2, members_seen) if members_seen else UNKNOWN_SHARE_DIVISOR


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    """One successful Describe answer, as fetched by some member of the team."""

    job_id: str
    response: dict[str, Any]  # the answer's `Response` object, as the service sent it
    polled_at: float  # wall time the request that fetched it was sent (on the receiver's clock, for one from afar)
    latency: float = 0.0
    by: str = ""  # the member that fetched it: a random id per process, nothing about the user


@dataclass(frozen=True, slots=True)
class Claim:
    """What `claim()` decided. `granted`: poll it now (the job is leased to this process for
    `min_interval`). Otherwise `answer` is the fresh answer another member fetched (None while
    that member's poll is still out), and `retry_at` the wall time the lease ends."""

    granted: bool
    answer: SharedAnswer | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class TeamStatus:
    mode: TeamMode
    members: int = 1  # processes on the account lately seen, this one included
    combined_rate: float | None = None  # requests/s of all members over the last few seconds
    share: float | None = None  # in fallback: the req/s this process keeps to
    problem: str | None = None  # why it is in fallback (the banner's text), None when all is well
    taken: int = 0  # answers this process took from other members (instead of a request)


class Team(Protocol):
    """One process's membership of its account's team."""

    member: str  # this process's random id

    @property
    def gate(self) -> QuotaGate | None: ...  # None: solo, the limiter counts alone

    async def start(self, wake: Callable[[], None]) -> None:
        """Join (register, start listening); `wake()` is called when answers are waiting."""
        ...

    async def close(self) -> None:
        """Leave: release this process's leases and membership. Never raises."""
        ...

    async def claim(self, job_id: str, min_interval: float) -> Claim: ...

    async def release(self, job_id: str) -> None:
        """A granted claim that was not used (the job was removed, the run stopped)."""
        ...

    async def publish(self, answer: SharedAnswer) -> None:
        """An answer this process fetched: stored (for `claim()`s) and announced. Never raises."""
        ...

    def drain(self) -> list[SharedAnswer]:
        """Answers published by other members since the last call."""
        ...

    def status(self) -> TeamStatus: ...


@dataclass
class SoloTeam:
    """Nothing shared: every claim is granted, nothing is published."""

    member: str = "solo"

    @property
    def gate(self) -> QuotaGate | None:
        return None

    async def start(self, wake: Callable[[], None]) -> None:
        return None

    async def close(self) -> None:
        return None

    async def claim(self, job_id: str, min_interval: float) -> Claim:
        return Claim(True)

    async def release(self, job_id: str) -> None:
        return None

    async def publish(self, answer: SharedAnswer) -> None:
        return None

    def drain(self) -> list[SharedAnswer]:
        return []

    def status(self) -> TeamStatus:
        return TeamStatus("solo")


SHARED_SCHEMES = ("redis", "rediss", "unix")


def shown_url(url: str) -> str:
    """The URL as it may be printed: a password (and a user name with it) replaced by `***`."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "(a URL that does not parse)"
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join("password=***" if item.lower().startswith("password=") else item for item in parts.query.split("&")) \
        if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def check_shared_url(url: str) -> str:
    """A Redis/Valkey URL as `--shared` takes it (ConfigError otherwise, the password masked)."""
    from urllib.parse import urlsplit

    from tui.api.errors import ConfigError

    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in SHARED_SCHEMES:
        raise ConfigError(f"{shown_url(url)!r} is not a Redis or Valkey URL: redis://[:PASSWORD@]HOST[:PORT][/DB], "
                          "rediss://... for TLS, or unix:///path/to/socket")
    return url
