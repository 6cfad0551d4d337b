"""Ready-queue order under each policy, and the delayed queue."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from dtq.core.plan import ConstantDuration, TaskKind
from dtq.core.queues import OrderingKey, ReadyQueue, ordering_key
from dtq.core.task import Task


def _task(name: str, priority: int) -> Task:
    kind = TaskKind(0, "job", priority, ConstantDuration(0.0), None, ())
    return Task(name, kind, 0)


@given(st.lists(st.integers(min_value=1, max_value=10), max_size=200))
def test_priority_policy_pops_by_priority_then_arrival(priorities: list[int]) -> None:
    """P1 before P10; equal priorities first-in first-out."""
    queue = ReadyQueue(policy="priority")
    for i, p in enumerate(priorities):
        queue.push(_task(f"t{i}", p), 0.0)
    popped = [queue.pop() for _ in priorities]
    order = [(t.priority, int(t.id[1:])) for t in popped if t is not None]
    assert order == sorted(order)
    assert queue.pop() is None


@given(st.lists(st.integers(min_value=1, max_value=10), max_size=200))
def test_fifo_policy_ignores_priority(priorities: list[int]) -> None:
    """fifo pops in arrival order whatever the priorities."""
    queue = ReadyQueue(policy="fifo")
    for i, p in enumerate(priorities):
        queue.push(_task(f"t{i}", p), 0.0)
    assert [t.id for t in iter(queue.pop, None)] == [f"t{i}" for i in range(len(priorities))]


def test_aging_lets_an_old_low_priority_task_pass_new_high_priority_ones() -> None:
    """A P10 task ready at 0 beats a P1 task ready more than 9 intervals later."""
    queue = ReadyQueue(policy="aging", aging_interval_s=1.0)
    queue.push(_task("old-p10", 10), 0.0)
    queue.push(_task("new-p1", 1), 9.5)
    queue.push(_task("newer-p1", 1), 8.5)
    assert [t.id for t in iter(queue.pop, None)] == ["newer-p1", "old-p10", "new-p1"]


@given(
    st.lists(
        st.one_of(st.integers(min_value=1, max_value=10), st.none()),  # None = a pop
        max_size=300,
    )
)
def test_priority_levels_pop_like_a_priority_then_arrival_heap(ops: list[int | None]) -> None:
    """Interleaved pushes and pops give exactly what a (priority, seq) heap gives."""
    queue = ReadyQueue(policy="priority")
    reference: list[tuple[int, int, str]] = []
    for seq, op in enumerate(ops):
        if op is None:
            got = queue.pop()
            want = heapq.heappop(reference)[2] if reference else None
            assert (got.id if got is not None else None) == want
        else:
            queue.push(_task(f"t{seq}", op), 0.0)
            heapq.heappush(reference, (op, seq, f"t{seq}"))
        assert len(queue) == len(reference)


def test_each_policy_has_one_ordering_key() -> None:
    """The weights the memory queue and the Redis scripts both use, per policy."""
    assert ordering_key("priority") == OrderingKey(1.0, 0.0)
    assert ordering_key("fifo") == OrderingKey(0.0, 0.0)
    assert ordering_key("aging", 4.0) == OrderingKey(1.0, 0.25)
    for bad in (("aging", 0.0), ("lifo", 1.0)):
        try:
            ordering_key(*bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} should be refused")
