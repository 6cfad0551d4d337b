"""One run from start to finish: log opened, `run_started`, engine, `run_finished`, closed.

Every exit path (completion, Ctrl-C or SIGTERM, a scheduler failure, a full disk) ends
with a flushed `run_finished`, so the log is complete whenever the process lives to
write it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import orjson

from dtq import __version__
from dtq.core.workload import count_tasks, iter_tasks
from dtq.engine.threaded import Execute, ThreadedEngine
from dtq.engine.virtual import VirtualEngine
from dtq.errors import DtqError, ScenarioError
from dtq.events import (
    RUN_FINISHED,
    RUN_STARTED,
    SCHEMA_VERSION,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    TOTAL_KEYS,
)
from dtq.log.sink import EventSink, Observer, memory_sink, open_log, open_new_log
from dtq.scenario import LoadedScenario
from dtq.scenario.compile import compile_plan


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
class RunEnd:
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
        "max_attempts": model.most_attempts(),
        "scenario_name": scenario.name,
        "scenario_path": str(scenario.path),
        "scenario_sha256": scenario.sha256,
        "scenario": scenario.resolved(),
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "expected_tasks": expected_tasks,
    }


class StopRequests:
    """Counts SIGINT/SIGTERM from the moment a command starts; hands them on to the engine.

    The handler only adds one to a counter and calls the engine's `request_stop` (which
    also only adds one), so a signal that lands while the sink flushes never tears a line:
    the flush finishes and the engine stops at its next look at the counter. A request
    made before the engine exists stops the run before it starts (`run` still writes
    `run_started` and `run_finished`); a second one cuts the engine's grace period short.
    """

    def __init__(self) -> None:
        self.count = 0
        self._forward: Callable[[], None] | None = None

    def request(self) -> None:
        """One stop request (signal-safe: no lock, no I/O)."""
        self.count += 1
        forward = self._forward
        if forward is not None:
            forward()

    def forward_to(self, request_stop: Callable[[], None]) -> None:
        """Pass every request from now on to `request_stop`, and the ones made already."""
        self._forward = request_stop
        # A signal between these two lines is passed on twice: harmless, since the engine
        # only counts requests made after its grace period began.
        for _ in range(self.count):
            request_stop()


@contextmanager
def stop_signals(
    request_stop: Callable[[], None], *, ignore_after: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `request_stop` (main thread only); the previous handlers
    come back after, unless `ignore_after()` then says to ignore both from then on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        # Once a stop was asked for, the process is on its way out with exit 130: a second
        # Ctrl-C in its last milliseconds must not become a KeyboardInterrupt or a death by
        # signal. Only SIG_IGN does that: Python resets its own handlers as it shuts down.
        ignore = ignore_after()
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_IGN if ignore else old)


def make_engine(
    scenario: LoadedScenario, sink: EventSink, *, execute: Execute | None = None
) -> Engine:
    """The engine the scenario's clock asks for, over its workload."""
    model = scenario.model
    plan = compile_plan(model)
    tasks = iter_tasks(plan)
    if model.clock == "virtual":
        return VirtualEngine(plan, tasks, sink)
    # The virtual clock ignores the backend: a what-if run needs no broker.
    if model.backend.startswith("redis://"):
        # Imported here: the Redis client and its engine cost a quarter of a second of
        # start-up, which a run on the memory backend or the virtual clock never needs.
        from dtq.backends.redis.conn import NAMESPACE_ENV
        from dtq.engine.distributed import RedisEngine

        # $DTQ_REDIS_NAMESPACE is the run-time choice: it wins over the scenario's own.
        namespace = None if NAMESPACE_ENV in os.environ else model.redis_namespace
        return RedisEngine(scenario, plan, tasks, sink, namespace=namespace)
    return ThreadedEngine(plan, tasks, sink, time_scale=model.time_scale, execute=execute)


def run(
    scenario: LoadedScenario,
    *,
    log_path: Path,
    observers: Iterable[Observer] = (),
    execute: Execute | None = None,
    on_engine: Callable[[Engine], None] | None = None,
    stops: StopRequests | None = None,
    unique_log: bool = False,
    write_log: bool = True,
) -> RunEnd:
    """Run `scenario`, writing its event log to `log_path`.

    With `write_log=False` no log is written: the events only reach the observers.

    SIGINT and SIGTERM are caught for the whole run (pass `stops` to catch them from
    earlier still): from the moment the log is open, every exit path writes `run_finished`.
    With `unique_log`, `log_path` is a proposed name (`default_log_path`): an existing file
    is never reused, a free name beside it is taken (the outcome says which).
    """
    stops = stops if stops is not None else StopRequests()
    with stop_signals(stops.request):
        return _run(
            scenario,
            log_path,
            observers,
            execute,
            on_engine,
            stops,
            unique_log=unique_log,
            write_log=write_log,
        )


def _run(
    scenario: LoadedScenario,
    log_path: Path,
    observers: Iterable[Observer],
    execute: Execute | None,
    on_engine: Callable[[Engine], None] | None,
    stops: StopRequests,
    *,
    unique_log: bool,
    write_log: bool = True,
) -> RunEnd:
    """The run itself, inside `run`'s signal handlers."""
    wall_start = time.perf_counter()
    expected = count_tasks(compile_plan(scenario.model))
    started = run_started_event(scenario, expected_tasks=expected)
    _check_encodable(started, scenario)  # before the log exists: it never lacks run_started
    if write_log:
        file, log_path = open_new_log(log_path) if unique_log else (open_log(log_path), log_path)
        sink = EventSink(file, path=log_path, observers=observers)
    else:
        sink = memory_sink(observers)
    status = STATUS_FAILED
    error: str | None = None
    engine: Engine | None = None
    try:
        sink.emit(started)
        sink.flush()
        if stops.count:  # stopped before the engine existed: nothing ran, nothing is lost
            status = STATUS_INTERRUPTED
        else:
            engine = make_engine(scenario, sink, execute=execute)
            if on_engine is not None:
                on_engine(engine)
            stops.forward_to(engine.request_stop)
            status = engine.run()
            if engine.failure is not None:
                error = describe(engine.failure)
    except Exception as exc:  # a full disk, or a bug in dtq: the log still ends properly
        status = STATUS_FAILED
        error = describe(exc)
    totals, elapsed_s, lost = _finish(sink, engine, status, error)
    if lost is not None:
        # run_finished never reached the disk: the run cannot be called anything but failed.
        status, error = STATUS_FAILED, error or describe(lost)
    return RunEnd(status, totals, log_path, elapsed_s, time.perf_counter() - wall_start, error)


def _check_encodable(event: dict[str, Any], scenario: LoadedScenario) -> None:
    """ScenarioError unless `event` can be written as a JSON line (text must be UTF-8)."""
    try:
        orjson.dumps(event)
    except orjson.JSONEncodeError as exc:
        raise ScenarioError(
            [
                f"{scenario.path}: cannot be written to the event log ({exc}); "
                f"`dtq validate {scenario.path}` shows where"
            ]
        ) from None


def _finish(
    sink: EventSink, engine: Engine | None, status: str, error: str | None
) -> tuple[dict[str, int], float, OSError | None]:
    """Write `run_finished` and close the log, whatever state the run is in; the error
    that stopped the final write (a full disk), if one did."""
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
        }
        if error is not None:
            finished["error"] = error
        if engine is not None:
            engine.stop_workers(elapsed_s)
        sink.emit(finished)
        try:
            sink.close()
        except OSError as exc:
            return totals, elapsed_s, exc
    return totals, elapsed_s, None


def engine_totals(engine: Engine | None) -> dict[str, int]:
    """The scheduler's counters, or zeros when no engine started."""
    if engine is None:
        return dict.fromkeys(TOTAL_KEYS, 0)
    return engine.totals()


def describe(exc: BaseException) -> str:
    """A one-line description of what stopped a run."""
    if isinstance(exc, OSError):
        return f"writing the event log failed: {exc.strerror or exc}"
    if isinstance(exc, DtqError):  # dtq's own errors already say what happened
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
