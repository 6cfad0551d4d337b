"""A sweep from start to finish: plan the grid, run every (point, seed), collect the rows.

The plan is built and every point validated before the first run starts. Runs stream
through an executor (this process, local processes or a Dask cluster) and each result
is folded into the `Collector` as it arrives, so nothing waits for the slowest point.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from dtq.errors import UsageError
from dtq.scenario.loader import ScenarioSource
from dtq.study.execute import Job, JobResult, stream
from dtq.study.grid import Axis, Point, build_points, iter_runs, parse_axis, parse_seeds
from dtq.study.result import Collector, SweepResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will run: the scenario, its swept axes, the seeds and every point."""

    name: str
    path: str
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    points: tuple[Point, ...]
    out: Path | None = None

    @property
    def runs(self) -> int:
        """Points times seeds."""
        return len(self.points) * len(self.seeds)


def plan_sweep(
    path: str | Path, sets: Sequence[str], *, seeds: str, out: Path | None = None
) -> SweepPlan:
    """Read the scenario, parse the axes and seeds, and validate every point (exit 2 if bad)."""
    axes = tuple(parse_axis(text) for text in sets)
    paths = [axis.path for axis in axes]
    repeated = {name for name in paths if paths.count(name) > 1}
    if repeated:
        raise UsageError(f"--set {sorted(repeated)[0]} is given twice; list all its values once")
    seed_list = parse_seeds(seeds)
    source = ScenarioSource.read(path)
    points = build_points(source, axes, seed_list)
    name = points[0].scenario.name
    return SweepPlan(name, str(path), axes, seed_list, tuple(points), out)


def log_name(name: str, point: Point, seed: int) -> str:
    """A point's log file name: scenario, coordinates and seed (`outage__workers=8__seed=3`)."""
    parts = [name, *(f"{path}={text}" for path, text in point.coords), f"seed={seed}"]
    return "__".join(_UNSAFE.sub("-", part) for part in parts) + ".jsonl"


def jobs(plan: SweepPlan) -> Iterator[Job]:
    """Every run of the plan, with its log path when `--out` keeps logs."""
    for point, seed in iter_runs(plan.points, plan.seeds):
        log = None if plan.out is None else str(plan.out / log_name(plan.name, point, seed))
        yield Job(point.index, seed, point.scenario, log)


def run_sweep(
    plan: SweepPlan,
    executor: Executor,
    *,
    in_flight: int,
    should_stop: Callable[[], bool],
    on_result: Callable[[JobResult, bool], None] = lambda _result, _point_done: None,
) -> SweepResult:
    """Run the plan on `executor`; `on_result` sees each run (and whether its point is done).

    Stopped early, the result holds the points that finished and says it was interrupted.
    """
    if plan.out is not None:
        _make_folder(plan.out)
    collector = Collector(plan.points, plan.seeds)
    cut_short = False

    def stop() -> bool:
        return cut_short or should_stop()

    for result in stream(executor, jobs(plan), in_flight=in_flight, should_stop=stop):
        if result.interrupted:
            # A run cut short by Ctrl-C (which reached it first in this process or a
            # worker): its point did not finish, and nothing more starts.
            cut_short = True
            continue
        point_done = collector.add(result.point, result.seed, result.metrics, result.error)
        on_result(result, point_done)
    interrupted = stop()
    return collector.result(name=plan.name, path=plan.path, axes=plan.axes, interrupted=interrupted)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out {folder}: cannot create the folder: {exc.strerror or exc}"
        ) from None
