"""The dependency model: slots, a first-come-first-served line, a token bucket, a record."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dtq.core.dependency import Call, Dependency, DependencySpec
from dtq.events import ERROR_OVERLOADED, ERROR_THROTTLED


def spec(**fields: object) -> DependencySpec:
    """A dependency with 2 slots and no limits, unless overridden."""
    values: dict[str, object] = {
        "index": 0,
        "name": "db",
        "concurrency": 2,
        "queue_limit": None,
        "rate_per_s": None,
        "burst": 1.0,
        "cancels_abandoned": False,
        "optimistic": False,
    }
    values.update(fields)
    return DependencySpec(**values)  # type: ignore[arg-type]


def test_calls_beyond_the_slots_wait_in_arrival_order() -> None:
    dep = Dependency(spec())
    calls = [Call(i, 1.0, 0.0) for i in range(4)]
    for call in calls:
        assert dep.offer(call, 0.0) is None
    assert [c.started_t for c in calls] == [0.0, 0.0, None, None]
    assert dep.finish(calls[1]) is False
    assert dep.fill(1.0) == [calls[2]]
    assert calls[2].waited_s == 1.0
    dep.finish(calls[0])
    assert dep.fill(1.5) == [calls[3]]
    assert dep.fill(1.5) == []


def test_a_full_line_turns_calls_away_as_overloaded() -> None:
    dep = Dependency(spec(concurrency=1, queue_limit=1))
    assert dep.offer(Call(0, 1.0, 0.0), 0.0) is None
    assert dep.offer(Call(1, 1.0, 0.0), 0.0) is None
    rejection = dep.offer(Call(2, 1.0, 0.0), 0.0)
    assert rejection is not None and rejection.error == ERROR_OVERLOADED
    assert dep.rejected == 1


def test_an_empty_bucket_throttles_and_says_when_a_token_is_due() -> None:
    dep = Dependency(spec(concurrency=None, rate_per_s=10.0, burst=2.0))
    assert dep.offer(Call(0, 0.1, 0.0), 0.0) is None
    assert dep.offer(Call(1, 0.1, 0.0), 0.0) is None
    rejection = dep.offer(Call(2, 0.1, 0.0), 0.0)
    assert rejection is not None and rejection.error == ERROR_THROTTLED
    assert rejection.retry_after_s is not None and abs(rejection.retry_after_s - 0.1) < 1e-12
    assert dep.offer(Call(3, 0.1, 0.1), 0.1) is None


def test_an_abandoned_call_keeps_its_slot_unless_the_dependency_cancels() -> None:
    keeps = Dependency(spec(concurrency=1))
    first, second = Call(0, 1.0, 0.0), Call(1, 1.0, 0.0)
    keeps.offer(first, 0.0)
    keeps.offer(second, 0.0)
    assert keeps.abandon(first, 0.5) == []
    assert keeps.in_service == 1
    cancels = Dependency(spec(concurrency=1, cancels_abandoned=True))
    first, second = Call(0, 1.0, 0.0), Call(1, 1.0, 0.0)
    cancels.offer(first, 0.0)
    cancels.offer(second, 0.0)
    assert cancels.abandon(first, 0.5) == [second]
    assert second.started_t == 0.5


def test_cancelling_a_waiting_call_takes_it_out_of_the_line() -> None:
    dep = Dependency(spec(concurrency=1, cancels_abandoned=True))
    first, second = Call(0, 1.0, 0.0), Call(1, 1.0, 0.0)
    dep.offer(first, 0.0)
    dep.offer(second, 0.0)
    assert dep.abandon(second, 0.2) == []
    assert not dep.line


def test_optimistic_calls_conflict_when_another_wrote_in_between() -> None:
    dep = Dependency(spec(concurrency=None, optimistic=True))
    a, b = Call(0, 1.0, 0.0), Call(1, 2.0, 0.0)
    dep.offer(a, 0.0)
    dep.offer(b, 0.0)
    assert dep.finish(a) is False
    assert dep.finish(b) is True
    assert dep.conflicts == 1


def test_a_slowdown_scales_the_slots_to_at_least_one() -> None:
    dep = Dependency(spec(concurrency=10))
    dep.scale(0.01, 3.0, 0.0)
    assert dep.capacity == 1
    calls = [Call(i, 1.0, 0.0) for i in range(3)]
    for call in calls:
        dep.offer(call, 0.0)
    assert dep.in_service == 1
    assert dep.scale(1.0, 1.0, 1.0) == calls[1:]


@given(
    concurrency=st.integers(min_value=1, max_value=5),
    ops=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=20)), max_size=80),
)
def test_never_more_calls_in_service_than_slots(
    concurrency: int, ops: list[tuple[bool, int]]
) -> None:
    """Whatever arrives and ends, service never exceeds the slots and the line is FIFO."""
    dep = Dependency(spec(concurrency=concurrency))
    serving: list[Call] = []
    order: list[int] = []
    now = 0.0
    for n, (arrive, pick) in enumerate(ops):
        now += 1.0
        if arrive or not serving:
            call = Call(n, 1.0, now)
            dep.offer(call, now)
            if call.started_t is not None:
                serving.append(call)
                order.append(n)
        else:
            done = serving.pop(pick % len(serving))
            dep.finish(done)
            started = dep.fill(now)
            serving.extend(started)
            order.extend(int(c.owner) for c in started)  # type: ignore[call-overload]
        assert dep.in_service == len(serving) <= concurrency
    assert order == sorted(order)
