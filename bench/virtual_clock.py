"""Row 1: the virtual clock on an M/M/2 two-class priority queue, against SimPy and Ciw.

Arrivals are Poisson, 0.32/s high priority and 1.28/s low priority (lambda = 1.6, 20%
high), service is exponential with mean 1 s (mu = 1) on 2 servers, non-preemptive
priority: utilisation 0.8. dtq runs the scenario file through `dtq.engine.runner.run`,
writing its full event log; SimPy uses the classic `PriorityResource` model; Ciw a
network of one node with two priority classes. Each reports simulated tasks per wall
second and its mean queue wait per class, which must agree with each other and with
the queueing formula (a check that the three simulate the same system).

Each is measured twice: in process (the simulation alone, after the imports) and as a
whole process, as a user runs it: `dtq run mm2.yaml --clock virtual --log ...` against
`python simpy_script.py` and `python ciw_script.py` of the same model, start-up and
imports included (CPU time from the child's rusage).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
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


# The peers as a user would write them: one script each, run as `python script.py`.
SIMPY_SCRIPT = """\
import json, random
import simpy

rng = random.Random({seed})
env = simpy.Environment()
servers = simpy.PriorityResource(env, capacity={servers})
waits = {{1: [], 2: []}}

def customer(priority):
    arrived = env.now
    with servers.request(priority=priority) as request:
        yield request
        waits[priority].append(env.now - arrived)
        yield env.timeout(rng.expovariate(1.0))

def source(priority, rate):
    while True:
        yield env.timeout(rng.expovariate(rate))
        if env.now >= {until}:
            return
        env.process(customer(priority))

env.process(source(1, {high}))
env.process(source(2, {low}))
env.run()
mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
print(json.dumps({{"tasks": len(waits[1]) + len(waits[2]),
                  "wait_high": mean(waits[1]), "wait_low": mean(waits[2])}}))
"""

CIW_SCRIPT = """\
import json
import ciw

network = ciw.create_network(
    arrival_distributions={{"high": [ciw.dists.Exponential({high})],
                            "low": [ciw.dists.Exponential({low})]}},
    service_distributions={{"high": [ciw.dists.Exponential(1.0)],
                            "low": [ciw.dists.Exponential(1.0)]}},
    number_of_servers=[{servers}],
    priority_classes={{"high": 0, "low": 1}},
)
ciw.seed({seed})
simulation = ciw.Simulation(network)
simulation.simulate_until_max_time({until})
records = simulation.get_all_records()
mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
print(json.dumps({{"tasks": len(records),
    "wait_high": mean([r.waiting_time for r in records if r.customer_class == "high"]),
    "wait_low": mean([r.waiting_time for r in records if r.customer_class == "low"])}}))
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


# -- whole processes -------------------------------------------------------------------


def _child(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run `cmd` to its end: (wall s, CPU s of the child: user + system, its stdout)."""
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - wall0
    if proc.returncode != 0:
        raise BenchError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    # This worker waits for no other child, so the children's usage is this one's.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall_s, usage.ru_utime + usage.ru_stime, proc.stdout


def _process_sample(tasks: int, wall_s: float, cpu_s: float) -> Sample:
    return {"tasks": tasks, "wall_s": wall_s, "cpu_s": cpu_s, "rate": tasks / wall_s}


def _script_values(args: argparse.Namespace) -> dict[str, Any]:
    until = horizon_s(args.size)
    return {
        "seed": args.seed,
        "servers": SERVERS,
        "until": until,
        "high": RATE_HIGH,
        "low": RATE_LOW,
    }


def run_dtq_process(args: argparse.Namespace) -> Sample:
    """`dtq run mm2.yaml --clock virtual --log ...` as a user types it (output not a TTY)."""
    text = SCENARIO.format(seed=args.seed, high=RATE_HIGH, low=RATE_LOW, until=horizon_s(args.size))
    scenario = args.tmp / f"mm2-process-{args.seed}.yaml"
    scenario.write_text(text, encoding="utf-8")
    log = args.tmp / f"mm2-process-{args.seed}.jsonl"
    script = Path(sys.executable).with_name("dtq")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dtq"]
    command += ["run", str(scenario), "--clock", "virtual", "--log", str(log)]
    wall_s, cpu_s, _ = _child(command, args.tmp)
    with log.open("rb") as stream:  # run_finished, the last line, holds the totals
        stream.seek(max(0, log.stat().st_size - 4096))
        finished = json.loads(stream.read().splitlines()[-1])
    log.unlink()
    return _process_sample(finished["totals"]["submitted"], wall_s, cpu_s)


def _run_script(args: argparse.Namespace, name: str, template: str) -> Sample:
    script = args.tmp / f"{name}_script.py"
    script.write_text(template.format(**_script_values(args)), encoding="utf-8")
    wall_s, cpu_s, out = _child([sys.executable, str(script)], args.tmp)
    result = json.loads(out.strip().splitlines()[-1])
    sample = _process_sample(result["tasks"], wall_s, cpu_s)
    sample.update(wait_high=result["wait_high"], wait_low=result["wait_low"])
    return sample


def run_simpy_process(args: argparse.Namespace) -> Sample:
    """`python simpy_script.py`: the SimPy model as a script of its own."""
    return _run_script(args, "simpy", SIMPY_SCRIPT)


def run_ciw_process(args: argparse.Namespace) -> Sample:
    """`python ciw_script.py`: the Ciw model as a script of its own."""
    return _run_script(args, "ciw", CIW_SCRIPT)


# -- parent ----------------------------------------------------------------------------


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Run dtq, SimPy and Ciw side by side, in process and as whole processes: row 1."""
    tasks = TASKS[size]
    variants = ["dtq", "simpy", "ciw", "dtq-process", "simpy-process", "ciw-process"]
    samples = alternate("virtual_clock", variants, repeat=repeat, size=tasks, tmp=tmp)
    ratios = {
        key: (
            paired_ratio(samples[f"dtq{suffix}"], samples[f"{peer}{suffix}"], "rate"),
            cpu_ratio(samples[f"dtq{suffix}"], samples[f"{peer}{suffix}"]),
        )
        for suffix in ("", "-process")
        for peer in ("simpy", "ciw")
        for key in [f"{peer}{suffix}"]
    }
    # Judged as a user meets it: whole processes, start-up included.
    met = ratios["simpy-process"][0] >= GOAL_SIMPY and ratios["ciw-process"][0] >= GOAL_CIW
    dtq_runs = samples["dtq"]
    details = [
        "The goal is judged on whole processes: `dtq run mm2.yaml --clock virtual --log ...` "
        "(its output not a terminal: plain progress lines and the summary, the run folded "
        "live as it always is) against `python simpy_script.py` and `python ciw_script.py`, "
        "start-up and imports included. In process: `dtq.engine.runner.run` on the loaded "
        "scenario, writing its full event log "
        f"({fmt_num(median(dtq_runs, 'events'))} events, "
        f"{median(dtq_runs, 'log_bytes') / 2**20:.0f} MB), against the same models after "
        "their imports. Ciw counts the customers that finished by the horizon; dtq and "
        "SimPy drain the queue after the last arrival.",
        "",
        *markdown_table(
            ["measured", "vs SimPy (wall)", "vs SimPy (CPU)", "vs Ciw (wall)", "vs Ciw (CPU)"],
            [
                [
                    label,
                    *(fmt_ratio(value) for value in ratios[f"simpy{suffix}"]),
                    *(fmt_ratio(value) for value in ratios[f"ciw{suffix}"]),
                ]
                for label, suffix in (("whole process", "-process"), ("in process", ""))
            ],
        ),
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
            _detail_rows(samples),
        ),
    ]
    return Row(
        number=1,
        title=f"Virtual clock: M/M/2 two-class priority, {tasks:,} tasks (tasks/s)",
        dtq=f"{fmt_num(median(samples['dtq-process'], 'rate'))} (process)<br>"
        f"{fmt_num(median(dtq_runs, 'rate'))} (in process)",
        peers=[
            f"SimPy {fmt_num(median(samples['simpy-process'], 'rate'))} / "
            f"{fmt_num(median(samples['simpy'], 'rate'))}",
            f"Ciw {fmt_num(median(samples['ciw-process'], 'rate'))} / "
            f"{fmt_num(median(samples['ciw'], 'rate'))}",
        ],
        ratios=[
            f"{fmt_ratio(ratios['simpy-process'][0])} SimPy (process), "
            f"{fmt_ratio(ratios['simpy'][0])} in process",
            f"{fmt_ratio(ratios['ciw-process'][0])} Ciw (process), "
            f"{fmt_ratio(ratios['ciw'][0])} in process",
        ],
        goal=f"≥{GOAL_SIMPY:g}x SimPy, ≥{GOAL_CIW:g}x Ciw (whole processes)",
        met=met,
        details=details,
    )


def _detail_rows(samples: dict[str, list[Sample]]) -> list[list[str]]:
    """One line per variant, then the queueing formula's waits."""
    names = {
        "dtq": "dtq (in process)",
        "simpy": "SimPy (in process)",
        "ciw": "Ciw (in process)",
        "dtq-process": "`dtq run` (process)",
        "simpy-process": "`python simpy_script.py`",
        "ciw-process": "`python ciw_script.py`",
    }
    rows = []
    for key, name in names.items():
        runs = samples[key]
        waits = [
            f"{median(runs, 'wait_high'):.3f}" if "wait_high" in runs[0] else "",
            f"{median(runs, 'wait_low'):.3f}" if "wait_low" in runs[0] else "",
        ]
        memory = (
            fmt_mb(median(runs, "peak_rss_kb") - median(runs, "base_rss_kb"))
            if "base_rss_kb" in runs[0]
            else ""
        )
        rows.append(
            [
                name,
                fmt_num(median(runs, "tasks")),
                fmt_num(median(runs, "rate")),
                spread(runs, "rate"),
                f"{median(runs, 'cpu_s'):.2f}",
                memory,
                *waits,
            ]
        )
    high, low = theory_waits()
    rows.append(["M/M/2 priority formula", "", "", "", "", "", f"{high:.3f}", f"{low:.3f}"])
    return rows


if __name__ == "__main__":
    sys.exit(
        worker_main(
            {
                "dtq": run_dtq,
                "simpy": run_simpy,
                "ciw": run_ciw,
                "dtq-process": run_dtq_process,
                "simpy-process": run_simpy_process,
                "ciw-process": run_ciw_process,
            }
        )
    )
