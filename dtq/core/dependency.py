"""A downstream that tasks call: slots, a first-come-first-served line, a token bucket.

A dependency serves at most `capacity` calls at once; the others wait in one line, in
the order they arrived. A call that finds the line at `queue_limit` is turned away at
once (`overloaded`), and one that finds the token bucket empty is turned away too
(`throttled`, with the time until the next token). A call whose attempt gave up
(timed out) keeps its place and its slot until it is served, as real servers do, unless
the dependency cancels abandoned calls: that wasted work is what keeps a metastable
failure going. In `optimistic` mode the dependency is one shared record: a call reads
its version when its service starts and writes when it ends, and fails with `conflict`
when another call wrote in between.

Pure: no clock, no threads. Each method takes `now` and returns the calls whose
service starts because of it, so that the engine can plan their ends.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from dtq.events import ERROR_OVERLOADED, ERROR_THROTTLED


@dataclass(frozen=True, slots=True)
class DependencySpec:
    """A dependency as the scenario describes it (times in seconds)."""

    index: int
    name: str
    concurrency: int | None
    queue_limit: int | None
    rate_per_s: float | None
    burst: float
    cancels_abandoned: bool
    optimistic: bool


class Call:
    """One call of one attempt to a dependency."""

    __slots__ = (
        "abandoned",
        "arrived_t",
        "dependency",
        "event",
        "owner",
        "read_version",
        "service_s",
        "started_t",
    )

    def __init__(
        self, owner: object, service_s: float, arrived_t: float, dependency: int = 0
    ) -> None:
        self.owner = owner
        self.dependency = dependency
        self.service_s = service_s
        self.arrived_t = arrived_t
        self.started_t: float | None = None
        self.read_version = 0
        self.abandoned = False
        # Its `call_started` while it is in service: `call_ended` starts from a copy.
        self.event: dict[str, Any] | None = None

    @property
    def waited_s(self) -> float:
        """Time spent in the line before service started (so far, if still waiting)."""
        return 0.0 if self.started_t is None else self.started_t - self.arrived_t


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a call was turned away, and when a token is due (throttled only)."""

    error: str
    retry_after_s: float | None = None


class Dependency:
    """The live state of one dependency during a run."""

    def __init__(self, spec: DependencySpec) -> None:
        self.spec = spec
        self.factor = 1.0
        self.latency_factor = 1.0
        self.in_service = 0
        self.line: deque[Call] = deque()
        self.version = 0
        self.served = self.rejected = self.conflicts = 0
        self._tokens = spec.burst
        self._tokens_t = 0.0
        # Calls served at once now (None: unlimited); worked out when a slowdown scales
        # it, not on every call.
        self.capacity = self._capacity()

    def _capacity(self) -> int | None:
        """The concurrency scaled by the slowdown in force, at least 1 (None: unlimited)."""
        limit = self.spec.concurrency
        if limit is None:
            return None
        return max(1, math.floor(limit * self.factor)) if self.factor != 1.0 else limit

    def has_free_slot(self) -> bool:
        """Whether a call arriving now could start at once."""
        capacity = self.capacity
        return capacity is None or self.in_service < capacity

    def offer(self, call: Call, now: float) -> Rejection | None:
        """A call arrives: it starts, joins the line, or is turned away (returned)."""
        spec = self.spec
        if spec.rate_per_s is not None and not self._take_token(now):
            self.rejected += 1
            return Rejection(ERROR_THROTTLED, (1.0 - self._tokens) / spec.rate_per_s)
        capacity = self.capacity
        if not self.line and (capacity is None or self.in_service < capacity):
            # _start written out: most calls start at once, one per attempt.
            self.in_service += 1
            call.started_t = now
            call.read_version = self.version
            return None
        if spec.queue_limit is not None and len(self.line) >= spec.queue_limit:
            self.rejected += 1
            return Rejection(ERROR_OVERLOADED)
        self.line.append(call)
        return None

    def finish(self, call: Call) -> bool:
        """`call`'s service is over and its slot free (`fill` gives it to the line);
        returns whether it conflicted."""
        self.in_service -= 1
        self.served += 1
        if not self.spec.optimistic:
            return False
        if self.version != call.read_version:
            self.conflicts += 1
            return True
        self.version += 1
        return False

    def abandon(self, call: Call, now: float) -> list[Call]:
        """The attempt behind `call` gave up; returns the calls that start because of it."""
        call.abandoned = True
        if not self.spec.cancels_abandoned:
            return []
        if call.started_t is None:
            self.line.remove(call)
            return []
        self.in_service -= 1
        return self.fill(now)

    def scale(self, factor: float, latency_factor: float, now: float) -> list[Call]:
        """A slowdown starts (factors below 1 and above 1) or ends (both 1)."""
        self.factor = factor
        self.latency_factor = latency_factor
        self.capacity = self._capacity()
        return self.fill(now)

    def _start(self, call: Call, now: float) -> None:
        self.in_service += 1
        call.started_t = now
        call.read_version = self.version

    def fill(self, now: float) -> list[Call]:
        """Free slots go to the head of the line; returns the calls that start now."""
        started: list[Call] = []
        line = self.line
        while line and self.has_free_slot():
            call = line.popleft()
            self._start(call, now)
            started.append(call)
        return started

    def _take_token(self, now: float) -> bool:
        spec = self.spec
        assert spec.rate_per_s is not None
        elapsed = now - self._tokens_t
        if elapsed > 0:
            self._tokens = min(spec.burst, self._tokens + elapsed * spec.rate_per_s)
            self._tokens_t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
