"""What dependencies did, and the numbers of overload, folded from call events.

`call_started` and `call_ended` carry the dependency's in-flight count and line length
right after the change, so the fold keeps the latest of each, their peaks, the calls
per outcome, each call's wait in line, and the calls started and ended over time (the
in-flight level of a bucket is the difference of their running totals). Rejected calls
(`overloaded`, `throttled`, `unavailable`) are task failures that name the dependency.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from dtq.events import Event
from dtq.fold.series import TimeSeries

DEPENDENCY_COLUMNS = ("started", "ended")


@dataclass(slots=True)
class DependencyStats:
    """One dependency as the log shows it."""

    name: str
    in_flight: int = 0
    line: int = 0
    peak_in_flight: int = 0
    peak_line: int = 0
    started: int = 0
    ended: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    waits: array[float] = field(default_factory=lambda: array("d"))
    over_time: TimeSeries = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.over_time = TimeSeries(DEPENDENCY_COLUMNS, self._running)

    def _running(self) -> list[int]:
        return [self.started, self.ended]

    def observe(self, event: Event) -> None:
        """Move the series to the event's time and take its in-flight and line counts."""
        t = event["t"]
        if t >= self.over_time.edge_t:
            self.over_time.advance(t)
        self.in_flight = in_flight = int(event["in_flight"])
        self.line = line = int(event["line"])
        if in_flight > self.peak_in_flight:
            self.peak_in_flight = in_flight
        if line > self.peak_line:
            self.peak_line = line

    def in_flight_history(self) -> list[int]:
        """Calls in service at the end of each bucket of `over_time`."""
        started = self.over_time.cumulative("started")
        ended = self.over_time.cumulative("ended")
        return [s - e for s, e in zip(started, ended, strict=True)]


@dataclass(slots=True)
class Dependencies:
    """Every dependency of a run, by name, in the order the log first names them."""

    by_name: dict[str, DependencyStats] = field(default_factory=dict)

    def get(self, name: str) -> DependencyStats:
        """The stats of `name`, created on first sight."""
        stats = self.by_name.get(name)
        if stats is None:
            if type(name) is not str:
                raise TypeError(f"'dependency' must be a string (got {name!r})")
            stats = self.by_name[name] = DependencyStats(name)
        return stats

    def on_call_started(self, event: Event) -> None:
        """A call's service started: it waited `waited_s` in line."""
        stats = self.get(event["dependency"])
        stats.observe(event)
        stats.started += 1
        stats.waits.append(float(event["waited_s"]))

    def on_call_ended(self, event: Event) -> None:
        """A call ended: ok, conflict, abandoned (its attempt gave up) or cancelled."""
        stats = self.get(event["dependency"])
        outcome = str(event["outcome"])
        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
        # A call cancelled while waiting never started: it leaves the line, not a slot.
        if not (outcome == "cancelled" and event.get("served_s") is None):
            stats.ended += 1
        stats.observe(event)

    def on_rejected(self, event: Event) -> None:
        """A task failure that names a dependency: the call was turned away."""
        stats = self.get(event["dependency"])
        error = str(event["error"])
        stats.rejected[error] = stats.rejected.get(error, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.by_name)
