"""The closed set of event names and the event-log schema version.

Every event is one JSON object per line with at least `seq` (1, 2, 3 ... gapless),
`t` (seconds since run start on the scenario's clock) and `event` (one of the names
below). A reader skips names it does not know.
"""

from __future__ import annotations

from typing import Final

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

ALL_EVENTS: Final = frozenset(
    {
        RUN_STARTED,
        RUN_FINISHED,
        TASK_SUBMITTED,
        TASK_STARTED,
        TASK_SUCCEEDED,
        TASK_FAILED,
        TASK_RETRY_READY,
        TASK_DEAD_LETTERED,
        TASK_REDELIVERED,
        WORKER_STARTED,
        WORKER_CRASHED,
        WORKER_RESTARTED,
        WORKER_STOPPED,
        FAULT_STARTED,
        FAULT_ENDED,
    }
)

# Error kinds dtq raises itself, beside the scenario's own.
ERROR_TIMEOUT: Final = "timeout"
ERROR_CRASH: Final = "crash"
RESERVED_ERRORS: Final = frozenset({ERROR_TIMEOUT, ERROR_CRASH})

# Dead-letter reasons.
REASON_EXHAUSTED: Final = "exhausted"
REASON_NON_RETRYABLE: Final = "non_retryable"
REASON_TIMEOUT: Final = "timeout"
REASON_LOST: Final = "lost"

# run_finished statuses.
STATUS_COMPLETED: Final = "completed"
STATUS_INTERRUPTED: Final = "interrupted"
STATUS_FAILED: Final = "failed"
