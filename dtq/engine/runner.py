"""One run from start to finish: log opened, `run_started`, engine, `run_finished`, closed.

Every exit path (completion, Ctrl-C or SIGTERM, a scheduler failure, a full disk) ends
with a flushed `run_finished`, so the log is complete whenever the process lives to
write it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from dtq import __version__
from dtq.core.plan import compile_plan
from dtq.core.workload import count_tasks, iter_tasks
from dtq.engine.threaded import Execute, ThreadedEngine
from dtq.engine.virtual import VirtualEngine
from dtq.events import RUN_FINISHED, RUN_STARTED, SCHEMA_VERSION, STATUS_FAILED
from dtq.scenario import LoadedScenario
from dtq.sink import EventSink, Observer, open_log


class Engine(Protocol):
    """What the runner needs of an engine."""

    sink: EventSink

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def run(self) -> str: ...
    def now(self) -> float: ...
    def request_stop(self) -> None: ...
    def totals(self) -> dict[str, int]: ...
    def stop_workers(self, now: float) -> None: ...
    @property
    def failure(self) -> BaseException | None: ...


@dataclass
class RunOutcome:
    """How a run ended and where its log is."""

    status: str
    totals: dict[str, int]
    log_path: Path
    elapsed_s: float
    wall_s: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def default_log_path(name: str, *, folder: Path = Path("logs")) -> Path:
    """`logs/<scenario>-<UTC stamp>.jsonl`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return folder / f"{name}-{stamp}Z.jsonl"


def run_started_event(scenario: LoadedScenario, *, expected_tasks: int) -> dict[str, Any]:
    """The first event of a log: what ran, with which seed and settings."""
    model = scenario.model
    return {
        "seq": 0,
        "t": 0.0,
        "event": RUN_STARTED,
        "schema": SCHEMA_VERSION,
        "dtq": __version__,
        "seed": model.seed,
        "clock": model.clock,
        "time_scale": model.time_scale,
        "workers": model.workers,
        "backend": model.backend,
        "policy": model.scheduler.policy,
        "max_attempts": model.retry.max_attempts,
        "scenario_name": scenario.name,
        "scenario_path": str(scenario.path),
        "scenario_sha256": scenario.sha256,
        "scenario": scenario.resolved(),
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "expected_tasks": expected_tasks,
    }


@contextmanager
def stop_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `request_stop` (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def make_engine(
    scenario: LoadedScenario, sink: EventSink, *, execute: Execute | None = None
) -> Engine:
    """The engine the scenario's clock asks for, over its workload."""
    model = scenario.model
    plan = compile_plan(model)
    tasks = iter_tasks(model, plan)
    if model.clock == "virtual":
        return VirtualEngine(plan, tasks, sink)
    return ThreadedEngine(plan, tasks, sink, time_scale=model.time_scale, execute=execute)


def run(
    scenario: LoadedScenario,
    *,
    log_path: Path,
    observers: Iterable[Observer] = (),
    execute: Execute | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> RunOutcome:
    """Run `scenario`, writing its event log to `log_path`."""
    wall_start = time.perf_counter()
    sink = EventSink(open_log(log_path), path=log_path, observers=observers)
    status = STATUS_FAILED
    error: str | None = None
    engine: Engine | None = None
    try:
        sink.emit(run_started_event(scenario, expected_tasks=count_tasks(scenario.model)))
        sink.flush()
        engine = make_engine(scenario, sink, execute=execute)
        if on_engine is not None:
            on_engine(engine)
        with stop_signals(engine.request_stop):
            status = engine.run()
        if engine.failure is not None:
            error = describe(engine.failure)
    except OSError as exc:
        error = describe(exc)
    totals, elapsed_s = _finish(sink, engine, status, error, time.perf_counter() - wall_start)
    return RunOutcome(status, totals, log_path, elapsed_s, time.perf_counter() - wall_start, error)


def _finish(
    sink: EventSink, engine: Engine | None, status: str, error: str | None, wall_s: float
) -> tuple[dict[str, int], float]:
    """Write `run_finished` and close the log, whatever state the run is in."""
    with engine.lock if engine is not None else nullcontext():
        elapsed_s = engine.now() if engine is not None else 0.0
        totals = engine_totals(engine)
        finished: dict[str, Any] = {
            "seq": 0,
            "t": elapsed_s,
            "event": RUN_FINISHED,
            "status": status,
            "totals": totals,
            "elapsed_s": elapsed_s,
            "wall_s": round(wall_s, 6),
        }
        if error is not None:
            finished["error"] = error
        if engine is not None:
            engine.stop_workers(elapsed_s)
        sink.emit(finished)
        # A full disk: the error is already recorded in the outcome.
        with suppress(OSError):
            sink.close()
    return totals, elapsed_s


def engine_totals(engine: Engine | None) -> dict[str, int]:
    """The scheduler's counters, or zeros when no engine started."""
    if engine is None:
        keys = ("submitted", "succeeded", "dead_lettered", "pending", "started", "failed")
        return dict.fromkeys((*keys, "retried", "redelivered"), 0)
    return engine.totals()


def describe(exc: BaseException) -> str:
    """A one-line description of what stopped a run."""
    if isinstance(exc, OSError):
        return f"writing the event log failed: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
