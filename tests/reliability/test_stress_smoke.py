"""A small sample of `make stress`, so the suite keeps its parts working: a few stopped
runs, fuzzed scenarios and damaged logs, and runs at once on one log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import TORTURE_SCENARIO, write_scenario
from tests.stress import Figures
from tests.stress.fuzz import DAMAGES, fuzz_logs, fuzz_scenarios
from tests.stress.shared import one_log
from tests.stress.stops import threaded_stops

# The kinds of damage this sample reads; `make stress` reads them all.
SAMPLED = ("huge t", "lines duplicated", "line repeated", "cut", "field retyped", "CRLF")


@pytest.mark.slow
@pytest.mark.timeout(600)  # a sample of `make stress`: many runs
def test_a_sample_of_the_stress_run_keeps_every_promise(tmp_path: Path) -> None:
    """Two runs stopped, 40 scenario files and 30 damaged logs, three runs on one log:
    every trial survives and no task is unaccounted."""
    figures = Figures()
    threaded_stops(figures, tmp_path, runs=2, parallel=2, seed=3)
    fuzz_scenarios(figures, tmp_path, cases=40)
    damages = {name: DAMAGES[name] for name in SAMPLED}
    fuzz_logs(figures, tmp_path, cases=30, seed=3, damages=damages)
    scenario = write_scenario(tmp_path, {**TORTURE_SCENARIO, "name": "shared", "time_scale": 20})
    figures.trial("runs at once on one --log", one_log(scenario, tmp_path / "shared.jsonl"))

    assert figures.problems == []
    assert figures.ok
    assert figures.total("fuzz scenario").tried == 40 + 5  # and the odd files
    assert figures.total("damaged log").tried == 30
