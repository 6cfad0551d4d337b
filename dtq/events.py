"""The closed set of event names and the event-log schema version.

Every event is one JSON object per line with at least `seq` (1, 2, 3 ... gapless),
`t` (seconds since run start on the scenario's clock) and `event` (one of the names
below). A reader skips names it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

Event = dict[str, Any]
"""One event as read or written: `seq`, `t`, `event` and the fields `FIELDS` lists."""

SCHEMA_VERSION: Final = 1

RUN_STARTED: Final = "run_started"
RUN_FINISHED: Final = "run_finished"
TASK_SUBMITTED: Final = "task_submitted"
TASK_STARTED: Final = "task_started"
TASK_SUCCEEDED: Final = "task_succeeded"
TASK_FAILED: Final = "task_failed"
TASK_RETRY_READY: Final = "task_retry_ready"
TASK_DEAD_LETTERED: Final = "task_dead_lettered"
TASK_REDELIVERED: Final = "task_redelivered"
WORKER_STARTED: Final = "worker_started"
WORKER_CRASHED: Final = "worker_crashed"
WORKER_RESTARTED: Final = "worker_restarted"
WORKER_STOPPED: Final = "worker_stopped"
FAULT_STARTED: Final = "fault_started"
FAULT_ENDED: Final = "fault_ended"
# A call to a dependency: its service started, and it ended (ok, conflict, abandoned by
# its attempt, or cancelled). A call turned away is a task_failed that names its
# `dependency` (and, when throttled, `retry_after`: when the next token is due).
CALL_STARTED: Final = "call_started"
CALL_ENDED: Final = "call_ended"

# Error kinds dtq raises itself, beside the scenario's own.
ERROR_TIMEOUT: Final = "timeout"
ERROR_CRASH: Final = "crash"
# Error kinds a dependency raises.
ERROR_OVERLOADED: Final = "overloaded"
ERROR_THROTTLED: Final = "throttled"
ERROR_CONFLICT: Final = "conflict"
ERROR_UNAVAILABLE: Final = "unavailable"

# Dead-letter reasons.
REASON_EXHAUSTED: Final = "exhausted"
REASON_NON_RETRYABLE: Final = "non_retryable"
REASON_TIMEOUT: Final = "timeout"
REASON_LOST: Final = "lost"
REASON_BUDGET: Final = "budget"  # the retry budget had no room for one more retry
REASON_EXPIRED: Final = "expired"  # not started within its task type's `expires`

# The keys of run_finished's totals, in the order they are written.
TOTAL_KEYS: Final = (
    "submitted",
    "succeeded",
    "dead_lettered",
    "pending",
    "started",
    "failed",
    "retried",
    "redelivered",
)

# run_finished statuses.
STATUS_COMPLETED: Final = "completed"
STATUS_INTERRUPTED: Final = "interrupted"
STATUS_FAILED: Final = "failed"


def run_totals(counts: Mapping[str, int]) -> dict[str, int]:
    """`run_finished.totals` from the counters: `TOTAL_KEYS` in order, with `pending`
    (submitted tasks that have not ended) derived here and nowhere else."""
    totals = {key: counts.get(key, 0) for key in TOTAL_KEYS}
    totals["pending"] = totals["submitted"] - totals["succeeded"] - totals["dead_lettered"]
    return totals


# -- the fields of each event -----------------------------------------------------------

# A field's kind: what its value must be for a reader to use it. A kind ending in "?"
# may also be null or absent; readers never require it.
_NUMBER: Final = "number"
_TASK: Final = (("task_id", str), ("type", str), ("priority", int))
_ATTEMPT: Final = (*_TASK, ("attempt", int), ("worker", str))

# Each event's fields after `seq`, `t` and `event`, in the order dtq writes them (the
# scheduler's literals, and the Redis wire table built from this one). The one list.
FIELDS: Final[dict[str, tuple[tuple[str, Any], ...]]] = {
    RUN_STARTED: (),  # a record of the run's settings, read leniently (see fold.state)
    RUN_FINISHED: (("status", str), ("totals", dict), ("elapsed_s", "number?")),
    TASK_SUBMITTED: _TASK,
    TASK_STARTED: (*_ATTEMPT, ("wait_s", _NUMBER)),
    TASK_SUCCEEDED: (*_ATTEMPT, ("run_s", _NUMBER)),
    TASK_FAILED: (
        *_ATTEMPT,
        ("error", str),
        ("message", "str?"),
        ("will_retry", bool),
        ("retry_at", "number?"),
        ("run_s", _NUMBER),
    ),
    TASK_RETRY_READY: (*_TASK, ("attempt", int)),
    TASK_DEAD_LETTERED: (
        *_TASK,
        ("attempt", "int?"),
        ("reason", str),
        ("attempts", int),
        ("first_failed_t", "number?"),
        ("last_error", str),
    ),
    TASK_REDELIVERED: (*_TASK, ("attempt", "int?"), ("lost_worker", "str?")),
    WORKER_STARTED: (("worker", str), ("host", "str?")),
    WORKER_STOPPED: (("worker", str),),
    WORKER_RESTARTED: (("worker", str),),
    WORKER_CRASHED: (("worker", str), ("task_id", "str?")),
    FAULT_STARTED: (("fault", int), ("kind", str)),  # then the fault's own settings
    FAULT_ENDED: (("fault", int), ("kind", "str?")),
    CALL_STARTED: (
        *_TASK,
        ("attempt", int),
        ("dependency", str),
        ("waited_s", _NUMBER),
        ("in_flight", int),
        ("line", int),
    ),
    CALL_ENDED: (
        *_TASK,
        ("attempt", int),
        ("dependency", str),
        ("waited_s", _NUMBER),
        ("in_flight", int),
        ("line", int),
        ("outcome", str),
        ("served_s", "number?"),
    ),
}

# The fields each known event needs, as the reducer and `dtq verify` read them.
REQUIRED_FIELDS: Final[dict[str, dict[str, Any]]] = {
    name: {key: kind for key, kind in fields if not str(kind).endswith("?")}
    for name, fields in FIELDS.items()
}


_KIND_WORDS: Final[dict[Any, str]] = {
    _NUMBER: "a number",
    int: "an integer",
    str: "a string",
    bool: "true or false",
    dict: "an object",
}
# The same table as exact types, for the check every line passes (bool is not an int here).
_TYPES: Final = {_NUMBER: frozenset({int, float}), int: frozenset({int})}
_FAST_FIELDS: Final = {
    name: tuple((key, _TYPES.get(kind, frozenset({kind}))) for key, kind in required.items())
    for name, required in REQUIRED_FIELDS.items()
}


def field_problem(event: Event) -> str | None:
    """What keeps a known event from being read (a missing or mistyped field), or None."""
    fields = _FAST_FIELDS.get(event["event"])
    if fields:
        get = event.get
        for key, types in fields:
            if type(get(key)) not in types:
                return _describe_field_problem(event, key)
    return None


def _describe_field_problem(event: Event, key: str) -> str:
    name = event["event"]
    required = REQUIRED_FIELDS[name]
    if key not in event:
        return f"{name} has no {key!r} field (it needs {', '.join(required)})"
    return f"{name}: {key!r} must be {_KIND_WORDS[required[key]]} (got {event[key]!r})"
