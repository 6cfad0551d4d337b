"""The sweep page: a chart per metric and swept value with its band, a grid map for two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from dtq.render.html.sweep import describe, render_sweep_html, sweep_charts


@dataclass(frozen=True)
class Axis:
    """A swept path, as `dtq.study.grid.Axis` has it."""

    path: str
    texts: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Summary:
    """A metric's mean and interval, as `dtq.study.result.MetricSummary` has it."""

    mean: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True)
class Point:
    """A point of the grid, as `dtq.study.result.PointSummary` has it."""

    coords: tuple[tuple[str, str], ...]
    seeds_run: int
    seeds_passed: int
    metrics: dict[str, Summary]

    def label(self) -> str:
        """`workers=8 retry.max_attempts=4`."""
        return " ".join(f"{path}={text}" for path, text in self.coords)


@dataclass(frozen=True)
class Result:
    """A sweep's result, as `dtq.study.result.SweepResult` has it."""

    scenario_name: str
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    points: tuple[Point, ...]

    def metric_names(self) -> list[str]:
        """Every metric of any point, sorted."""
        return sorted({name for point in self.points for name in point.metrics})


WORKERS = Axis("workers", ("2", "4", "8"), (2, 4, 8))
ATTEMPTS = Axis("retry.max_attempts", ("2", "6"), (2, 6))


def make_result(*, two_axes: bool) -> Result:
    """Workers (and max attempts) swept over five seeds, with made-up but ordered numbers."""
    axes = (WORKERS, ATTEMPTS) if two_axes else (WORKERS,)
    points = []
    for workers in WORKERS.texts:
        for attempts in ATTEMPTS.texts if two_axes else ("4",):
            done = 100 - 40 / int(workers) - 5 / int(attempts)
            metrics = {
                "completed_pct": Summary(done, done - 1.5, done + 1.5, 5),
                "wait_p95.P1": Summary(0.5 / int(workers), None, None, 1),
                "recover_s": Summary(None, None, None, 0),  # never recovered: no line
            }
            coords = (("workers", workers), ("retry.max_attempts", attempts))
            points.append(Point(coords if two_axes else coords[:1], 5, 5, metrics))
    return Result("outage", axes, (1, 2, 3, 4, 5), tuple(points))


def test_one_swept_value_a_line_with_its_band_per_metric() -> None:
    """One chart per metric that has a mean; the band is drawn where an interval exists."""
    charts = sweep_charts(make_result(two_axes=False))
    assert [c.key for c in charts] == ["sweep_completed_pct_0", "sweep_wait_p95_P1_0"]
    completed, wait = charts
    assert [t.get("fill") for t in completed.traces] == [None, "tonexty", None]
    assert completed.traces[-1]["y"] == [78.75, 88.75, 93.75]
    assert len(wait.traces) == 1  # one seed's worth: no interval, no band
    assert wait.traces[0]["line"]["color"] == "#4e79a7"  # P1's colour everywhere


def test_two_swept_values_add_a_grid_map_per_metric() -> None:
    """Lines against each value (one per value of the other) and a heat map of the grid."""
    charts = sweep_charts(make_result(two_axes=True))
    keys = [c.key for c in charts]
    assert "grid_completed_pct" in keys and "grid_wait_p95_P1" in keys
    grid = next(c for c in charts if c.key == "grid_completed_pct").traces[0]
    assert grid["type"] == "heatmap"
    assert grid["x"] == ["2", "4", "8"] and grid["y"] == ["2", "6"]
    assert grid["z"][1][0] == round(100 - 20 - 5 / 6, 6)
    by_workers = next(c for c in charts if c.key == "sweep_completed_pct_0")
    names = [t["name"] for t in by_workers.traces if t.get("showlegend", True)]
    assert names == ["retry.max_attempts=2", "retry.max_attempts=6"]


def test_the_page_holds_every_chart_and_the_table() -> None:
    """The page carries the figures as JSON and a row per point."""
    html = render_sweep_html(make_result(two_axes=True))
    marker = '<script id=dtq-charts type="application/json">'
    start = html.index(marker) + len(marker)
    figures = orjson.loads(html[start : html.index("</script>", start)])
    assert len(figures) == len(sweep_charts(make_result(two_axes=True)))
    assert html.count("<tr>") == 1 + 6  # the head and six points


def test_metrics_are_described_with_units() -> None:
    """Each metric's axis says its unit."""
    assert describe("wait_p95.P3") == ("P3 queue wait p95", "wait (s)", "Lower is better.")
    assert describe("dlq.exhausted")[1] == "tasks dead-lettered"
    assert describe("completed_pct")[1] == "completed (%)"
