"""Peak memory of every reading command on logs of up to 100,000 events, huge `t` included.

Memory must follow the number of tasks, not simulated time: the same log with every time
multiplied by a million, a log of a few tasks lasting a year each, and a log edited to
`t = 3e8` must all be read under MEMORY_LIMIT_MB. Each command runs in a child process
whose peak resident size is measured; the child's data segment is capped well above the
limit so a runaway reader fails instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.stress import Figures

MEMORY_LIMIT_MB = 300
CHILD_DATA_CAP_BYTES = 3 * 1024**3
TIME_FIELDS = ("t", "retry_at", "first_failed_t", "elapsed_s")
RUN_CODES = frozenset({0})
# Edited logs may be refused (exit 2, or 1 for a violation): what counts is how much memory
# reading them takes, and that no reader shows a traceback.
READERS: dict[str, tuple[list[str], frozenset[int]]] = {
    "verify": (["verify", "{log}"], frozenset({0, 1, 2})),
    "report": (["report", "{log}"], frozenset({0, 2})),
    "report json": (["report", "{log}", "--format", "json"], frozenset({0, 2})),
    "replay": (["replay", "{log}", "--final", "--plain"], frozenset({0, 2})),
    "diff": (["diff", "{log}", "{log}", "--fail-on", "none"], frozenset({0, 2})),
}


def busy_scenario(events: int) -> dict[str, Any]:
    """About `events` events: tasks with retries on 16 workers, virtual clock."""
    tasks = max(events // 4, 10)
    return {
        "name": "memory",
        "seed": 7,
        "clock": "virtual",
        "workers": 16,
        "retry": {"max_attempts": 3, "base_delay": "10ms", "retry_on": ["network"]},
        "task_types": {
            "job": {
                "duration": {"dist": "exponential", "mean": "5ms"},
                "failures": {"network": 0.1},
            }
        },
        "arrivals": [{"pattern": "burst", "task": "job", "count": tasks, "over": "60s"}],
    }


def long_scenario(*, tasks: int, duration: str) -> dict[str, Any]:
    """`tasks` tasks that each take `duration` (a valid scenario: a year at most)."""
    return {
        "name": "long",
        "clock": "virtual",
        "workers": tasks,
        "task_types": {"slow": {"duration": {"dist": "constant", "value": duration}}},
        "arrivals": [{"pattern": "burst", "task": "slow", "count": tasks}],
    }


def _rewrite(source: Path, target: Path, change: Callable[[int, dict[str, Any]], None]) -> Path:
    """`source` with `change(index, event)` applied to every event, written to `target`."""
    with source.open("rb") as reading, target.open("wb") as writing:
        for index, line in enumerate(reading):
            event = json.loads(line)
            change(index, event)
            writing.write(json.dumps(event).encode() + b"\n")
    return target


def _scaled(factor: float) -> Callable[[int, dict[str, Any]], None]:
    def change(_index: int, event: dict[str, Any]) -> None:
        for key in TIME_FIELDS:
            if isinstance(event.get(key), int | float) and not isinstance(event[key], bool):
                event[key] = event[key] * factor

    return change


def _one_t(at: int, value: float) -> Callable[[int, dict[str, Any]], None]:
    def change(index: int, event: dict[str, Any]) -> None:
        if index == at:
            event["t"] = value

    return change


def make_logs(figures: Figures, folder: Path, *, events: int) -> dict[str, Path]:
    """The logs to read: busy, busy with huge times, year-long tasks, one `t` edited.

    Each is written by `dtq run` in a child, measured as the readers are.
    """
    busy = _run(figures, folder, "busy", busy_scenario(events))
    _keep_first(busy, events)
    long12 = _run(figures, folder, "long12", long_scenario(tasks=12, duration="8760h"))
    long100 = _run(figures, folder, "long100", long_scenario(tasks=100, duration="1000h"))
    last = sum(1 for _ in long12.open("rb")) - 1
    count = _count(busy)
    return {
        f"{count} events": busy,
        f"{count} events, times x1e6": _rewrite(busy, folder / "x1e6.jsonl", _scaled(1e6)),
        f"{count} events, times x1e12": _rewrite(busy, folder / "x1e12.jsonl", _scaled(1e12)),
        "12 tasks of 8760 h": long12,
        "100 tasks of 1000 h": long100,
        "12 tasks, one t = 3e8": _rewrite(long12, folder / "t3e8.jsonl", _one_t(last - 1, 3e8)),
        "12 tasks, last t = 1e300": _rewrite(long12, folder / "t1e300.jsonl", _one_t(last, 1e300)),
    }


def _run(figures: Figures, folder: Path, name: str, data: dict[str, Any]) -> Path:
    """`dtq run` of a scenario in a child: its log, its peak memory counted."""
    scenario = folder / f"{name}.yaml"
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    log = folder / f"{name}.jsonl"
    peak_mb, problems = _peak(["run", str(scenario), "--quiet", "--log", str(log)], RUN_CODES)
    figures.trial("memory: run", [f"{name}: {p}" for p in problems])
    figures.notes.append(f"memory: dtq run {name} ({_count(log)} events): peak {peak_mb:.0f} MB")
    return log


def _keep_first(log: Path, events: int) -> None:
    with log.open("rb") as reading:
        lines = [line for _, line in zip(range(events), reading, strict=False)]
    log.write_bytes(b"".join(lines))


def _count(log: Path) -> str:
    return f"{sum(1 for _ in log.open('rb')):,}"


def measure_readers(figures: Figures, *, events: int) -> None:
    """Every reading command on every log: peak under MEMORY_LIMIT_MB, no traceback."""
    with tempfile.TemporaryDirectory(prefix="dtq-memory-") as tmp:
        logs = make_logs(figures, Path(tmp), events=events)
        worst: dict[str, float] = {}
        for name, log in logs.items():
            for reader, (template, codes) in READERS.items():
                args = [part.replace("{log}", str(log)) for part in template]
                peak_mb, problems = _peak(args, codes)
                worst[reader] = max(worst.get(reader, 0.0), peak_mb)
                figures.trial(f"memory: {reader}", [f"{name}: {p}" for p in problems])
        for reader, peak_mb in worst.items():
            figures.notes.append(f"memory: dtq {reader}: highest peak {peak_mb:.0f} MB")


def _peak(args: list[str], codes: frozenset[int]) -> tuple[float, list[str]]:
    """Peak resident megabytes of `dtq ARGS` in a child, and what broke a promise."""
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "dtq", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=_cap_data,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    peak_mb = usage.ru_maxrss / 1024
    problems = []
    if peak_mb >= MEMORY_LIMIT_MB:
        problems.append(f"dtq {' '.join(args)}: peak {peak_mb:.0f} MB")
    if child.returncode not in codes or "Traceback" in stderr:
        problems.append(f"dtq {' '.join(args)}: exit {child.returncode}: {stderr[-300:]}")
    return peak_mb, problems


def _cap_data() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (CHILD_DATA_CAP_BYTES, CHILD_DATA_CAP_BYTES))
