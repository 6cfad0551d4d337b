"""The virtual clock is deterministic: the same scenario and seed give the same log.

Every shipped scenario runs twice, each time in a fresh process with its own string-hash
seed, so an order that leaks from a set or a hash cannot hide behind a shared process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from dtq.events import RUN_STARTED
from tests.helpers import SCENARIOS_DIR

SCENARIOS = sorted(SCENARIOS_DIR.glob("*.yaml"))

# The fields that read the wall clock: when the run started and how long it took.
WALL_CLOCK_FIELDS = {RUN_STARTED: ("started_at",)}

# Runs every scenario given on the command line on the virtual clock into a folder.
RUN_ALL = """
import sys
from pathlib import Path
from dtq.engine import runner
from dtq.scenario import load_scenario
folder, seed = Path(sys.argv[1]), sys.argv[2]
for name in sys.argv[3:]:
    scenario = load_scenario(name).with_overrides(clock="virtual")
    if seed != "-":
        scenario = scenario.with_overrides(seed=int(seed))
    outcome = runner.run(scenario, log_path=folder / (Path(name).stem + ".jsonl"))
    assert outcome.status == "completed", (name, outcome.status, outcome.error)
"""


def _run_all(
    folder: Path, *, hash_seed: str, seed: str = "-", scenarios: list[Path] = SCENARIOS
) -> Path:
    """Run the scenarios in a new process; returns the folder holding their logs."""
    folder.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    args = [sys.executable, "-c", RUN_ALL, str(folder), seed, *map(str, scenarios)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of every scenario, in two processes with different hash seeds."""
    base = tmp_path_factory.mktemp("determinism")
    return _run_all(base / "a", hash_seed="1"), _run_all(base / "b", hash_seed="2")


def _lines_without_wall_clock(path: Path) -> list[bytes]:
    """The log's lines, with the wall-clock fields of run_started/run_finished taken out."""
    lines = path.read_bytes().splitlines()
    for index in (0, -1):
        event: dict[str, Any] = orjson.loads(lines[index])
        for name in WALL_CLOCK_FIELDS.get(event["event"], ()):
            assert name in event, f"{event['event']} has no {name}"
            del event[name]
        lines[index] = orjson.dumps(event)
    return lines


def test_every_shipped_scenario_is_checked() -> None:
    """The scenarios folder is found and holds the examples."""
    assert {path.stem for path in SCENARIOS} >= {"burst", "fifo", "priority", "starvation"}


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_two_virtual_runs_write_the_same_log(path: Path, logs: tuple[Path, Path]) -> None:
    """Line for line the same, apart from when the run started and how long it took."""
    name = f"{path.stem}.jsonl"
    a, b = (_lines_without_wall_clock(folder / name) for folder in logs)
    assert len(a) == len(b) > 2
    for number, (line_a, line_b) in enumerate(zip(a, b, strict=True), start=1):
        assert line_a == line_b, f"{path.name}: the logs differ at line {number}"


@pytest.mark.slow
def test_another_seed_writes_another_log(logs: tuple[Path, Path], tmp_path: Path) -> None:
    """The comparison can tell runs apart: a different seed changes the log."""
    path = SCENARIOS[0]
    other = _run_all(tmp_path / "other", hash_seed="1", seed="12345", scenarios=[path])
    name = f"{path.stem}.jsonl"
    assert _lines_without_wall_clock(logs[0] / name) != _lines_without_wall_clock(other / name)
