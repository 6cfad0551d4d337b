"""Scenario files for the diff and check tests: the shipped ones, a changed copy, a tiny one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT as HELPERS_ROOT

ROOT = HELPERS_ROOT
SCENARIOS = ROOT / "scenarios"

TINY = """\
name: {name}
seed: 3
workers: 2
retry: {{max_attempts: {attempts}, backoff: none, retry_on: [network]}}
task_types:
  job:  {{priority: 2, duration: {{dist: constant, value: 10ms}},
          failures: {{network: 0.3, bad_input: 0.05}}}}
  bulk: {{priority: 7, duration: {{dist: constant, value: 5ms}}, failures: {{network: 0.2}}}}
arrivals:
  - {{pattern: burst, task: job, count: 120}}
  - {{pattern: burst, task: bulk, count: 80}}
expect:
  dlq_max: {dlq_max}
"""


def write_tiny(folder: Path, name: str = "tiny", *, attempts: int = 2, dlq_max: int = 1000) -> Path:
    """A scenario of 200 tasks that runs in milliseconds and dead-letters some of them."""
    path = folder / f"{name}.yaml"
    path.write_text(TINY.format(name=name, attempts=attempts, dlq_max=dlq_max), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def burst8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scenarios/burst.yaml with `max_attempts` raised from 4 to 8 and named burst_retry8."""
    text = (SCENARIOS / "burst.yaml").read_text(encoding="utf-8")
    assert "\nname: burst\n" in text and "max_attempts: 4 " in text
    changed = text.replace("\nname: burst\n", "\nname: burst_retry8\n").replace(
        "max_attempts: 4 ", "max_attempts: 8 "
    )
    path = tmp_path_factory.mktemp("copy") / "burst_retry8.yaml"
    path.write_text(changed, encoding="utf-8")
    return path
