"""Overload checked against published results: backoff and jitter, and a metastable failure.

1. "Exponential Backoff and Jitter" (Marc Brooker, AWS Architecture Blog, 2015):
   `scenarios/jitter.yaml` run with each of the post's five variants over many seeds
   must show the post's findings (full jitter needs less than half the calls of plain
   exponential backoff; equal jitter takes the longest of the jittered variants; full
   jitter does less work than decorrelated jitter but takes slightly longer; no
   backoff finishes fast with the most calls).
2. A metastable failure (Bronson et al., HotOS 2021): `scenarios/metastable.yaml`
   recovers from a short trigger but not from a longer one, and each mitigation that
   should restore recovery does.

`make theory` runs both after the queueing-theory rows; `python -m dtq.theory.overload`
runs these alone.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dtq.core.workload import iter_tasks
from dtq.engine.virtual import VirtualEngine
from dtq.events import TASK_SUCCEEDED, Event
from dtq.log.sink import EventSink
from dtq.scenario import load_scenario
from dtq.scenario.compile import compile_plan
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.models import PoissonArrival, Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# The post's variants, as overrides of jitter.yaml's retry block.
JITTER_VARIANTS: dict[str, dict[str, Any]] = {
    "no backoff": {"backoff": "none", "jitter": "none"},
    "exponential": {"jitter": "none"},
    "full jitter": {"jitter": "full"},
    "equal jitter": {"jitter": "equal"},
    "decorrelated": {"jitter": "decorrelated", "base_delay": 0.005},
}


@dataclass(frozen=True)
class VariantResult:
    """Mean calls and mean completion time of one variant over the seeds."""

    name: str
    calls: float
    time_s: float


def _with(model: Scenario, **changes: Any) -> Scenario:
    """`model` with top-level sections replaced, validated again."""
    data = model.model_dump(by_alias=True) | changes
    return Scenario.model_validate(data, context=SECONDS_CONTEXT)


def run_quietly(
    model: Scenario, observer: Callable[[list[Event]], None] | None = None
) -> VirtualEngine:
    """Run `model` on the virtual clock with no log kept; returns the finished engine."""
    plan = compile_plan(model)
    with open(os.devnull, "wb") as null:
        sink = EventSink(null, observers=[observer] if observer is not None else [])
        engine = VirtualEngine(plan, iter_tasks(plan), sink)
        engine.run()
        sink.flush()
    return engine


def jitter_results(*, seeds: int) -> list[VariantResult]:
    """Each variant of jitter.yaml: mean calls (writes) and completion time over `seeds`."""
    base = load_scenario(SCENARIOS / "jitter.yaml").model
    results = []
    for name, retry in JITTER_VARIANTS.items():
        calls = time_s = 0.0
        for seed in range(1, seeds + 1):
            retry_block = base.retry.model_dump(by_alias=True) | retry
            engine = run_quietly(_with(base, seed=seed, retry=retry_block))
            assert engine.sched.steps is not None
            calls += engine.sched.steps.deps[0].served
            time_s += engine.clock
        results.append(VariantResult(name, calls / seeds, time_s / seeds))
    return results


def jitter_findings(results: Sequence[VariantResult]) -> list[tuple[str, bool]]:
    """The post's findings, each with whether these results show it."""
    by = {r.name: r for r in results}
    full, expo, equal, dec, none = (
        by["full jitter"],
        by["exponential"],
        by["equal jitter"],
        by["decorrelated"],
        by["no backoff"],
    )
    jittered = (full, equal, dec)
    return [
        ("full jitter needs less than half the calls of exponential", full.calls < expo.calls / 2),
        (
            "equal jitter takes the longest of the jittered",
            equal.time_s == max(r.time_s for r in jittered),
        ),
        ("full jitter does less work than decorrelated", full.calls < dec.calls),
        (
            "full jitter takes slightly longer than decorrelated",
            dec.time_s < full.time_s < 1.5 * dec.time_s,
        ),
        ("no backoff makes the most calls", none.calls == max(r.calls for r in results)),
        ("no backoff finishes faster than exponential", none.time_s < expo.time_s),
    ]


# -- the metastable failure -----------------------------------------------------------------

# Each case: what changes in metastable.yaml, and whether it should recover.
METASTABLE_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("1 s trigger", {"faults.0.until": 11.0}, True),
    ("4 s trigger (as shipped)", {}, False),
    (
        "4 s + retry budget 10%",
        {"retry.budget": {"ratio": 0.1, "min_per_s": 5, "window": 10.0}},
        True,
    ),
    ("4 s + max_attempts 2", {"retry.max_attempts": 2}, True),
    ("4 s + queue_limit 30", {"dependencies.db.queue_limit": 30}, True),
    ("4 s + expires 500ms", {"task_types.api.expires": 0.5}, True),
    ("4 s + abandoned: cancel", {"dependencies.db.abandoned": "cancel"}, True),
    (
        "4 s + backoff 1s, full jitter",
        {
            "retry.backoff": "exponential",
            "retry.base_delay": 1.0,
            "retry.max_delay": 10.0,
            "retry.jitter": "full",
        },
        False,
    ),
]


@dataclass(frozen=True)
class MetastableRow:
    """One case: goodput in the last seconds of arrivals against the offered load."""

    case: str
    goodput: float
    offered: float
    expected_recovery: bool

    @property
    def recovered(self) -> bool:
        """Goodput back to at least 90% of the offered load."""
        return self.goodput >= 0.9 * self.offered

    @property
    def passed(self) -> bool:
        """Whether the case went the way it should."""
        return self.recovered == self.expected_recovery


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def metastable_rows(*, window_s: float = 5.0) -> list[MetastableRow]:
    """Goodput over the last `window_s` of arrivals, for each case."""
    base = load_scenario(SCENARIOS / "metastable.yaml").model
    arrival = base.arrivals[0]
    assert isinstance(arrival, PoissonArrival)
    end_s, offered = arrival.until, arrival.rate
    rows = []
    for case, changes, expected in METASTABLE_CASES:
        data = base.model_dump(by_alias=True)
        for path, value in changes.items():
            _set(data, path, value)
        model = Scenario.model_validate(data, context=SECONDS_CONTEXT)
        successes = _Counter(end_s - window_s, end_s)
        run_quietly(model, successes)
        rows.append(MetastableRow(case, successes.count / window_s, offered, expected))
    return rows


class _Counter:
    """Counts task successes in [start_s, end_s)."""

    def __init__(self, start_s: float, end_s: float) -> None:
        self.start_s, self.end_s, self.count = start_s, end_s, 0

    def __call__(self, batch: list[Event]) -> None:
        for event in batch:
            if event["event"] == TASK_SUCCEEDED and self.start_s <= event["t"] < self.end_s:
                self.count += 1


# -- tables -----------------------------------------------------------------------------


def jitter_table(results: Iterable[VariantResult], seeds: int) -> Table:
    """Calls and completion time per variant."""
    table = Table(title=f"Backoff and jitter: 100 clients, one record, mean of {seeds} seeds")
    for column in ("variant", "calls", "completion"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in results:
        table.add_row(r.name, f"{r.calls:,.0f}", f"{r.time_s * 1000:,.0f} ms")
    return table


def metastable_table(rows: Iterable[MetastableRow]) -> Table:
    """Goodput at the end of the arrivals, per case."""
    table = Table(title="Metastable failure: goodput in the last 5 s of arrivals (offered 150/s)")
    for column in ("case", "goodput", "recovered", "expected", "check"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in rows:
        table.add_row(
            row.case,
            f"{row.goodput:.0f}/s",
            "yes" if row.recovered else "no",
            "yes" if row.expected_recovery else "no",
            "✓" if row.passed else "✗",
        )
    return table


def run_checks(console: Console, *, seeds: int) -> bool:
    """Print both tables and the findings; True when everything holds."""
    results = jitter_results(seeds=seeds)
    console.print(jitter_table(results, seeds))
    findings = jitter_findings(results)
    for text, holds in findings:
        console.print(f"  {'✓' if holds else '✗'} {text}")
    rows = metastable_rows()
    console.print(metastable_table(rows))
    return all(holds for _, holds in findings) and all(row.passed for row in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dtq.theory.overload [--seeds N]`: 0 when every finding holds, else 1."""
    parser = argparse.ArgumentParser(prog="python -m dtq.theory.overload", description=__doc__)
    parser.add_argument("--seeds", type=int, default=30, help="seeds per jitter variant (30)")
    args = parser.parse_args(argv)
    return 0 if run_checks(Console(), seeds=args.seeds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
