"""Arrival patterns, worked out by hand, and the merged workload with its task ids."""

from __future__ import annotations

import math

import pytest

from dtq.core.plan import (
    BurstArrivals,
    ConstantArrivals,
    ConstantDuration,
    Plan,
    PoissonArrivals,
    RampArrivals,
    RetryPolicy,
    TaskKind,
)
from dtq.core.workload import arrival_times, count_tasks, iter_tasks


def _times(spec: object, seed: int = 1, stream: int = 0) -> list[float]:
    return list(arrival_times(spec, seed=seed, stream=stream))  # type: ignore[arg-type]


def test_constant_arrivals_are_evenly_spaced_in_a_half_open_window() -> None:
    """rate 4 over [1s, 2s): 1, 1.25, 1.5, 1.75 (2s itself is outside)."""
    assert _times(ConstantArrivals("job", 1.0, 2.0, 4.0)) == [1.0, 1.25, 1.5, 1.75]


def test_a_burst_is_all_at_once_or_spread_evenly() -> None:
    """count 4 at 2s: four at 2s; over 1s: a quarter second apart."""
    assert _times(BurstArrivals("job", 4, 2.0, 0.0)) == [2.0] * 4
    assert _times(BurstArrivals("job", 4, 2.0, 1.0)) == [2.0, 2.25, 2.5, 2.75]


def test_a_ramp_puts_the_kth_arrival_where_the_rate_integral_reaches_k() -> None:
    """1/s rising to 3/s over 10s: the integral is s + 0.1 s^2, 20 arrivals in all."""
    times = _times(RampArrivals("job", 5.0, 15.0, 1.0, 3.0))
    assert len(times) == 20  # the integral over the whole window: 10 + 10
    for k, t in enumerate(times):
        s = t - 5.0
        assert s + 0.1 * s * s == pytest.approx(k, abs=1e-9)
    assert times[11] == pytest.approx(5.0 + (-10 + math.sqrt(540)) / 2, abs=1e-12)
    assert times == sorted(times)


def test_a_falling_ramp_stops_where_its_rate_integral_stops_growing() -> None:
    """2/s falling to 0 over 10s: integral 2s - 0.1 s^2 reaches 10 at the window's end."""
    times = _times(RampArrivals("job", 0.0, 10.0, 2.0, 0.0))
    assert len(times) == 10
    for k, t in enumerate(times):
        assert 2 * t - 0.1 * t * t == pytest.approx(k, abs=1e-9)


def test_a_flat_ramp_is_a_constant_rate() -> None:
    """Equal start and end rates: evenly spaced, like the constant pattern."""
    assert _times(RampArrivals("job", 0.0, 2.0, 2.0, 2.0)) == [0.0, 0.5, 1.0, 1.5]


def test_poisson_arrivals_are_keyed_by_seed_and_stream_and_stay_in_their_window() -> None:
    """Same seed and stream, same times; another stream, other times; mean gap 1/rate."""
    spec = PoissonArrivals("job", 10.0, 2010.0, 5.0)
    times = _times(spec, seed=3)
    assert times == _times(spec, seed=3)
    assert times != _times(spec, seed=3, stream=1)
    assert all(10.0 <= t < 2010.0 for t in times) and times == sorted(times)
    # 10,000 expected arrivals: the count's standard deviation is 100.
    assert abs(len(times) - 10_000) < 500


def _plan(*arrivals: object) -> Plan:
    kinds = {
        name: TaskKind(i, name, 5, ConstantDuration(0.0), None, ())
        for i, name in enumerate(("a", "b"))
    }
    retry = RetryPolicy(1, "none", 0.0, 0.0, "none", None)
    return Plan(7, 1, "priority", 0.0, retry, kinds, tuple(arrivals), (), ())  # type: ignore[arg-type]


def test_the_workload_merges_patterns_in_time_order_ties_by_file_order() -> None:
    """Two entries at the same instants: the first entry's task first; ids per type."""
    plan = _plan(BurstArrivals("b", 2, 1.0, 1.0), BurstArrivals("a", 3, 0.0, 1.0))
    tasks = [(t, task.id) for t, task in iter_tasks(plan)]
    assert tasks == [
        (0.0, "a-000001"),
        (1.0 / 3, "a-000002"),
        (2.0 / 3, "a-000003"),
        (1.0, "b-000001"),
        (1.5, "b-000002"),
    ]
    assert count_tasks(plan) == 5
    tied = _plan(BurstArrivals("b", 1, 1.0, 0.0), BurstArrivals("a", 1, 1.0, 0.0))
    assert [task.id for _, task in iter_tasks(tied)] == ["b-000001", "a-000001"]


def test_task_keys_depend_on_seed_type_and_number_only() -> None:
    """The same task gets the same key in every run of the plan."""
    plan = _plan(PoissonArrivals("a", 0.0, 10.0, 3.0))
    first = [(task.id, task.key) for _, task in iter_tasks(plan)]
    assert first == [(task.id, task.key) for _, task in iter_tasks(plan)]
    assert len({key for _, key in first}) == len(first) == count_tasks(plan)
