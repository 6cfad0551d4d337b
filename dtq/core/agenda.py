"""One agenda of timed actions, as in simpy: the only place that decides what happens next.

Every engine keeps its timed actions here: arrivals, retry releases, fault edges,
worker restarts and (on the virtual clock) attempt ends. The heap holds
`(time, kind, counter, item)`: the earliest time first; at the same instant the kind's
rank decides (the order of the constants below); then the order the actions were
scheduled in (`counter`, as simpy's `eid`). So one scenario has one order of
same-instant actions on every engine. An engine decides only how to wait for
`next_t()`: the virtual clock jumps to it, the real clock waits on a condition until
then, the Redis coordinator does the same with the queue's state in Redis.

Same-instant order, and why:
  ATTEMPT_END     a worker that finishes at t is free for work arriving at t;
  CALL_END        a dependency's reply at t frees its slot for calls made at t, and an
                  attempt whose reply comes exactly at its deadline made it in time;
  STEP_END        an attempt's local work ends (next: its next step, or its end);
  ATTEMPT_TIMEOUT an attempt of a task type with steps runs out of time: its worker
                  gives up (its call may stay at the dependency: see core/steps.py);
  FAULT_EDGE      a fault at t applies to everything that starts at t (edges keep
                  the fault timeline's own order: file order, a window's end before
                  its start);
  WORKER_RESTART  a worker back at t takes work released or arriving at t;
  RETRY_RELEASE   a retry due at t was planned before t, so it queues before new work;
  ARRIVAL         new work last.

A workload of millions of arrivals costs one heap entry: as a simpy process does, the
arrival action schedules the next arrival when it runs.

To add a kind of timed action (an expiry, a dependency's reply ...): give it a
constant here at the rank where it belongs among these (renumbering the ones after
it, and extending KIND_NAMES), schedule it with `schedule(at, KIND, item)`, and give
`LocalDriver` (dtq/core/driver.py) a handler for it in its `handlers` table; the
Redis coordinator's `_carry_out` (dtq/engine/distributed.py) gets a branch if the
kind exists in distributed runs too. Nothing else decides order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any, Final

ATTEMPT_END: Final = 0
CALL_END: Final = 1
STEP_END: Final = 2
ATTEMPT_TIMEOUT: Final = 3
FAULT_EDGE: Final = 4
WORKER_RESTART: Final = 5
RETRY_RELEASE: Final = 6
ARRIVAL: Final = 7
KIND_NAMES: Final = (
    "attempt_end",
    "call_end",
    "step_end",
    "attempt_timeout",
    "fault_edge",
    "worker_restart",
    "retry_release",
    "arrival",
)

INF: Final = float("inf")

Entry = tuple[float, int, int, Any]


class Agenda:
    """A heap of `(time, kind, counter, item)`: timed actions in one deterministic order.

    `heap` and `counter` are public for the virtual engine's hot loop, which pushes and
    pops entries of this exact shape itself (a C call each, where a method call would
    cost a tenth of a task's life); everything else goes through the methods.
    """

    __slots__ = ("counter", "heap")

    def __init__(self) -> None:
        self.heap: list[Entry] = []
        self.counter = itertools.count()

    def schedule(self, at: float, kind: int, item: Any) -> None:
        """Carry out `item` (an action of `kind`) at time `at`."""
        heapq.heappush(self.heap, (at, kind, next(self.counter), item))

    def schedule_arrival(self, tasks: Iterator[tuple[float, Any]]) -> bool:
        """Put the next of `tasks` (time, task) on as an ARRIVAL; False when none is left."""
        entry = next(tasks, None)
        if entry is None:
            return False
        self.schedule(entry[0], ARRIVAL, entry[1])
        return True

    def next_t(self) -> float:
        """When the earliest action is due (infinity when there is none)."""
        heap = self.heap
        return heap[0][0] if heap else INF

    def pop(self) -> tuple[float, int, Any]:
        """Remove the earliest action: (time, kind, item)."""
        at, kind, _, item = heapq.heappop(self.heap)
        return at, kind, item

    def __len__(self) -> int:
        return len(self.heap)
