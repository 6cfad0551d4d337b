"""Hypothesis properties of dependencies, steps and their faults on the virtual clock.

Random scenarios mix everything a call can meet (slots, a line with a limit, a token
bucket, optimistic writes, abandoned calls kept or cancelled, timeouts, expiry, retry
budgets, slowdowns, outages of a dependency, crashed workers). Each run must complete
with every task accounted for, and its log must pass `dtq verify`, which counts the
calls in service from the log itself: no dependency above its slots, no call ended
twice or never started.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.engine import runner
from dtq.log.verify import verify_log
from dtq.scenario import load_scenario

DEPENDENCIES = ("db", "api")


@st.composite
def dependency(draw: st.DrawFn) -> dict[str, Any]:
    """One dependency with a random set of limits."""
    spec: dict[str, Any] = {
        "latency": {"dist": "exponential", "mean": f"{draw(st.integers(2, 30))}ms"}
    }
    if draw(st.booleans()):
        spec["concurrency"] = draw(st.integers(1, 6))
    if draw(st.booleans()):
        spec["queue_limit"] = draw(st.integers(0, 10))
    if draw(st.booleans()):
        spec["rate_limit"] = {"rate": draw(st.integers(50, 500)), "burst": draw(st.integers(1, 20))}
    spec["abandoned"] = draw(st.sampled_from(["continue", "cancel"]))
    spec["mode"] = draw(st.sampled_from(["serve", "optimistic"]))
    return spec


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random stepped scenario of about 2 s of Poisson arrivals, with faults."""
    steps = draw(
        st.lists(
            st.one_of(
                st.sampled_from(DEPENDENCIES).map(lambda name: {"call": name}),
                st.integers(0, 5).map(lambda ms: {"work": f"{ms}ms"}),
            ),
            min_size=1,
            max_size=3,
        )
    )
    job: dict[str, Any] = {"priority": 1, "steps": steps}
    if draw(st.booleans()):
        job["timeout"] = f"{draw(st.integers(5, 80))}ms"
    if draw(st.booleans()):
        job["expires"] = f"{draw(st.integers(10, 500))}ms"
    workers = draw(st.integers(3, 30))
    faults: list[dict[str, Any]] = []
    if draw(st.booleans()):
        faults.append(
            {
                "kind": "slowdown",
                "dependency": draw(st.sampled_from(DEPENDENCIES)),
                "from": "0.5s",
                "until": "1.2s",
                "capacity": draw(st.sampled_from([0.2, 0.5])),
                "latency": draw(st.sampled_from([1, 3])),
            }
        )
    if draw(st.booleans()):
        faults.append(
            {
                "kind": "outage",
                "dependency": draw(st.sampled_from(DEPENDENCIES)),
                "from": "1s",
                "until": "1.3s",
                "rate": 0.7,
            }
        )
    if draw(st.booleans()):
        at = f"{draw(st.integers(200, 1800))}ms"
        faults.append(
            {
                "kind": "worker_crash",
                "at": at,
                "workers": draw(st.integers(1, 3)),
                "restart_after": "100ms",
            }
        )
    retry: dict[str, Any] = {
        "max_attempts": draw(st.integers(1, 4)),
        "backoff": draw(st.sampled_from(["none", "exponential"])),
        "base_delay": "10ms",
        "max_delay": "200ms",
    }
    if draw(st.booleans()):
        retry["budget"] = {"ratio": 0.2}
    return {
        "name": "calls",
        "seed": draw(st.integers(1, 10**6)),
        "clock": "virtual",
        "workers": workers,
        "dependencies": {name: draw(dependency()) for name in DEPENDENCIES},
        "retry": retry,
        "task_types": {"job": job},
        "arrivals": [
            {
                "pattern": "poisson",
                "task": "job",
                "rate": draw(st.integers(50, 300)),
                "from": "0s",
                "until": "2s",
            }
        ],
        "faults": faults,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_call_is_within_its_slots_and_every_task_is_accounted_for(
    data: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calls.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        log = Path(folder) / "calls.jsonl"
        end = runner.run(load_scenario(path), log_path=log, observers=[])
        assert end.status == "completed", end.error
        assert end.totals["pending"] == 0
        verdict = verify_log(log)
        assert verdict.is_valid, [v.message for v in verdict.violations[:3]]
