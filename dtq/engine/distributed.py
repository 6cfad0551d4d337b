"""The Redis engine: `dtq run` as the coordinator of a run whose queue lives in Redis.

The coordinator creates the run's keys, submits arrivals on schedule, starts and ends
faults, and every few tens of milliseconds lets a script release due retries and take
back expired leases. A reader thread copies the run's event stream into the event sink
(which numbers the events and writes the JSONL log), so the log of a distributed run
reads like any other. Workers are this process's threads (`workers:` of the scenario)
and `dtq worker` processes anywhere. The run ends when every submitted task has ended;
a Redis that stays away past the ride-out window fails the run with a clear error.

Shutdown order: the feeder decides the end in Redis (an end marker on the stream),
the reader copies everything up to the marker, the local workers stop, the run's keys
are deleted; only then does the runner write `run_finished`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from dtq import __version__
from dtq.backends.redis.conn import RIDE_OUT_S, RedisConnection, namespace_from_env
from dtq.backends.redis.store import (
    ABANDONED,
    ABANDONED_TTL_S,
    KEYS_TTL_S,
    RunKeys,
    RunStore,
    Tick,
    coordinator_deadline_s,
)
from dtq.backends.redis.wire import decode_entry, encode_whole
from dtq.backends.redis.worker import WorkerPool
from dtq.core.agenda import ARRIVAL, FAULT_EDGE, WORKER_RESTART, Agenda
from dtq.core.attempts import failure_decision, parse_task_id
from dtq.core.plan import CrashFault, Plan, TaskKind
from dtq.core.queues import ordering_key
from dtq.core.retry import dead_letter_reason
from dtq.core.scheduler import Scheduler
from dtq.core.task import Task
from dtq.core.timeline import (
    FaultEdge,
    apply_fault_edge,
    crash_message,
    crash_victims,
    end_open_outages,
    fault_timeline,
)
from dtq.engine.common import EngineBase
from dtq.errors import BackendError, RunStalled
from dtq.events import (
    ERROR_CRASH,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    WORKER_RESTARTED,
    WORKER_STARTED,
    WORKER_STOPPED,
    Event,
    run_totals,
)
from dtq.fold.state import RunState
from dtq.log.sink import EventSink
from dtq.scenario import LoadedScenario

_TICK_S = 0.02
_POLL_S = 0.05
_SUBMIT_CHUNK = 1000
_READ_BLOCK_MS = 50
_TRIM_EVERY_S = 0.5
_DRAIN_LIMIT_S = 30.0
_FAILED_DRAIN_S = 2.0


def _is_instant(kind: TaskKind) -> bool:
    return kind.steps is None and kind.is_instant()


def _totals(counters: dict[str, int]) -> dict[str, int]:
    """Redis's counters as `run_finished` totals."""
    return run_totals(counters)


def run_settings(scenario: LoadedScenario, plan: Plan) -> dict[str, str]:
    """The run's settings as its Redis meta hash holds them (read by the scripts and workers)."""
    model = scenario.model
    key = ordering_key(plan.policy, plan.aging_interval_s)
    return {
        "scale": repr(model.time_scale),
        "policy": plan.policy,
        # The ready queue's score, priority * pw + ready time * rate: decided by the core.
        "pw": repr(key.priority_weight),
        "rate": repr(key.wait_weight),
        "vt_ms": str(max(1, round(model.visibility_timeout * 1000))),
        "outages": "",
        "max_attempts": str(plan.retry.max_attempts),
        # A lost lease is delivered again while the task type's own max_attempts allows.
        "type_attempts": orjson.dumps(_type_attempts(plan)).decode(),
        # Per task type: its retry budget and its expiry, as the scripts apply them.
        "budgets": orjson.dumps(_budget_specs(plan)).decode(),
        "expires": orjson.dumps(
            {name: kind.expires_s for name, kind in plan.kinds.items() if kind.expires_s}
        ).decode(),
        # The coordinator's heartbeat (the tick script) and what happens when it stops.
        "coord_deadline_ms": str(round(coordinator_deadline_s(model.visibility_timeout) * 1000)),
        "keys_ttl_ms": str(KEYS_TTL_S * 1000),
        "abandon_ttl_ms": str(ABANDONED_TTL_S * 1000),
        "scenario": orjson.dumps(scenario.resolved()).decode(),
        "scenario_name": scenario.name,
        "dtq": __version__,
    }


def _budget_specs(plan: Plan) -> dict[str, dict[str, Any]]:
    """Each task type's retry budget: its owner (types without their own share the
    scenario's), ratio, reserve (min_per_s x window) and window, for the scripts."""
    specs: dict[str, dict[str, Any]] = {}
    for name in plan.kinds:
        spec = plan.retry_for(name).budget
        if spec is not None:
            reserve = spec.min_per_s * spec.window_s
            specs[name] = {"o": spec.owner, "r": spec.ratio, "m": reserve, "w": spec.window_s}
    return specs


def _type_attempts(plan: Plan) -> dict[str, tuple[int, str]]:
    """Task types with their own max_attempts: it, and the dead-letter reason of a task
    whose last attempt was lost (as the type's retry block gives it)."""
    out: dict[str, tuple[int, str]] = {}
    for name in plan.kind_retry:
        policy = plan.retry_for(name)
        out[name] = (policy.max_attempts, dead_letter_reason(policy, ERROR_CRASH))
    return out


def dependency_records(plan: Plan) -> dict[str, str]:
    """Each dependency's state at the start of a run, as the deps hash holds it."""
    records: dict[str, str] = {}
    for dep in plan.dependencies:
        spec = dep.spec
        record = {
            "name": spec.name,
            "cap": -1 if spec.concurrency is None else spec.concurrency,
            "ql": -1 if spec.queue_limit is None else spec.queue_limit,
            "rate": spec.rate_per_s or 0,
            "burst": spec.burst,
            "cancel": spec.cancels_abandoned,
            "opt": spec.optimistic,
            "n": 0,
            "line": [],
            "tok": spec.burst,
            "tok_t": 0.0,
            "ver": 0,
            "f": 1.0,
            "lf": 1.0,
        }
        records[str(spec.index)] = orjson.dumps(record).decode()
    return records


class _Faults:
    """A memory scheduler with no workers, used only to build fault events and track outages.

    The fault events are the pure core's own (`Scheduler.outage_started` ...), so a
    distributed log describes faults exactly as a memory log does.
    """

    def __init__(self, plan: Plan) -> None:
        self.events: list[Event] = []
        self.sched = Scheduler(plan, self.events.append, workers=0)

    def take(self) -> list[str]:
        """The events built since the last call, in wire form."""
        wire = [encode_whole(event) for event in self.events]
        self.events.clear()
        return wire

    def active(self) -> list[int]:
        """Indices of the outages in force."""
        return [outage.index for outage in self.sched.active_outages()]


class _Schedule:
    """What the coordinator still has to do at set times, on the core's agenda: arrivals,
    fault edges and restarts. Retry releases and attempt ends happen in Redis (the tick
    and work scripts), since the queue's state lives there."""

    def __init__(self, plan: Plan, tasks: Iterator[tuple[float, Task]]) -> None:
        self.agenda = Agenda()
        for edge in fault_timeline(plan):
            self.agenda.schedule(edge.t, FAULT_EDGE, edge)
        self._tasks = tasks
        self.arrivals_left = self.agenda.schedule_arrival(tasks)
        self.submitted = 0
        self.faults = _Faults(plan)

    def schedule_next_arrival(self) -> None:
        """Put the next task's arrival on the agenda (as each arrival is carried out)."""
        self.arrivals_left = self.agenda.schedule_arrival(self._tasks)


class RedisEngine(EngineBase):
    """Coordinates one run on a Redis backend; conforms to the runner's `Engine`."""

    def __init__(
        self,
        scenario: LoadedScenario,
        plan: Plan,
        tasks: Iterator[tuple[float, Task]],
        sink: EventSink,
        *,
        namespace: str | None = None,
        ride_out_s: float = RIDE_OUT_S,
        flush_interval_s: float = 0.1,
        idle_limit_s: float = 60.0,
        grace_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.sink = sink
        self.lock = threading.Lock()
        self.url = scenario.model.backend
        self.run_id = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
        self.store: RunStore | None = None
        self._scenario = scenario
        self._plan = plan
        self._tasks = tasks
        self._namespace = namespace
        self._ride_out_s = ride_out_s
        self._flush_interval_s = flush_interval_s
        self._idle_limit_s = idle_limit_s
        self._grace_s = grace_s
        self._scale = scenario.model.time_scale
        self._lost_reason = dead_letter_reason(plan.retry, ERROR_CRASH)
        self._mono0: float | None = None
        self._last_t = 0.0
        self._totals: dict[str, int] | None = None
        self._fold = RunState()
        self._members: dict[str, None] = {}
        self._reached_end = threading.Event()
        self._stop_reader = threading.Event()
        self._reader_failure: BaseException | None = None
        self._reader: threading.Thread | None = None
        self._pool: WorkerPool | None = None
        self._conn: RedisConnection | None = None
        self._op = 0

    # -- the Engine interface --------------------------------------------------------------

    def now(self) -> float:
        """Seconds on the scenario clock, never before the last event written."""
        if self._mono0 is None:
            return self._last_t
        return max(self._last_t, round((time.monotonic() - self._mono0) * self._scale, 6))

    def totals(self) -> dict[str, int]:
        """Redis's counters at the end; folded from the written events if Redis failed."""
        if self._totals is not None:
            return dict(self._totals)
        return self._fold.totals()

    def stop_workers(self, now: float) -> None:
        """Log every worker still in the pool leaving it (the caller holds the lock)."""
        for name in self._members:
            self.sink.emit({"seq": 0, "t": now, "event": WORKER_STOPPED, "worker": name})
        self._members.clear()

    def run(self) -> str:
        """Run to the end (or a stop request, or a failure); returns the run status."""
        status = STATUS_FAILED
        try:
            status = self._run()
        except Exception as exc:  # Redis gone for good, a stall, or a bug: a failed run
            self._failure = exc
            status = STATUS_FAILED
        finally:
            self._shut_down(status)
        return status

    # -- the feeder (the caller's thread) ----------------------------------------------------

    def _run(self) -> str:
        namespace = self._namespace or namespace_from_env()
        self._conn = RedisConnection(
            self.url, client_name=f"dtq:{namespace}:coordinator", ride_out_s=self._ride_out_s
        )
        store = self.store = RunStore(self._conn, RunKeys(namespace, self.run_id))
        store.create(run_settings(self._scenario, self._plan))
        store.dependencies(dependency_records(self._plan))
        self._mono0 = time.monotonic()
        self._reader = threading.Thread(target=self._read_guarded, args=(store,), daemon=True)
        self._reader.start()
        model = self._scenario.model
        self._pool = WorkerPool(
            store,
            self._plan,
            count=self._plan.workers,
            time_scale=self._scale,
            visibility_timeout_s=model.visibility_timeout,
            host=f"{socket.gethostname()}:{os.getpid()}",
        )
        self._pool.start()
        return self._feed(store)

    def _feed(self, store: RunStore) -> str:
        plan = _Schedule(self._plan, self._tasks)
        next_tick = 0.0
        stalled_since: float | None = None
        while True:
            self._check_helpers()
            if self._stop_requests:
                return self._interrupt(store, plan)
            now = self.now()
            more = self._carry_out(store, plan, now)
            mono = time.monotonic()
            if mono >= next_tick:
                next_tick = mono + _TICK_S
                tick = store.tick(self._lost_reason)
                if not plan.arrivals_left and self._is_done(tick, plan.submitted):
                    events = self._closing_events(plan)
                    if self._finish(store, STATUS_COMPLETED, events, require_done=True):
                        return STATUS_COMPLETED
                stalled_since = self._check_stall(tick, stalled_since, mono)
            if not more:
                due_s = (plan.agenda.next_t() - now) / self._scale
                time.sleep(max(0.0, min(due_s, next_tick - mono, _POLL_S)))

    def _carry_out(self, store: RunStore, plan: _Schedule, now: float) -> bool:
        """The actions due by `now`, in the agenda's order; arrivals go to Redis in chunks.
        True if more arrivals are due (a chunk was full)."""
        agenda = plan.agenda
        chunk: list[Task] = []
        while agenda.next_t() <= now:
            _, kind, item = agenda.pop()
            if kind == ARRIVAL:
                plan.schedule_next_arrival()
                chunk.append(item)
                if len(chunk) == _SUBMIT_CHUNK:
                    self._submit(store, plan, chunk)
                    return True
                continue
            # Arrivals popped so far were due before this action: they go first.
            self._submit(store, plan, chunk)
            chunk = []
            self._op += 1
            if kind == FAULT_EDGE:
                self._apply_edge(store, plan, item, now)
            else:
                assert kind == WORKER_RESTART
                store.restart(self._op, item)
        self._submit(store, plan, chunk)
        return False

    def _submit(self, store: RunStore, plan: _Schedule, chunk: list[Task]) -> None:
        if not chunk:
            return
        self._op += 1
        store.submit(
            self._op,
            # A task made of steps is never instant: it calls dependencies.
            [(t.id, t.kind.name, t.priority, _is_instant(t.kind)) for t in chunk],
        )
        plan.submitted += len(chunk)

    def _is_done(self, tick: Tick, submitted: int) -> bool:
        if tick.state == ABANDONED:
            raise BackendError(
                f"the workers of run {self.run_id} found this coordinator silent past its "
                "deadline and gave the run up; was this process stopped or starved of CPU?"
            )
        if tick.state != "running":
            raise BackendError(
                f"the run {self.run_id} was ended in Redis by someone else (state {tick.state})"
            )
        # A run lasts until every call is served too, abandoned ones included.
        return tick.submitted == submitted and tick.ended == submitted and tick.calls == 0

    def _check_stall(self, tick: Tick, since: float | None, mono: float) -> float | None:
        """Fail a run whose ready work has had no live worker for `idle_limit_s`."""
        if tick.ready == 0 or tick.live_workers > 0:
            return None
        if since is None:
            return mono
        if mono - since >= self._idle_limit_s:
            raise RunStalled(
                f"no live worker for {self._idle_limit_s:g}s while {tick.ready} tasks are "
                f"ready; start workers with `dtq worker --broker {self.url}`, or run with "
                "--workers N"
            )
        return since

    def _apply_edge(self, store: RunStore, plan: _Schedule, edge: FaultEdge, now: float) -> None:
        faults = plan.faults
        if edge.outage is not None:
            apply_fault_edge(faults.sched, edge, now)
            store.fault(self._op, faults.active(), faults.take())
            return
        fault = edge.dependency_fault
        if fault is not None:
            apply_fault_edge(faults.sched, edge, now)
            (event,) = faults.take()
            starts = "1" if edge.starts else "0"
            args = [fault.dependency, fault.kind, starts, repr(fault.capacity)]
            args += [repr(fault.latency), fault.error, repr(fault.rate), fault.index, event]
            store.dependency_fault(self._op, args)
            return
        assert edge.crash is not None
        victims = self._crash(store, faults, edge.crash, now)
        if victims and edge.crash.restart_after_s is not None:
            plan.agenda.schedule(now + edge.crash.restart_after_s, WORKER_RESTART, victims)

    def _crash(self, store: RunStore, faults: _Faults, crash: CrashFault, now: float) -> list[str]:
        """Crash the workers the core's rule picks (workers in name order), as in memory."""
        faults.sched.crash_fault(crash.index, crash.workers, crash.restart_after_s, now)
        holders = sorted(store.holders())
        victims = crash_victims([(h, bool(h[1])) for h in holders], crash.workers)
        args: list[Any] = []
        for name, held in victims:
            args += [name, len(held)]
            for task_id, number in held:
                kind, key = parse_task_id(self._plan, task_id)
                policy = self._plan.retry_for(kind.name)
                decision = failure_decision(policy, key, number, ERROR_CRASH)
                args += [task_id, number, 1 if decision.retry else 0]
                args += [repr(decision.delay_s), decision.reason]
        store.crash(self._op, faults.take()[0], crash_message(crash), args)
        return [name for name, _ in victims]

    def _closing_events(self, plan: _Schedule) -> list[str]:
        """fault_ended for outages still open at the end, as the memory engines log them."""
        end_open_outages(plan.faults.sched, self.now())
        return plan.faults.take()

    def _interrupt(self, store: RunStore, plan: _Schedule) -> str:
        """Stop: local attempts may finish for the grace period, then the run ends as is."""
        if self._pool is not None:
            self._pool.stop(grace_s=self._grace_s)
        self._finish(store, STATUS_INTERRUPTED, self._closing_events(plan))
        return STATUS_INTERRUPTED

    def _finish(
        self, store: RunStore, status: str, events: list[str], *, require_done: bool = False
    ) -> bool:
        """End the run in Redis and copy the stream up to its end marker into the log."""
        reply = store.finish(status, require_done=require_done, events=events)
        if reply is None:
            return False
        _, marker, counters = reply
        if not marker:
            raise BackendError(f"the run {self.run_id} had already ended in Redis")
        self._wait_for_reader()
        self._totals = _totals(counters)
        return True

    def _wait_for_reader(self) -> None:
        deadline = time.monotonic() + _DRAIN_LIMIT_S
        while not self._reached_end.wait(_POLL_S):
            self._check_helpers()
            if time.monotonic() > deadline:
                raise BackendError(
                    f"the event stream of run {self.run_id} did not reach its end marker "
                    f"within {_DRAIN_LIMIT_S:g}s"
                )

    def _check_helpers(self) -> None:
        """Raise what stopped the reader or the local workers."""
        if self._reader_failure is not None:
            raise self._reader_failure
        pool = self._pool
        if pool is not None and pool.failure is not None:
            raise pool.failure

    # -- the reader thread ---------------------------------------------------------------------

    def _read_guarded(self, store: RunStore) -> None:
        try:
            self._read(store)
        except BaseException as exc:  # Redis gone for good: the feeder fails the run
            self._reader_failure = exc

    def _read(self, store: RunStore) -> None:
        last_id = "0-0"
        flushed = trimmed = time.monotonic()
        while not self._stop_reader.is_set():
            entries = store.read(last_id, block_ms=_READ_BLOCK_MS)
            with self.lock:
                for entry_id, fields in entries:
                    last_id = entry_id
                    payload = fields.get("e")
                    if payload is None:  # the end marker: everything before it is copied
                        self.sink.flush()
                        self._reached_end.set()
                        return
                    for event in decode_entry(payload):
                        self._forward(event)
                mono = time.monotonic()
                if not entries or mono - flushed >= self._flush_interval_s:
                    self.sink.flush()
                    flushed = mono
            if entries and mono - trimmed >= _TRIM_EVERY_S:
                store.trim(last_id)
                trimmed = mono

    def _forward(self, event: Event) -> None:
        """Hand one event to the sink (the caller holds the lock)."""
        self.sink.emit(event)
        self._fold.apply(event)
        if event["t"] > self._last_t:
            self._last_t = event["t"]
        name = event["event"]
        if name in (WORKER_STARTED, WORKER_RESTARTED):
            self._members[event["worker"]] = None
        elif name == WORKER_STOPPED:
            self._members.pop(event["worker"], None)

    # -- shutting down ---------------------------------------------------------------------------

    def _shut_down(self, status: str) -> None:
        """Stop the reader and the local workers, then delete the run's keys."""
        conn, store = self._conn, self.store
        if status == STATUS_FAILED and store is not None and conn is not None:
            self._end_failed(conn, store)
        self._stop_reader.set()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        if self._pool is not None:
            self._pool.stop()
        if store is not None and conn is not None:
            # The run's outcome stands either way; if Redis is gone, so are the keys.
            with contextlib.suppress(BackendError):
                store.cleanup(status)
            conn.close()

    def _end_failed(self, conn: RedisConnection, store: RunStore) -> None:
        """Mark a failed run ended in Redis (one try), so that workers elsewhere stop; if
        Redis still answers, copy the stream up to the end so the log misses nothing."""
        conn.ride_out_s = 0.0
        try:
            reply = store.finish(STATUS_FAILED, require_done=False)
        except BackendError:
            return  # Redis is gone: the workers find out on their own
        if reply is not None and reply[1] and self._reached_end.wait(_FAILED_DRAIN_S):
            self._totals = _totals(reply[2])
