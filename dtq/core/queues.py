"""The ready queue (min-heap under a policy) and the delayed-retry queue."""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

from dtq.core.task import Task

T = TypeVar("T")


class ReadyQueue:
    """Tasks ready to run, popped by (effective priority, arrival sequence).

    - `priority`: key = priority; equal priorities are first-in first-out.
    - `fifo`: key = 0, so the sequence alone orders.
    - `aging`: key = priority + ready_time / aging_interval. A task's effective priority
      improves by one level per interval waited (continuous aging); since every waiting
      task ages at the same rate, the order between two tasks never changes while they
      wait, so a static heap key is exact and nothing is re-heaped.
    """

    __slots__ = ("_aging_rate", "_heap", "_policy", "_seq")

    def __init__(self, *, policy: str, aging_interval_s: float = 0.0) -> None:
        if policy not in ("priority", "fifo", "aging"):
            raise ValueError(f"unknown policy {policy!r}")
        if policy == "aging" and aging_interval_s <= 0:
            raise ValueError("aging needs an aging interval above 0")
        self._policy = policy
        self._aging_rate = 1.0 / aging_interval_s if policy == "aging" else 0.0
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = 0

    def push(self, task: Task, now: float) -> None:
        """Queue `task`, ready since `now`."""
        self._seq += 1
        if self._policy == "priority":
            key: float = task.priority
        elif self._policy == "fifo":
            key = 0.0
        else:
            key = task.priority + now * self._aging_rate
        heapq.heappush(self._heap, (key, self._seq, task))

    def pop(self) -> Task | None:
        """The next task to run, or None."""
        if self._heap:
            return heapq.heappop(self._heap)[2]
        return None

    def __len__(self) -> int:
        return len(self._heap)


class DelayedQueue(Generic[T]):
    """Items held until their ready time; ties by insertion order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = 0

    def push(self, item: T, ready_at: float) -> None:
        """Hold `item` until `ready_at`."""
        self._seq += 1
        heapq.heappush(self._heap, (ready_at, self._seq, item))

    def next_at(self) -> float | None:
        """When the earliest item is due, or None if empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[float, T]]:
        """Remove and return every (ready_at, item) due at or before `now`, in order."""
        heap = self._heap
        due: list[tuple[float, T]] = []
        while heap and heap[0][0] <= now:
            ready_at, _, item = heapq.heappop(heap)
            due.append((ready_at, item))
        return due

    def __len__(self) -> int:
        return len(self._heap)
