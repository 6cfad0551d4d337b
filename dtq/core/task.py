"""A task and one attempt at it: small slotted objects, since a run may hold millions."""

from __future__ import annotations

from dataclasses import dataclass

from dtq.core.plan import TaskKind


class Task:
    """One submitted job: identity, priority and its retry history."""

    __slots__ = (
        "attempts",
        "first_failed_t",
        "id",
        "key",
        "kind",
        "last_error",
        "priority",
        "ready_t",
        "submitted_t",
    )

    def __init__(self, task_id: str, kind: TaskKind, key: int) -> None:
        self.id = task_id
        self.kind = kind
        self.priority = kind.priority
        self.key = key
        self.attempts = 0
        self.ready_t = 0.0
        self.submitted_t = 0.0
        self.first_failed_t: float | None = None
        self.last_error: str | None = None


@dataclass(slots=True, eq=False)
class Attempt:
    """One try of a task on a worker; its outcome is drawn when it starts."""

    task: Task
    number: int
    worker: int
    started_t: float
    run_s: float
    error: str | None
    message: str
