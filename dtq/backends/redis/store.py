"""One run's state in Redis: its keys, and every change to them as one atomic Lua script.

Keys live under `<namespace>:run:<run id>:`; `<namespace>:current` names the run that
`dtq worker` joins. The ready queue is a sorted set scored by the policy's key with
members `<15-digit sequence><task id>` (equal scores pop first-in first-out); delayed
retries a sorted set by ready time; leases a sorted set by expiry (wall milliseconds);
the DLQ a hash of entries; events a stream. Each script changes the state and appends
its events to the stream in one step, so no task is claimed twice or dropped between
two commands, and the stream's order is the order of the changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

import orjson

from dtq.backends.redis.conn import RIDE_OUT_S, RedisConnection

SCRIPTS: Final = (
    "work",
    "submit",
    "tick",
    "join",
    "heartbeat",
    "leave",
    "fault",
    "crash",
    "restart",
    "holders",
    "finish",
    "call",
    "depfault",
)
_KEY_NAMES: Final = (
    "meta",
    "tasks",
    "ready",
    "delayed",
    "leases",
    "events",
    "dlq",
    "workers",
    "counts",
    "down",
    "wake",
    "names",
    "deps",
    "calls",
    "serving",
    "budgets",
)
END_TTL_S = 600
# A running run's keys live this long past the coordinator's last renewal (it renews
# them every quarter of it), so a run whose coordinator was killed leaves nothing for good.
KEYS_TTL_S = 600
# Once workers find the run abandoned, its keys live this long (for a look at what is left).
ABANDONED_TTL_S = 60
ABANDONED = "abandoned"


def coordinator_deadline_s(visibility_timeout_s: float) -> float:
    """How long workers wait for a silent coordinator before they call the run abandoned.

    Longer than the ride-out window plus two visibility timeouts: a coordinator that is
    only riding out a Redis outage, or was slowed down, is never given up on.
    """
    return RIDE_OUT_S + 2.0 * visibility_timeout_s


def _lua(name: str) -> str:
    return (
        files("dtq.backends.redis")
        .joinpath("lua")
        .joinpath(f"{name}.lua")
        .read_text(encoding="utf-8")
    )


_SOURCES: dict[str, str] = {}


def script_source(name: str) -> str:
    """The text of script `name`: the shared prelude and the dependencies' part (deps),
    then its body (init stands alone)."""
    source = _SOURCES.get(name)
    if source is None:
        body = _lua(name)
        source = body if name == "init" else "\n".join((_lua("prelude"), _lua("deps"), body))
        _SOURCES[name] = source
    return source


@dataclass(frozen=True)
class RunKeys:
    """The key names of one run."""

    namespace: str
    run_id: str

    @property
    def prefix(self) -> str:
        """What every key of the run starts with."""
        return f"{self.namespace}:run:{self.run_id}:"

    @property
    def current(self) -> str:
        """The namespace's pointer to the run `dtq worker` joins."""
        return f"{self.namespace}:current"

    @property
    def end(self) -> str:
        """Where the final status stays for a while after the run's keys are deleted."""
        return self.prefix + "end"

    def of(self, name: str) -> str:
        """The full name of the run's key `name` (meta, tasks, ready ...)."""
        return self.prefix + name

    def turn(self, worker: str) -> str:
        """The list on which `worker` hears that its call waiting in line got a slot."""
        return self.prefix + "turn:" + worker

    def script_keys(self) -> list[str]:
        """The KEYS every script gets, in the prelude's order."""
        return [self.prefix + name for name in _KEY_NAMES]


@dataclass(frozen=True)
class Claim:
    """What a worker's `work` call returns: the run's state and what it may run now."""

    state: str
    outages: tuple[int, ...]
    down: bool
    attempts: list[tuple[str, int]]


@dataclass(frozen=True)
class Beat:
    """What a worker process's heartbeat learns: the run's state, the outages in force,
    its workers held down by a crash fault, and (abandoned) how long the coordinator
    has been silent."""

    state: str
    outages: tuple[int, ...] = ()
    down: frozenset[str] = frozenset()
    silent_s: float = 0.0


@dataclass(frozen=True)
class Tick:
    """What the coordinator's periodic step sees."""

    state: str
    live_workers: int = 0
    ready: int = 0
    submitted: int = 0
    ended: int = 0
    calls: int = 0


AttemptReport = tuple[str, int, bool, str, str, bool, float, str, str, float | None]
"""How an attempt ended: task id, attempt, ok, error, message, retry, delay_s, DLQ reason,
the dependency that turned its call away ("" if none) and, throttled, its retry_after."""


def _outages(raw: str) -> tuple[int, ...]:
    return tuple(int(part) for part in raw.split(",") if part)


class RunStore:
    """The scripts of one run, called through a connection that rides out short outages."""

    def __init__(self, conn: RedisConnection, keys: RunKeys) -> None:
        self.conn = conn
        self.keys = keys
        # The run's keys, then the namespace's `current` pointer (the tick and heartbeat
        # scripts give it a time to live, or delete it, when it names this run).
        self._keys = [*keys.script_keys(), keys.current]
        client = conn.client
        self._scripts = {name: client.register_script(script_source(name)) for name in SCRIPTS}

    def _run(self, name: str, args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        return self.conn.call(f"the {name} script", lambda: script(keys=self._keys, args=args))

    # -- the run's lifecycle ------------------------------------------------------------

    def create(self, fields: dict[str, str]) -> tuple[int, int]:
        """Start the run clock, write the run's settings, point `current` here."""
        init = self.conn.client.register_script(script_source("init"))
        keys = [self.keys.of("meta"), self.keys.current]
        args = [self.keys.run_id, *[item for pair in fields.items() for item in pair]]
        sec, usec = self.conn.call("starting the run", lambda: init(keys=keys, args=args))
        return int(sec), int(usec)

    def finish(self, status: str, *, require_done: bool, events: Sequence[str] = ()) -> Any:
        """End the run (or None while tasks are still open): (status, end marker, counters)."""
        reply = self._run("finish", [status, "1" if require_done else "0", *events])
        if reply[0] == "busy":
            return None
        counters = {reply[i]: int(reply[i + 1]) for i in range(2, len(reply), 2)}
        return reply[0], reply[1], counters

    def cleanup(self, status: str) -> None:
        """Delete the run's keys; its final status stays a while for late workers."""
        client = self.conn.client
        keys = self.keys

        def delete() -> None:
            names: list[str] = client.hkeys(keys.of("names"))  # type: ignore[assignment]
            pipe = client.pipeline(transaction=True)
            pipe.set(keys.end, status, ex=END_TTL_S)
            pipe.unlink(*keys.script_keys(), *(keys.turn(name) for name in names))
            pipe.execute()
            # Clear the pointer only if it still names this run (a newer run may own it).
            client.eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
                1,
                keys.current,
                keys.run_id,
            )

        self.conn.call("cleaning up the run's keys", delete)

    def end_status(self) -> str | None:
        """The final status a finished run left behind, or None."""
        value = self.conn.call("reading the run's end", lambda: self.conn.client.get(self.keys.end))
        return str(value) if value is not None else None

    # -- coordinator ---------------------------------------------------------------------

    def submit(self, op: int, tasks: Sequence[tuple[str, str, int, bool]]) -> int:
        """Submit (id, type, priority, instant) tasks as coordinator operation `op`."""
        # One JSON argument: redis-py encodes each argument in Python, thousands cost.
        return int(self._run("submit", [op, orjson.dumps(tasks)]))

    def tick(self, lost_reason: str) -> Tick:
        """Release due retries, declare silent workers lost, take back expired leases."""
        reply = self._run("tick", [lost_reason])
        if len(reply) == 1:
            return Tick(reply[0])
        live, ready, submitted, ended, calls = (int(value) for value in reply[1:6])
        return Tick(reply[0], live, ready, submitted, ended, calls)

    def fault(self, op: int, outages: Sequence[int], events: Sequence[str]) -> None:
        """Publish the active outages and log the fault events, as operation `op`."""
        self._run("fault", [op, ",".join(str(i) for i in outages), *events])

    def dependencies(self, records: dict[str, str]) -> None:
        """Write each dependency's initial state (index -> JSON), before any task runs."""
        if not records:
            return
        key = self.keys.of("deps")
        client = self.conn.client
        self.conn.call(
            "writing the dependencies", lambda: client.hset(key, mapping=dict[Any, Any](records))
        )

    def dependency_fault(self, op: int, args: Sequence[Any]) -> None:
        """A slowdown or outage of a dependency starts or ends; `args` as depfault.lua says."""
        self._run("depfault", [op, *args])

    def holders(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """Every live worker not held down, with the (task id, attempt) leases it holds."""
        reply = self._run("holders", [])
        out = []
        for i in range(0, len(reply), 2):
            held = reply[i + 1]
            out.append((reply[i], [(held[j], int(held[j + 1])) for j in range(0, len(held), 2)]))
        return out

    def crash(self, op: int, event: str, message: str, victims: Sequence[Any]) -> None:
        """Crash workers; `victims` is the flat ARGV tail the crash script documents."""
        self._run("crash", [op, event, message, *victims])

    def restart(self, op: int, names: Sequence[str]) -> None:
        """Bring crashed workers back."""
        self._run("restart", [op, *names])

    def read(self, last_id: str, *, block_ms: int, count: int = 500) -> list[tuple[str, Any]]:
        """Stream entries after `last_id` (waiting up to `block_ms` for the first)."""
        stream = self.keys.of("events")
        client = self.conn.client
        reply: Any = self.conn.call(
            "reading the event stream",
            lambda: client.xread({stream: last_id}, count=count, block=block_ms),
        )
        if not reply:
            return []
        entries: list[tuple[str, Any]] = reply[0][1]
        return entries

    def trim(self, min_id: str) -> None:
        """Drop stream entries older than `min_id` (already written to the log)."""
        stream = self.keys.of("events")
        client = self.conn.client
        self.conn.call("trimming the event stream", lambda: client.xtrim(stream, minid=min_id))

    # -- workers -------------------------------------------------------------------------

    def join(self, count: int, host: str) -> tuple[str, list[str]]:
        """Register `count` workers running on `host`; returns the state and their names."""
        reply = self._run("join", [count, host])
        return reply[0], list(reply[1:])

    def work(self, worker: str, outcomes: Sequence[AttemptReport], want: int) -> Claim:
        """Settle the finished attempts' outcomes, then claim up to `want` attempts."""
        reply = self._run("work", [worker, want, orjson.dumps(outcomes)])
        if len(reply) == 1:
            return Claim(reply[0], (), False, [])
        claimed = [(task_id, int(number)) for task_id, number in orjson.loads(reply[3])]
        return Claim(reply[0], _outages(reply[1]), reply[2] == 1, claimed)

    def heartbeat(self, names: Sequence[str], leases: Sequence[tuple[str, int, str]]) -> Beat:
        """Renew registrations and leases, and check that the coordinator is alive."""
        args: list[Any] = [len(names), *names]
        for task_id, attempt, worker in leases:
            args += [task_id, attempt, worker]
        reply = self._run("heartbeat", args)
        if reply[0] == ABANDONED:
            return Beat(ABANDONED, silent_s=int(reply[1]) / 1000.0)
        if len(reply) == 1:
            return Beat(reply[0])
        down = frozenset(name for name in reply[2].split(",") if name)
        return Beat(reply[0], _outages(reply[1]), down)

    def leave(
        self, lost_reason: str, names: Sequence[str], leases: Sequence[tuple[str, int, str]]
    ) -> str:
        """Workers leave the run; leases they still hold are given back at once."""
        args: list[Any] = [lost_reason, len(names), *names]
        for task_id, attempt, worker in leases:
            args += [task_id, attempt, worker]
        return str(self._run("leave", args))

    def offer_call(
        self,
        worker: str,
        call: str,
        attempt: tuple[str, int],
        dependency: int,
        service_s: float,
        u: float,
        timeout_s: float | None,
    ) -> list[str]:
        """A call of `attempt` (whose `timeout_s` covers it) arrives at `dependency`; the
        call script says what happened."""
        task_id, number = attempt
        args = ["offer", worker, call, task_id, number, dependency, repr(service_s), repr(u)]
        args.append("" if timeout_s is None else repr(timeout_s))
        return list(self._run("call", args))

    def end_call(self, worker: str, call: str, attempt: tuple[str, int]) -> list[str]:
        """The call's outcome once served ([ok | conflict]), ['serving', seconds left] while
        the run clock says it is not over yet, ['timeout'] when its attempt's time ran
        out first, or ['gone']."""
        return list(self._run("call", ["end", worker, call, attempt[0], attempt[1]]))

    def wait_turn(self, worker: str, timeout_s: float) -> str | None:
        """Block until one of `worker`'s calls gets a slot (`<call> <service s>`), or None."""
        key = self.keys.turn(worker)
        client = self.conn.client
        reply: Any = self.conn.call(
            "waiting in a dependency's line", lambda: client.blpop([key], timeout=timeout_s)
        )
        return None if reply is None else str(reply[1])

    def wait_for_work(self, timeout_s: float) -> None:
        """Block until a task may be ready (a wake-up token) or `timeout_s` passes."""
        wake = self.keys.of("wake")
        client = self.conn.client
        self.conn.call("waiting for work", lambda: client.blpop([wake], timeout=timeout_s))


def find_current(conn: RedisConnection, namespace: str) -> tuple[str, dict[str, Any]] | None:
    """The run `current` points at and its settings, or None if there is none."""
    client = conn.client

    def read() -> tuple[str, dict[str, Any]] | None:
        run_id = client.get(f"{namespace}:current")
        if run_id is None:
            return None
        meta: dict[str, Any] = client.hgetall(RunKeys(namespace, str(run_id)).of("meta"))  # type: ignore[assignment]
        if not meta or meta.get("state") != "running":
            return None
        return str(run_id), meta

    return conn.call("looking for the current run", read)


def scenario_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The resolved scenario stored in a run's meta hash."""
    data: dict[str, Any] = orjson.loads(meta["scenario"])
    return data
