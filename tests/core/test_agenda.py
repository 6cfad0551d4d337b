"""The agenda: one order of timed actions, whatever the order they were scheduled in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dtq.core.agenda import (
    ARRIVAL,
    ATTEMPT_END,
    FAULT_EDGE,
    KIND_NAMES,
    RETRY_RELEASE,
    WORKER_RESTART,
    Agenda,
)


def _drain(agenda: Agenda) -> list[tuple[float, int, object]]:
    return [agenda.pop() for _ in range(len(agenda))]


def test_same_instant_actions_follow_the_kind_ranks() -> None:
    """At one instant: attempt ends, fault edges, restarts, retry releases, arrivals."""
    agenda = Agenda()
    for kind in (ARRIVAL, RETRY_RELEASE, WORKER_RESTART, FAULT_EDGE, ATTEMPT_END):
        agenda.schedule(1.0, kind, KIND_NAMES[kind])
    agenda.schedule(0.5, ARRIVAL, "early arrival")
    assert [item for _, _, item in _drain(agenda)] == [
        "early arrival",
        "attempt_end",
        "fault_edge",
        "worker_restart",
        "retry_release",
        "arrival",
    ]


@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, 2.0]), st.integers(0, 4)), max_size=60))
def test_pop_order_is_time_then_kind_then_scheduling_order(
    entries: list[tuple[float, int]],
) -> None:
    """Whatever is scheduled, pops come sorted by (time, kind, order of scheduling)."""
    agenda = Agenda()
    for n, (at, kind) in enumerate(entries):
        agenda.schedule(at, kind, n)
    expected = sorted((at, kind, n) for n, (at, kind) in enumerate(entries))
    assert [(at, kind, item) for at, kind, item in _drain(agenda)] == expected


def test_an_empty_agenda_has_no_next_time() -> None:
    """Nothing scheduled: the next action is due never."""
    agenda = Agenda()
    assert agenda.next_t() == float("inf") and len(agenda) == 0
