"""The events' wire form on the run's Redis stream, and its decoding into event dicts.

A Lua script emits each event as a JSON array `[wire name, t, value, value ...]`, the
values in the order of the event's fields in `dtq.events.FIELDS`: the same fields, in
the same order, as the memory scheduler writes (`dtq.core.scheduler`), so a log from
Redis reads like a log from memory. Each stream entry holds every event of one script
call, in the order the script changed the state. Events built in Python (faults) travel
whole, as the JSON text of the dict, under the wire name `=`.
"""

from __future__ import annotations

from typing import Final

import orjson

from dtq.events import (
    CALL_ENDED,
    CALL_STARTED,
    FIELDS,
    TASK_DEAD_LETTERED,
    TASK_FAILED,
    TASK_REDELIVERED,
    TASK_RETRY_READY,
    TASK_STARTED,
    TASK_SUBMITTED,
    TASK_SUCCEEDED,
    WORKER_CRASHED,
    WORKER_RESTARTED,
    WORKER_STARTED,
    WORKER_STOPPED,
    Event,
)


def _names(event: str, *extra: str) -> tuple[str, tuple[str, ...]]:
    """An event's wire entry: its log name and its fields in `dtq.events.FIELDS` order."""
    return event, (*(key for key, _ in FIELDS[event]), *extra)


WIRE: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    name: _names(name)
    for name in (
        TASK_SUBMITTED,
        TASK_STARTED,
        TASK_SUCCEEDED,
        TASK_FAILED,
        TASK_RETRY_READY,
        TASK_DEAD_LETTERED,
        TASK_REDELIVERED,
        WORKER_STARTED,
        WORKER_STOPPED,
        WORKER_RESTARTED,
        WORKER_CRASHED,
        CALL_STARTED,
        CALL_ENDED,
    )
}
# Wire names private to this backend, outside the closed set of event names:
# the outcome of a run whose lease was lost (logged, and it changes nothing) ...
WIRE["task_failed/duplicate"] = _names(TASK_FAILED, "duplicate")
# ... a worker whose heartbeats stopped: presumed dead, its leases expire ...
WIRE["worker_lost"] = _names(WORKER_CRASHED, "message")
# ... and an attempt whose call a dependency turned away (throttled: when a token is due).
WIRE["task_failed/dep"] = _names(TASK_FAILED, "dependency")
WIRE["task_failed/throttled"] = _names(TASK_FAILED, "dependency", "retry_after")

# Seconds fields: the Lua JSON encoder writes 2.0 as 2; the log keeps them floats.
_SECONDS = frozenset(
    {"wait_s", "run_s", "retry_at", "first_failed_t", "waited_s", "served_s", "retry_after"}
)
_WHOLE = "="


def decode_entry(payload: str | bytes) -> list[Event]:
    """The events of one stream entry, in order, each with `seq` 0 (the sink numbers it)."""
    events: list[Event] = []
    for item in orjson.loads(payload):
        wire_name = item[0]
        if wire_name == _WHOLE:
            event: Event = orjson.loads(item[2])
            event["t"] = float(item[1])
            events.append(event)
            continue
        name, fields = WIRE[wire_name]
        event = {"seq": 0, "t": float(item[1]), "event": name}
        for field, value in zip(fields, item[2:], strict=True):
            if field in _SECONDS and value is not None:
                value = float(value)
            event[field] = value
        events.append(event)
    return events


def encode_whole(event: Event) -> str:
    """A Python-built event in its wire form (the script that logs it adds the time)."""
    return orjson.dumps(event).decode()
