"""A sweep's result: one summary per point, each metric's mean and 95% interval across seeds.

`Collector` takes the runs as they finish, in any order, and summarises a point as soon
as its last seed is in, dropping that point's per-seed numbers: memory stays flat however
many points a sweep has. The sums are exact (`math.fsum`), so the table is the same
whatever order the runs finished in, on one core, on many, or on a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dtq.study.grid import Axis, Point
from dtq.study.measure import RunMetrics
from dtq.theory.stats import Interval, mean_interval

CONFIDENCE = 0.95
INTERVAL_METHOD = "student-t"
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """A metric across a point's seeds: mean and 95% interval (None below two values).

    `never` counts the seeds that never recovered (recover_s only); they have no value.
    """

    mean: float | None
    low: float | None
    high: float | None
    n: int
    never: int = 0

    @classmethod
    def of(cls, values: Sequence[float], *, never: int = 0) -> MetricSummary:
        """The summary of `values` (no mean when there are none)."""
        if not values:
            return cls(None, None, None, 0, never)
        interval: Interval = mean_interval(values, confidence=CONFIDENCE)
        return cls(interval.mean, interval.low, interval.high, interval.n, never)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (docs/sweep.md)."""
        data: dict[str, Any] = {"mean": self.mean, "low": self.low, "high": self.high}
        data["n"] = self.n
        data["never"] = self.never
        return data


@dataclass(frozen=True, slots=True)
class RunFailure:
    """A run that did not finish: its seed and what stopped it."""

    seed: int
    error: str


@dataclass(frozen=True, slots=True)
class PointSummary:
    """One row of the sweep: the point's coordinates and its metrics across seeds."""

    index: int
    coords: tuple[tuple[str, str], ...]
    seeds_run: int
    seeds_passed: int
    metrics: dict[str, MetricSummary]
    failures: tuple[RunFailure, ...] = ()

    @property
    def passed(self) -> bool:
        """Every seed ran and passed `expect:`."""
        return not self.failures and self.seeds_passed == self.seeds_run

    def label(self) -> str:
        """`workers=8 retry.max_attempts=4`."""
        return " ".join(f"{path}={text}" for path, text in self.coords) or "(as written)"


@dataclass(frozen=True)
class SweepResult:
    """Everything a sweep found; the renderers (text, markdown, json, csv, html) format it."""

    scenario_name: str
    scenario_path: str
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    points: tuple[PointSummary, ...]
    """The points that finished, in grid order."""
    total_points: int
    interrupted: bool = False

    @property
    def unfinished(self) -> int:
        """Points that did not finish (an interrupted sweep)."""
        return self.total_points - len(self.points)

    @property
    def passed(self) -> bool:
        """Every finished point passed on every seed."""
        return all(point.passed for point in self.points)

    def metric_names(self) -> list[str]:
        """Every metric any point has, in a fixed order (see `metric_order`)."""
        names = {name for point in self.points for name in point.metrics}
        return sorted(names, key=metric_order)


_FIXED_ORDER = ("completed_pct", "dlq", "dlq.", "wait_p95.P", "e2e_p95_s", "attempts_per_task")
_LATE_ORDER = ("peak_backlog", "recover_s")


def metric_order(name: str) -> tuple[int, int, str]:
    """The column order: completed, DLQ, DLQ by reason, waits by priority, then the rest."""
    for rank, prefix in enumerate((*_FIXED_ORDER, *_LATE_ORDER)):
        if name == prefix or (prefix.endswith((".", "P")) and name.startswith(prefix)):
            suffix = name[len(prefix) :]
            return rank, int(suffix) if suffix.isdigit() else 0, name
    return len(_FIXED_ORDER) + len(_LATE_ORDER), 0, name


def summarise(
    point: Point, runs: dict[int, RunMetrics], failures: list[RunFailure]
) -> PointSummary:
    """A point's row from its runs (seed -> numbers), in seed order."""
    ordered = [runs[seed] for seed in sorted(runs)]
    values: dict[str, list[float]] = {
        "completed_pct": [run.completed_pct for run in ordered],
        "dlq": [float(run.dlq) for run in ordered],
        "attempts_per_task": [run.attempts_per_task for run in ordered],
        "peak_backlog": [float(run.peak_backlog) for run in ordered],
        "e2e_p95_s": [run.e2e_p95_s for run in ordered if run.e2e_p95_s is not None],
    }
    for reason in sorted({reason for run in ordered for reason in run.dlq_by_reason}):
        values[f"dlq.{reason}"] = [float(run.dlq_by_reason.get(reason, 0)) for run in ordered]
    for priority in sorted({p for run in ordered for p in run.wait_p95_s}):
        values[f"wait_p95.P{priority}"] = [
            run.wait_p95_s[priority] for run in ordered if priority in run.wait_p95_s
        ]
    metrics = {name: MetricSummary.of(found) for name, found in values.items()}
    if any(run.recovered is not None for run in ordered):
        recovered = [run.recover_s for run in ordered if run.recover_s is not None]
        never = sum(1 for run in ordered if run.recovered is False)
        metrics["recover_s"] = MetricSummary.of(recovered, never=never)
    return PointSummary(
        index=point.index,
        coords=point.coords,
        seeds_run=len(ordered),
        seeds_passed=sum(1 for run in ordered if run.passed),
        metrics=metrics,
        failures=tuple(sorted(failures, key=lambda failure: failure.seed)),
    )


@dataclass
class Collector:
    """Gathers runs as they finish and summarises each point once all its seeds are in."""

    points: Sequence[Point]
    seeds: Sequence[int]
    finished: dict[int, PointSummary] = field(default_factory=dict)
    _runs: dict[int, dict[int, RunMetrics]] = field(default_factory=dict)
    _failures: dict[int, list[RunFailure]] = field(default_factory=dict)

    def add(self, index: int, seed: int, metrics: RunMetrics | None, error: str | None) -> bool:
        """Record one run; True when it completed its point."""
        if metrics is not None:
            self._runs.setdefault(index, {})[seed] = metrics
        else:
            self._failures.setdefault(index, []).append(RunFailure(seed, error or "failed"))
        runs = self._runs.get(index, {})
        failures = self._failures.get(index, [])
        if len(runs) + len(failures) < len(self.seeds):
            return False
        self.finished[index] = summarise(self.points[index], runs, failures)
        self._runs.pop(index, None)
        self._failures.pop(index, None)
        return True

    def result(
        self, *, name: str, path: str, axes: Sequence[Axis], interrupted: bool
    ) -> SweepResult:
        """The sweep's result: every finished point, in grid order."""
        return SweepResult(
            scenario_name=name,
            scenario_path=path,
            axes=tuple(axes),
            seeds=tuple(self.seeds),
            points=tuple(self.finished[index] for index in sorted(self.finished)),
            total_points=len(self.points),
            interrupted=interrupted,
        )
