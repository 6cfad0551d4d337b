"""Row 1: the virtual clock on an M/M/2 two-class priority queue, against SimPy and Ciw.

Arrivals are Poisson, 0.32/s high priority and 1.28/s low priority (lambda = 1.6, 20%
high), service is exponential with mean 1 s (mu = 1) on 2 servers, non-preemptive
priority: utilisation 0.8. dtq runs the scenario file through `dtq.engine.runner.run`,
writing its full event log; SimPy uses the classic `PriorityResource` model; Ciw a
network of one node with two priority classes. Each reports simulated tasks per wall
second and its mean queue wait per class, which must agree with each other and with
the queueing formula (a check that the three simulate the same system).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Row,
    Sample,
    alternate,
    cpu_ratio,
    fmt_mb,
    fmt_num,
    fmt_ratio,
    median,
    paired_ratio,
    peak_rss_kb,
    scenario_file,
    spread,
    worker_main,
)
from dtq.render.markdown import markdown_table

RATE_HIGH = 0.32
RATE_LOW = 1.28
SERVERS = 2
TASKS = {"quick": 4_000, "full": 200_000}
GOAL_SIMPY = 3.0
GOAL_CIW = 5.0

SCENARIO = """\
name: mm2-priority
seed: {seed}
clock: virtual
workers: 2
scheduler: {{policy: priority}}
task_types:
  high: {{priority: 1, duration: {{dist: exponential, mean: 1s}}}}
  low:  {{priority: 2, duration: {{dist: exponential, mean: 1s}}}}
arrivals:
  - {{pattern: poisson, task: high, rate: {high}, from: 0s, until: {until}s}}
  - {{pattern: poisson, task: low,  rate: {low}, from: 0s, until: {until}s}}
"""


def horizon_s(tasks: int) -> float:
    """The arrival window that brings `tasks` tasks on average."""
    return tasks / (RATE_HIGH + RATE_LOW)


def theory_waits() -> tuple[float, float]:
    """Mean queue waits (high, low) of M/M/c non-preemptive priority with equal service rates.

    W_k = W0 / ((1 - s_{k-1}) (1 - s_k)), where W0 = ErlangC / (c mu) and s_k is the load
    of the classes up to k divided by c (Cobham's formula, extended to c servers).
    """
    mu = 1.0
    load = (RATE_HIGH + RATE_LOW) / mu
    rho = load / SERVERS
    top = load**SERVERS / (_factorial(SERVERS) * (1 - rho))
    erlang_c = top / (sum(load**k / _factorial(k) for k in range(SERVERS)) + top)
    w0 = erlang_c / (SERVERS * mu)
    s1 = RATE_HIGH / (SERVERS * mu)
    return w0 / (1 - s1), w0 / ((1 - s1) * (1 - rho))


def _factorial(n: int) -> int:
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


# -- workers ---------------------------------------------------------------------------


def _timed_sample(tasks: int, wall_s: float, cpu_s: float, base_kb: int) -> Sample:
    return {
        "tasks": tasks,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rate": tasks / wall_s,
        "base_rss_kb": base_kb,
        "peak_rss_kb": peak_rss_kb(),
    }


def run_dtq(args: argparse.Namespace) -> Sample:
    """dtq: load the scenario file, run it on the virtual engine, full event log written."""
    from dtq.engine import runner
    from dtq.log.reader import fold_log

    text = SCENARIO.format(seed=args.seed, high=RATE_HIGH, low=RATE_LOW, until=horizon_s(args.size))
    scenario = scenario_file(args.tmp, f"mm2-{args.seed}", text)
    log = args.tmp / f"mm2-{args.seed}.jsonl"
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = runner.run(scenario, log_path=log)
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if outcome.status != "completed":
        raise BenchError(f"dtq run ended {outcome.status}: {outcome.error}")
    sample = _timed_sample(outcome.totals["submitted"], wall_s, cpu_s, base_kb)
    state, _ = fold_log(log)  # after the clock stopped: the check, not the measurement
    sample.update(
        wait_high=state.wait_stats(1).mean,
        wait_low=state.wait_stats(2).mean,
        events=state.seq,
        log_bytes=log.stat().st_size,
    )
    log.unlink()
    return sample


def run_simpy(args: argparse.Namespace) -> Sample:
    """SimPy: a PriorityResource with 2 slots; each customer requests it with its priority."""
    import simpy

    until = horizon_s(args.size)
    rng = random.Random(args.seed)
    env = simpy.Environment()
    servers = simpy.PriorityResource(env, capacity=SERVERS)
    waits: dict[int, list[float]] = {1: [], 2: []}

    def customer(priority: int) -> Generator[simpy.events.Event, Any, None]:
        arrived = env.now
        with servers.request(priority=priority) as request:
            yield request
            waits[priority].append(env.now - arrived)
            yield env.timeout(rng.expovariate(1.0))

    def source(priority: int, rate: float) -> Generator[simpy.events.Event, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now >= until:
                return
            env.process(customer(priority))

    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    env.process(source(1, RATE_HIGH))
    env.process(source(2, RATE_LOW))
    env.run()
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    sample = _timed_sample(len(waits[1]) + len(waits[2]), wall_s, cpu_s, base_kb)
    sample.update(wait_high=_mean(waits[1]), wait_low=_mean(waits[2]))
    return sample


def run_ciw(args: argparse.Namespace) -> Sample:
    """Ciw: one node, 2 servers, two customer classes with priority classes 0 and 1."""
    import ciw

    until = horizon_s(args.size)
    base_kb = peak_rss_kb()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    network = ciw.create_network(
        arrival_distributions={
            "high": [ciw.dists.Exponential(RATE_HIGH)],
            "low": [ciw.dists.Exponential(RATE_LOW)],
        },
        service_distributions={
            "high": [ciw.dists.Exponential(1.0)],
            "low": [ciw.dists.Exponential(1.0)],
        },
        number_of_servers=[SERVERS],
        priority_classes={"high": 0, "low": 1},
    )
    ciw.seed(args.seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(until)
    records = simulation.get_all_records()
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    sample = _timed_sample(len(records), wall_s, cpu_s, base_kb)
    sample.update(
        wait_high=_mean([r.waiting_time for r in records if r.customer_class == "high"]),
        wait_low=_mean([r.waiting_time for r in records if r.customer_class == "low"]),
    )
    return sample


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# -- parent ----------------------------------------------------------------------------


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run dtq, SimPy and Ciw side by side and build row 1."""
    tasks = TASKS[size]
    samples = alternate(
        "virtual_clock", ["dtq", "simpy", "ciw"], repeat=repeat, size=tasks, tmp=tmp
    )
    vs_simpy = paired_ratio(samples["dtq"], samples["simpy"], "rate")
    vs_ciw = paired_ratio(samples["dtq"], samples["ciw"], "rate")
    high, low = theory_waits()
    rows = [
        [
            name,
            fmt_num(median(runs, "tasks")),
            fmt_num(median(runs, "rate")),
            spread(runs, "rate"),
            f"{median(runs, 'cpu_s'):.2f}",
            fmt_mb(median(runs, "peak_rss_kb") - median(runs, "base_rss_kb")),
            f"{median(runs, 'wait_high'):.3f}",
            f"{median(runs, 'wait_low'):.3f}",
        ]
        for name, runs in (
            ("dtq", samples["dtq"]),
            ("SimPy", samples["simpy"]),
            ("Ciw", samples["ciw"]),
        )
    ]
    rows.append(["M/M/2 priority formula", "", "", "", "", "", f"{high:.3f}", f"{low:.3f}"])
    dtq_runs = samples["dtq"]
    details = [
        f"dtq: `dtq.engine.runner.run` on the scenario file (virtual clock), writing its full "
        f"event log ({fmt_num(median(dtq_runs, 'events'))} events, "
        f"{median(dtq_runs, 'log_bytes') / 2**20:.0f} MB). Ciw counts the customers that "
        "finished by the horizon; dtq and SimPy drain the queue after the last arrival. "
        "By CPU time per task (steadier than wall time on a shared machine): "
        f"{fmt_ratio(cpu_ratio(dtq_runs, samples['simpy']))} SimPy, "
        f"{fmt_ratio(cpu_ratio(dtq_runs, samples['ciw']))} Ciw.",
        "",
        *markdown_table(
            [
                "variant",
                "tasks",
                "tasks/s",
                "range",
                "CPU s",
                "peak RSS over baseline",
                "mean wait high (s)",
                "mean wait low (s)",
            ],
            rows,
        ),
    ]
    return Row(
        number=1,
        title=f"Virtual clock: M/M/2 two-class priority, {tasks:,} tasks (tasks/s)",
        dtq=fmt_num(median(dtq_runs, "rate")),
        peers=[
            f"SimPy {fmt_num(median(samples['simpy'], 'rate'))}",
            f"Ciw {fmt_num(median(samples['ciw'], 'rate'))}",
        ],
        ratios=[f"{fmt_ratio(vs_simpy)} SimPy", f"{fmt_ratio(vs_ciw)} Ciw"],
        goal=f"≥{GOAL_SIMPY:g}x SimPy, ≥{GOAL_CIW:g}x Ciw",
        met=vs_simpy >= GOAL_SIMPY and vs_ciw >= GOAL_CIW,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"dtq": run_dtq, "simpy": run_simpy, "ciw": run_ciw}))
