"""What can go wrong between the client and the simulated service: delays, gateway and service faults."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields

# Where in the life of a request each kind of fault strikes. A request draws at most one fault
# per phase: gateway faults before the service sees it, service faults once it is authenticated
# and within quota, answer faults on the way back.
GATEWAY_FAULTS = ("http_502", "drop")
SERVICE_FAULTS = ("rate_limit", "internal_error", "inner_error")
ANSWER_FAULTS = ("stall", "malformed_json", "unknown_status")
FAULT_KINDS = GATEWAY_FAULTS + SERVICE_FAULTS + ANSWER_FAULTS

# kind -> the Faults field holding its probability
PROBABILITY_FIELDS = {
    "http_502": "p_http_502",
    "drop": "p_drop",
    "rate_limit": "p_rate_limit",
    "internal_error": "p_internal_error",
    "inner_error": "p_inner_error",
    "stall": "p_stall",
    "malformed_json": "p_malformed_json",
    "unknown_status": "p_unknown_status",
}

PHASES = (GATEWAY_FAULTS, SERVICE_FAULTS, ANSWER_FAULTS)


@dataclass
class Faults:
    """Fault settings of one simulator; mutable, so a test or the demo can change them mid-run.

    Latency is network time: `latency + uniform(0, jitter)` passes before the request reaches
    the service (and is counted for the quota), so jitter can bunch arrivals that the client
    spaced evenly, as a real network does; `latency_after` passes on the way back.
    Probabilities are per request; those of one phase must not add up to more than 1.
    `fail_next(kind, n)` makes the next n requests that reach that kind's phase hit it,
    whatever the probabilities.
    """

    latency: float = 0.0
    jitter: float = 0.0
    latency_after: float = 0.0
    p_http_502: float = 0.0
    p_drop: float = 0.0
    p_rate_limit: float = 0.0
    p_internal_error: float = 0.0
    p_inner_error: float = 0.0
    p_stall: float = 0.0
    stall_seconds: float = 30.0  # longer than any sane client timeout
    p_malformed_json: float = 0.0
    p_unknown_status: float = 0.0
    unknown_status_code: str = "JobQueued"
    unknown_status_msg: str = "排队中"
    _triggers: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in fields(self):
            if f.name.startswith("p_"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{f.name} must be a probability between 0 and 1, not {value!r}")
        for name in ("latency", "jitter", "latency_after", "stall_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for phase in PHASES:
            total = sum(getattr(self, PROBABILITY_FIELDS[kind]) for kind in phase)
            if total > 1.0 + 1e-9:
                raise ValueError(f"the probabilities of {', '.join(phase)} add up to {total:g}, over 1")

    # -- triggers ---------------------------------------------------------------------------

    def fail_next(self, kind: str, n: int = 1) -> None:
        """Make the next `n` requests that reach `kind`'s phase hit it (adds to any pending)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if n < 0:
            raise ValueError("n must not be negative")
        self._triggers[kind] = self._triggers.get(kind, 0) + n

    def pending(self, kind: str | None = None) -> int:
        """Triggered faults not yet served (of one kind, or of all)."""
        if kind is None:
            return sum(self._triggers.values())
        return self._triggers.get(kind, 0)

    def clear(self) -> None:
        """Forget pending triggers and set every probability and delay back to zero."""
        self._triggers.clear()
        for f in fields(self):
            if f.name.startswith("p_") or f.name in ("latency", "jitter", "latency_after"):
                setattr(self, f.name, 0.0)

    # -- drawing ----------------------------------------------------------------------------

    def network_delay(self, rng: random.Random) -> float:
        """Seconds between the client sending and the service receiving one request."""
        # Always one draw, so the delay stream does not depend on whether jitter is on.
        u = rng.random()
        return self.latency + self.jitter * u

    def draw(self, kinds: tuple[str, ...], rng: random.Random, applicable: tuple[str, ...] | None = None) -> str | None:
        """The fault (of `kinds`) this request meets, or None.

        A pending trigger wins; otherwise one uniform draw is spent whether or not any
        probability is set, so a seeded run stays the same when a probability changes.
        Kinds not in `applicable` neither fire nor consume their triggers.
        """
        usable = kinds if applicable is None else tuple(k for k in kinds if k in applicable)
        u = rng.random()
        for kind in usable:
            if self._triggers.get(kind, 0) > 0:
                self._triggers[kind] -= 1
                return kind
        edge = 0.0
        for kind in kinds:
            edge += getattr(self, PROBABILITY_FIELDS[kind])
            if u < edge:
                return kind if kind in usable else None
        return None
