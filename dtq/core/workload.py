"""The workload of a scenario: every task and its arrival time, from the seed alone."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from itertools import repeat

from dtq.core.draws import mix64, seed_part, task_key_from
from dtq.core.plan import (
    ArrivalSpec,
    BurstArrivals,
    ConstantArrivals,
    Plan,
    PoissonArrivals,
    RampArrivals,
)
from dtq.core.task import Task


def _poisson(spec: PoissonArrivals, rng: random.Random) -> Iterator[float]:
    # random.expovariate's own formula, spelt out to save a method call per arrival.
    draw, rate, until = rng.random, spec.rate, spec.until_s
    t = spec.start_s - math.log(1.0 - draw()) / rate
    while t < until:
        yield t
        t -= math.log(1.0 - draw()) / rate


def _constant(spec: ConstantArrivals) -> Iterator[float]:
    gap = 1.0 / spec.rate
    k = 0
    while (t := spec.start_s + k * gap) < spec.until_s:
        yield t
        k += 1


def _ramp(spec: RampArrivals) -> Iterator[float]:
    # The k-th arrival is where the integral of the rate reaches k:
    # a*s + c*s^2 = k with c = (b - a) / (2 * window).
    window = spec.until_s - spec.start_s
    a, c = spec.start_rate, (spec.end_rate - spec.start_rate) / (2.0 * window)
    k = 0
    while True:
        if c == 0:
            s = k / a
        else:
            disc = a * a + 4.0 * c * k
            if disc < 0:
                return
            s = (-a + math.sqrt(disc)) / (2.0 * c)
        if s >= window:
            return
        yield spec.start_s + s
        k += 1


def _burst(spec: BurstArrivals) -> Iterator[float]:
    step = spec.over_s / spec.count
    for k in range(spec.count):
        yield spec.at_s + k * step


def arrival_times(spec: ArrivalSpec, *, seed: int, stream: int) -> Iterator[float]:
    """The arrival times of one `arrivals:` entry, in increasing order."""
    if isinstance(spec, PoissonArrivals):
        return _poisson(spec, random.Random(mix64(seed ^ (stream + 1) * 0x2545F4914F6CDD1D)))
    if isinstance(spec, ConstantArrivals):
        return _constant(spec)
    if isinstance(spec, RampArrivals):
        return _ramp(spec)
    return _burst(spec)


def _merged(plan: Plan) -> Iterator[tuple[float, int, str]]:
    # zip labels each time without a Python frame per task; a single stream needs no merge.
    streams = [
        zip(arrival_times(spec, seed=plan.seed, stream=i), repeat(i), repeat(spec.task))
        for i, spec in enumerate(plan.arrivals)
    ]
    if len(streams) == 1:
        return streams[0]
    # Ties between streams break by the stream's place in the file: deterministic.
    return heapq.merge(*streams)


def iter_tasks(plan: Plan) -> Iterator[tuple[float, Task]]:
    """Every task of the scenario as (arrival time, task), in arrival order.

    Ids number each task type from 1 in arrival order (`email-000001`), so the same
    scenario and seed always give the same ids.
    """
    counters = dict.fromkeys(plan.kinds, 0)
    kinds = {name: (kind, f"{name}-") for name, kind in plan.kinds.items()}
    seed = seed_part(plan.seed)
    for t, _, name in _merged(plan):
        kind, prefix = kinds[name]
        number = counters[name] + 1
        counters[name] = number
        # zfill writes what f"{number:06d}" writes (number >= 1), at a third of the cost.
        task_id = prefix + str(number).zfill(6)
        yield t, Task(task_id, kind, task_key_from(seed, kind.index, number))


def count_tasks(plan: Plan) -> int:
    """How many tasks the workload submits (walks the arrival times, builds no tasks)."""
    total = 0
    for i, spec in enumerate(plan.arrivals):
        if isinstance(spec, BurstArrivals):
            total += spec.count
        else:
            total += sum(1 for _ in arrival_times(spec, seed=plan.seed, stream=i))
    return total
