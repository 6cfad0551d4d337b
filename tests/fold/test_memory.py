"""Memory follows the number of tasks, never the simulated time (a year-long run, t = 3e8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.eventlog_factory import LogBuilder

# Every command here handles a few dozen events; a per-second structure over a year of
# simulated time would need hundreds of megabytes.
PEAK_LIMIT_BYTES = 20 * 1024 * 1024

# Runs one dtq command in a fresh interpreter and prints the exit code and the peak of
# Python allocations while it ran (imports done before measuring).
_MEASURE = """
import sys, tracemalloc
import dtq.cli, dtq.commands.run, dtq.render.report, dtq.render.replay, dtq.log.verify
# The commands import these when they run (dtq.cli imports lazily): import them first too.
import dtq.engine.runner, dtq.render.live, dtq.render.console, dtq.fold.expect
import dtq.commands.diff, dtq.compare.diff, dtq.render.diff, rich.console, rich.live, rich.table
tracemalloc.start()
code = dtq.cli.main(sys.argv[1:])
print(code, tracemalloc.get_traced_memory()[1])
"""

YEAR_LONG = """\
name: year-long
seed: 1
clock: virtual
workers: 16
task_types:
  year: {priority: 1, duration: {dist: constant, value: 8760h}}
arrivals:
  - {pattern: constant, task: year, rate: 16, from: 0s, until: 1s}
"""


def measure(*args: str) -> tuple[int, int]:
    """Run `dtq ARGS`; return its exit code and peak traced memory in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stderr == "" or "Traceback" not in done.stderr, done.stderr
    code, peak = done.stdout.split()[-2:]
    return int(code), int(peak)


def test_a_year_long_virtual_run_stays_small(tmp_path: Path) -> None:
    scenario = tmp_path / "year-long.yaml"
    scenario.write_text(YEAR_LONG)
    log = tmp_path / "year.jsonl"
    code, peak = measure("run", str(scenario), "--quiet", "--log", str(log))
    assert code == 0
    assert peak < PEAK_LIMIT_BYTES
    finished = orjson.loads(log.read_bytes().splitlines()[-1])
    assert finished["totals"]["succeeded"] == 16
    assert finished["t"] >= 8760 * 3600


def far_log(path: Path, t: float) -> Path:
    """A valid log whose one task ends at time `t` (as if edited by hand)."""
    b = LogBuilder()
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    b.submit(0.0, "email-000001")
    b.start(0.0, "email-000001", "w01")
    b.succeed(t, "email-000001", "w01", run_s=t)
    b.run_finished(t)
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in b.events))
    return path


@pytest.mark.parametrize(
    "command",
    ["verify LOG", "report LOG", "report --format json LOG", "replay --final LOG", "diff LOG LOG"],
)
def test_reading_a_log_at_t_3e8_stays_small(tmp_path: Path, command: str) -> None:
    log = far_log(tmp_path / "far.jsonl", 3e8)
    code, peak = measure(*(str(log) if word == "LOG" else word for word in command.split()))
    assert code == 0
    assert peak < PEAK_LIMIT_BYTES
