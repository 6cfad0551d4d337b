"""The ready queue's ordering key, and the queue itself (FIFOs per level, or a heap)."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

from dtq.core.task import Task


@dataclass(frozen=True, slots=True)
class OrderingKey:
    """A ready task's key is `priority * priority_weight + ready_time * wait_weight`;
    the lowest key runs first, equal keys first-in first-out.

    The one definition of the policies' order: the memory queue and the Redis scripts
    (which only compute this sum) both take it from here.
    """

    priority_weight: float
    wait_weight: float


def ordering_key(policy: str, aging_interval_s: float = 0.0) -> OrderingKey:
    """The ordering key of `policy` (priority, fifo, or aging by one level per interval)."""
    if policy == "priority":
        return OrderingKey(1.0, 0.0)
    if policy == "fifo":
        return OrderingKey(0.0, 0.0)
    if policy == "aging":
        if aging_interval_s <= 0:
            raise ValueError("aging needs an aging interval above 0")
        return OrderingKey(1.0, 1.0 / aging_interval_s)
    raise ValueError(f"unknown policy {policy!r}")


class ReadyQueue:
    """Tasks ready to run, popped by (effective priority, arrival order).

    - `priority`: one FIFO per priority level; a pop takes from the best non-empty level,
      so P1 runs before P10 and equal priorities run first-in first-out.
    - `fifo`: a single FIFO whatever the priorities.
    - `aging`: a heap keyed by (priority + ready_time / aging_interval, arrival). A
      task's effective priority improves by one level per interval waited (continuous
      aging); since every waiting task ages at the same rate, the order between two
      tasks never changes while they wait, so a static heap key is exact and nothing is
      re-heaped.

    The per-level FIFOs pop in exactly the order of a (priority, arrival) heap, with no
    tuple or sequence number per task (about 100 bytes less per queued task) and O(1)
    pushes and pops.
    """

    __slots__ = (
        "_aging_rate",
        "_best",
        "_by_priority",
        "_fifos",
        "_heap",
        "_index",
        "_priority_weight",
        "_seq",
        "size",
    )

    def __init__(self, *, policy: str, aging_interval_s: float = 0.0) -> None:
        # Decided once: with no weight on waiting, the key is constant per level and
        # per-level FIFOs give its order; otherwise a heap of keys.
        key = ordering_key(policy, aging_interval_s)
        self._by_priority = key.priority_weight != 0.0
        self._aging_rate = key.wait_weight
        self._priority_weight = key.priority_weight
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = 0
        self._fifos: list[deque[Task]] = []  # one per level, best level first
        self._index: dict[int, int] = {}  # level -> its place in _fifos
        self._best = 0  # every FIFO before this place is empty
        # How many tasks are queued; read it, never write it (an attribute: the virtual
        # engine's loop reads it after every action, where a `len()` would cost a call).
        self.size = 0

    def push(self, task: Task, now: float) -> None:
        """Queue `task`, ready since `now`."""
        self.size += 1
        if self._aging_rate:
            self._seq += 1
            key = task.priority * self._priority_weight + now * self._aging_rate
            heapq.heappush(self._heap, (key, self._seq, task))
            return
        level = task.priority if self._by_priority else 0
        index = self._index.get(level)
        if index is None:
            index = self._add_level(level)
        self._fifos[index].append(task)
        if index < self._best:
            self._best = index

    def pop(self) -> Task | None:
        """The next task to run, or None."""
        if not self.size:
            return None
        self.size -= 1
        if self._aging_rate:
            return heapq.heappop(self._heap)[2]
        fifos = self._fifos
        best = self._best
        while not fifos[best]:
            best += 1
        self._best = best
        return fifos[best].popleft()

    def _add_level(self, level: int) -> int:
        """Make a FIFO for a level not seen before; returns its place."""
        by_level = {known: self._fifos[index] for known, index in self._index.items()}
        by_level[level] = deque()
        levels = sorted(by_level)
        self._fifos = [by_level[known] for known in levels]
        self._index = {known: index for index, known in enumerate(levels)}
        self._best = 0
        return self._index[level]

    def __len__(self) -> int:
        return self.size
