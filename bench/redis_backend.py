"""Row 7: no-op tasks per second through a Redis queue, dtq beside RQ, Celery and the floor.

All on the same Redis (database 12, every key named after one of its variants is deleted after):

- dtq: `dtq run`'s coordinator (no worker of its own) plus 4 `dtq worker` processes,
  events on: every state change goes through the Redis stream into the JSONL log. Two
  workloads: no-op tasks (a 0s duration: claimed and acked up to 50 at a time) and 1us
  tasks (claimed one at a time, as any task that takes time is);
- RQ: 4 `rq worker` processes with `SimpleWorker` (no fork per job);
- Celery: `celery[redis]`, prefork pool, concurrency 4;
- the floor: one bare redis-py loop claiming with one Lua script (ZPOPMIN into a lease
  sorted set) and acking with ZREM, one at a time and pipelined 50 at a time.

Throughput is tasks (claims for the floor) over the time from the first submission to
the last completion; for dtq, to the moment the last event is in the log. The peers'
task is one INCR of a counter (how the benchmark sees them finish).
`python -m bench.redis_backend --size quick|full` prints the table
(`DTQ_BENCH_PROCESSES=N` changes the number of worker processes, 4 by default).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import redis

from bench.common import BenchError, Row, fmt_num, fmt_ratio
from dtq.render.markdown import markdown_table

TASKS = {"quick": 400, "full": 5_000}
MAX_REPEAT = 3
DATABASE = 12
URL = f"redis://127.0.0.1:6379/{DATABASE}"
PROCESSES = int(os.environ.get("DTQ_BENCH_PROCESSES", "4"))
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIMEOUT_S = 300.0
# How long the dtq variant waits for its worker processes to join the run.
JOIN_WAIT_S = 45.0

_NOOP = "bench.redis_backend.peer_noop"
_COUNTER_ENV = "DTQ_BENCH_COUNTER"
_QUEUE_ENV = "DTQ_BENCH_QUEUE"
_CLAIM = """
local m = redis.call('ZPOPMIN', KEYS[1])
if #m == 0 then return false end
redis.call('ZADD', KEYS[2], ARGV[1], m[1])
return m[1]
"""

Result = dict[str, Any]


class BenchFailed(BenchError):
    """A variant could not be measured (a process failed, Redis is missing ...)."""


# -- the peers' task ----------------------------------------------------------------------

_client: redis.Redis | None = None


def peer_noop() -> None:
    """The RQ and Celery task: count itself done, nothing else."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(URL)
    _client.incr(os.environ[_COUNTER_ENV])


def _celery_app() -> Any:
    """The Celery app of the benchmark (its queue named by the environment)."""
    from celery import Celery

    app = Celery("dtq_bench", broker=URL)
    app.conf.update(
        task_ignore_result=True,
        task_default_queue=os.environ.get(_QUEUE_ENV, "dtq-bench"),
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # No broadcast channel (`celery.pidbox`): nothing here controls the workers, and
        # its binding would stay in Redis after the benchmark.
        worker_enable_remote_control=False,
    )
    app.task(name="dtq_bench.noop", ignore_result=True)(peer_noop)
    return app


# `celery -A bench.redis_backend:celery_app worker` finds the app here (workers only).
celery_app = _celery_app() if os.environ.get(_QUEUE_ENV) else None


# -- helpers ------------------------------------------------------------------------------


_NAMES: list[str] = []


def _new_name() -> str:
    """A fresh name for one variant's keys (queue, namespace ...), remembered for cleanup."""
    name = f"dtq-bench-{uuid.uuid4().hex[:8]}"
    _NAMES.append(name)
    return name


@contextlib.contextmanager
def _own_keys(client: redis.Redis) -> Iterator[None]:
    """Delete the keys named after this benchmark's variants once the block ends (and
    their entries in RQ's index of queues).

    Only keys bearing one of the names this process made: another benchmark may be
    running on the same database, and its keys (a run's state ...) are not ours to delete.
    """
    first = len(_NAMES)
    try:
        yield
    finally:
        for name in _NAMES[first:]:
            keys = list(client.scan_iter(match=f"*{name}*", count=1000))
            if keys:
                client.unlink(*keys)
            client.srem("rq:queues", f"rq:queue:{name}")  # RQ's index of every queue
        del _NAMES[first:]


_OUTPUTS: dict[int, IO[bytes]] = {}


def _start(cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a process; its output goes to a temporary file (a full pipe would block it)."""
    output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _stop once the process ends
    process = subprocess.Popen(list(cmd), cwd=ROOT, env=env, stdout=output, stderr=output)
    _OUTPUTS[process.pid] = output
    return process


def _output(process: subprocess.Popen[bytes]) -> str:
    """The last lines a process printed."""
    stream = _OUTPUTS[process.pid]
    stream.seek(0)
    return stream.read().decode(errors="replace")[-2000:]


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        _OUTPUTS.pop(process.pid).close()


def _wait_for(what: str, done: Any, processes: Sequence[subprocess.Popen[bytes]]) -> float:
    """Poll `done()` until true; the time it turned true (BenchFailed if a process died)."""
    deadline = time.perf_counter() + TIMEOUT_S
    while not done():
        for process in processes:
            if process.poll() is not None:
                raise BenchFailed(
                    f"{what}: a process exited ({process.returncode}): {_output(process)}"
                )
        if time.perf_counter() > deadline:
            raise BenchFailed(f"{what}: not done after {TIMEOUT_S:g}s")
        time.sleep(0.005)
    return time.perf_counter()


# -- dtq ------------------------------------------------------------------------------------


def measure_dtq(tasks: int, tmp: Path, *, instant: bool) -> float:
    """Tasks per second through `dtq run` (no local worker) and 4 `dtq worker` processes."""
    from dtq.backends.redis.conn import NAMESPACE_ENV
    from dtq.engine import runner
    from dtq.scenario import LoadedScenario
    from dtq.scenario.models import Scenario

    duration = {"dist": "constant", "value": 0 if instant else "1us"}
    model = Scenario.model_validate(
        {
            "name": "bench",
            "clock": "real",
            "backend": URL,
            # Leases are renewed every second; a generous timeout also gives the
            # coordinator (held at the gate below) time before workers give it up.
            "visibility_timeout": "30s",
            "task_types": {"noop": {"duration": duration}},
            "arrivals": [{"pattern": "burst", "task": "noop", "count": tasks}],
        }
    ).model_copy(update={"workers": 0})
    namespace = _new_name()
    env = {**os.environ, NAMESPACE_ENV: namespace}
    cmd = [sys.executable, "-m", "dtq", "worker", "--broker", URL, "--concurrency", "1"]
    workers = [_start([*cmd, "--wait", "60"], env) for _ in range(PROCESSES)]
    os.environ[NAMESPACE_ENV] = namespace
    log = tmp / f"dtq-{namespace}.jsonl"
    gate = _JoinGate(workers)
    try:
        loaded = LoadedScenario(Path("bench.yaml"), "bench", model, "0" * 64)
        outcome = runner.run(loaded, log_path=log, observers=[gate.see], on_engine=gate.hold)
    finally:
        os.environ.pop(NAMESPACE_ENV, None)
        _stop(workers)
    if gate.failure is not None:
        raise gate.failure
    if outcome.status != "completed" or outcome.totals["succeeded"] != tasks:
        raise BenchFailed(f"dtq: the run ended {outcome.status}: {outcome.error}")
    return tasks / (outcome.elapsed_s - _first_submission(log, tasks))


class _JoinGate:
    """Holds the burst back until every worker process has joined the run.

    The worker processes start with the run, and under load starting Python and
    importing dtq takes seconds: a burst at a set time could come before some of them
    joined and be served by fewer. So the coordinator takes its first arrival only once
    the log shows `worker_started` for all of them (the burst is due at 0s, so it goes
    to Redis at once after that); a worker process that dies, or a join that takes
    longer than JOIN_WAIT_S, fails the measurement instead.
    """

    def __init__(self, processes: Sequence[subprocess.Popen[bytes]]) -> None:
        self._processes = processes
        self._joined = 0
        self._all_joined = threading.Event()
        self.failure: BenchFailed | None = None

    def see(self, events: list[dict[str, Any]]) -> None:
        """The sink's observer: count the joins (on the coordinator's reader thread)."""
        self._joined += sum(1 for e in events if e["event"] == "worker_started")
        if self._joined >= len(self._processes):
            self._all_joined.set()

    def hold(self, engine: Any) -> None:
        """The runner's `on_engine` hook: the engine takes its arrivals through the gate."""
        engine._tasks = self._after_joins(engine._tasks)

    def _after_joins(self, tasks: Iterator[Any]) -> Iterator[Any]:
        deadline = time.perf_counter() + JOIN_WAIT_S
        while not self._all_joined.wait(0.05):
            dead = [p for p in self._processes if p.poll() is not None]
            if dead or time.perf_counter() > deadline:
                late = dead or self._processes
                why = "exited" if dead else f"{JOIN_WAIT_S:g}s passed"
                why += f"; a worker said: {_output(late[0])[-500:]!r}"
                self.failure = BenchFailed(
                    f"dtq: {self._joined} of {len(self._processes)} workers joined ({why})"
                )
                return  # no arrivals: the run completes empty, and the failure is raised
        yield from tasks


def _first_submission(log: Path, tasks: int) -> float:
    """When the burst was submitted; every worker joined before it (the gate sees to it)."""
    import orjson

    joined: list[float] = []
    with log.open("rb") as lines:
        for line in lines:
            event = orjson.loads(line)
            if event["event"] == "worker_started":
                joined.append(event["t"])
            elif event["event"] == "task_submitted":
                if len(joined) < PROCESSES:
                    raise BenchFailed("dtq: the workers had not all joined when the burst came")
                return float(event["t"])
    raise BenchFailed(f"dtq: no task_submitted among {tasks} tasks")


# -- RQ ---------------------------------------------------------------------------------------


def measure_rq(tasks: int, client: redis.Redis) -> float:
    """Jobs per second through 4 `rq worker` processes (SimpleWorker)."""
    from rq import Queue, Worker

    name = _new_name()
    counter = f"{name}:done"
    env = {**os.environ, _COUNTER_ENV: counter}
    rq = shutil.which("rq", path=str(BIN)) or "rq"
    cmd = [rq, "worker", "-u", URL, "-w", "rq.worker.SimpleWorker", "--path", str(ROOT), "-q"]
    workers = [_start([*cmd, "--name", f"{name}-{i}", name], env) for i in range(PROCESSES)]
    try:
        queue = Queue(name, connection=client)
        _wait_for("rq workers", lambda: len(Worker.all(queue=queue)) >= PROCESSES, workers)
        # By name: run as `python -m`, this module is __main__, which workers cannot import.
        jobs = [Queue.prepare_data(_NOOP, result_ttl=0) for _ in range(tasks)]
        started = time.perf_counter()
        for chunk in range(0, tasks, 1000):
            queue.enqueue_many(jobs[chunk : chunk + 1000])
        ended = _wait_for("rq", lambda: _rq_done(client, counter, queue, tasks), workers)
    finally:
        _stop(workers)
    return tasks / (ended - started)


def _rq_done(client: redis.Redis, counter: str, queue: Any, tasks: int) -> bool:
    if queue.failed_job_registry.count:
        raise BenchFailed(f"rq: {queue.failed_job_registry.count} jobs failed")
    return int(client.get(counter) or 0) >= tasks


# -- Celery -------------------------------------------------------------------------------------


def measure_celery(tasks: int, client: redis.Redis) -> float:
    """Tasks per second through one Celery worker: prefork pool, concurrency 4."""
    name = _new_name()
    counter = f"{name}:done"
    env = {**os.environ, _COUNTER_ENV: counter, _QUEUE_ENV: name}
    celery = shutil.which("celery", path=str(BIN)) or "celery"
    cmd = [celery, "-A", "bench.redis_backend:celery_app", "worker", "--pool", "prefork"]
    cmd += ["--concurrency", str(PROCESSES), "--loglevel", "WARNING", "-Q", name]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    worker = _start(cmd, env)
    os.environ[_QUEUE_ENV] = name
    try:
        app = _celery_app()
        app.send_task("dtq_bench.noop", queue=name)  # warm up: the pool is ready after it
        _wait_for("celery warm-up", lambda: int(client.get(counter) or 0) >= 1, [worker])
        client.delete(counter)
        started = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(tasks):
                app.send_task("dtq_bench.noop", queue=name, producer=producer)
        ended = _wait_for("celery", lambda: int(client.get(counter) or 0) >= tasks, [worker])
    finally:
        os.environ.pop(_QUEUE_ENV, None)
        _stop([worker])
    return tasks / (ended - started)


# -- the floor ------------------------------------------------------------------------------------


def measure_floor(tasks: int, client: redis.Redis, *, batch: int) -> float:
    """Claims per second of a bare loop: one Lua claim (ZPOPMIN into leases), ZREM to ack."""
    name = _new_name()
    ready, leases = f"{name}:ready", f"{name}:leases"
    for chunk in range(0, tasks, 5000):
        client.zadd(ready, {f"task-{i:08d}": 5 for i in range(chunk, min(tasks, chunk + 5000))})
    claim = client.register_script(_CLAIM)
    claimed = 0
    started = time.perf_counter()
    while claimed < tasks:
        expiry = time.time() + 30
        if batch == 1:
            ids = [claim(keys=[ready, leases], args=[expiry])]
        else:
            pipe = client.pipeline(transaction=False)
            for _ in range(batch):
                claim(keys=[ready, leases], args=[expiry], client=pipe)
            ids = pipe.execute()
        ids = [i for i in ids if i]
        client.zrem(leases, *ids)
        claimed += len(ids)
    return tasks / (time.perf_counter() - started)


# -- the row ---------------------------------------------------------------------------------------


def run(size: str, repeat: int = 1) -> list[Result]:
    """Measure every variant `repeat` times (interleaved); rows of name, value (the
    median), unit, ratio (the median of the ratios within one repetition), notes."""
    tasks = TASKS[size]
    client = redis.Redis.from_url(URL, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchFailed(f"no Redis answers at {URL}: {exc}") from None
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="dtq-bench-redis-") as folder, _own_keys(client):
        for _ in range(repeat):
            samples.append(_measure_all(tasks, Path(folder), client))
    client.close()
    return _rows(tasks, samples)


def _measure_all(tasks: int, tmp: Path, client: redis.Redis) -> dict[str, float]:
    """One repetition: every variant once, the floor last-but-one and last."""
    return {
        "batched": measure_dtq(tasks, tmp, instant=True),
        "single": measure_dtq(tasks, tmp, instant=False),
        "rq": measure_rq(tasks, client),
        "celery": measure_celery(tasks, client),
        "floor_1": measure_floor(tasks, client, batch=1),
        "floor_50": measure_floor(tasks, client, batch=50),
    }


def _median(samples: list[dict[str, float]], key: str, over: str | None = None) -> float:
    """The median of `key` (divided by `over` within each repetition, when given)."""
    return statistics.median(s[key] / (s[over] if over else 1.0) for s in samples)


def _rows(tasks: int, samples: list[dict[str, float]]) -> list[Result]:
    note = f"{tasks:,} tasks, {PROCESSES} worker processes, events on"
    floor_note = "one redis-py loop, no events"
    celery = _median(samples, "batched", "celery")
    return [
        {
            "name": "dtq on Redis, no-op tasks (claims of up to 50)",
            "value": _median(samples, "batched"),
            "unit": "tasks/s",
            "ratio": f"{celery:.1f}x Celery (goal 5x); "
            f"{_median(samples, 'batched', 'floor_50'):.2f}x floor@50 (goal 0.5x)",
            "notes": note,
        },
        {
            "name": "dtq on Redis, 1us tasks (one claim at a time)",
            "value": _median(samples, "single"),
            "unit": "tasks/s",
            "ratio": f"{_median(samples, 'single', 'floor_1'):.2f}x floor@1 (goal 0.5x); "
            f"{_median(samples, 'single', 'celery'):.1f}x Celery",
            "notes": note,
        },
        _peer("RQ SimpleWorker", samples, "rq", "jobs/s", note),
        _peer("Celery prefork", samples, "celery", "tasks/s", note),
        _peer(
            "floor: bare Lua claim + ack, one at a time", samples, "floor_1", "claims/s", floor_note
        ),
        _peer(
            "floor: bare Lua claim + ack, pipelined 50", samples, "floor_50", "claims/s", floor_note
        ),
    ]


def _peer(name: str, samples: list[dict[str, float]], key: str, unit: str, notes: str) -> Result:
    return {"name": name, "value": _median(samples, key), "unit": unit, "ratio": "", "notes": notes}


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Row 7 of `python -m bench`: the medians over `repeat` interleaved repetitions."""
    results = run(size, min(repeat, MAX_REPEAT))
    batched, single, rq_rate, celery_rate, floor_1, floor_50 = (r["value"] for r in results)
    vs_celery, vs_floor, vs_floor_1 = batched / celery_rate, batched / floor_50, single / floor_1
    details = [
        *markdown_table(
            ("variant", "throughput", "vs"),
            [[r["name"], f"{fmt_num(r['value'])} {r['unit']}", r["ratio"]] for r in results],
        ),
        "",
        f"{TASKS[size]:,} tasks per variant, median of {min(repeat, MAX_REPEAT)} "
        "repetitions (RQ alone takes tens of seconds each). See docs/distributed.md.",
    ]
    return Row(
        number=7,
        title="no-op tasks/s through Redis (4 worker processes, events on)",
        dtq=f"{fmt_num(batched)}/s (claims of 50); {fmt_num(single)}/s (one at a time)",
        peers=[
            f"Celery {fmt_num(celery_rate)}/s",
            f"RQ {fmt_num(rq_rate)}/s",
            f"floor@50 {fmt_num(floor_50)}/s",
            f"floor@1 {fmt_num(floor_1)}/s",
        ],
        ratios=[
            f"{fmt_ratio(vs_celery)} Celery",
            f"{fmt_ratio(batched / rq_rate)} RQ",
            f"{fmt_ratio(vs_floor)} floor@50",
            f"{fmt_ratio(vs_floor_1)} floor@1",
        ],
        goal=">= 5x Celery; >= 0.5x floor at the same batch",
        met=vs_celery >= 5 and vs_floor >= 0.5 and vs_floor_1 >= 0.5,
        details=details,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.redis_backend", description=__doc__)
    parser.add_argument("--size", choices=sorted(TASKS), default="full")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    args = parser.parse_args(argv)
    try:
        rows = run(args.size, max(1, args.repeat))
    except BenchFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print("| variant | throughput | vs |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['name']} | {row['value']:,.0f} {row['unit']} | {row['ratio']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
