"""`dtq retries`: a preset's or a scenario's schedule, and the time to the dead-letter queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtq.cli import main

SCENARIO = """\
workers: 2
retry: {max_attempts: 3, backoff: fixed, base_delay: 2s, jitter: full}
task_types:
  email: {failures: {network: 0.5}}
  sms: {retry: {preset: celery}}
arrivals:
  - {task: email, pattern: burst, count: 5}
"""


def test_sidekiq_takes_about_20_4_days_to_the_dlq(capsys: pytest.CaptureFixture[str]) -> None:
    """25 retries; cumulative 1,763,395 s (20.41 days) to 1,766,320 s with the most jitter."""
    assert main(["retries", "sidekiq"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("dead-letter queue after 25 retries: 20.41d..20.44d")
    assert "(1763395s..1766320s)" in last
    assert "      1  15s..24s" in out


def test_json_has_every_retry_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON lists each retry's range and cumulative range."""
    assert main(["retries", "sidekiq", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (policy,) = data["policies"]
    assert policy["max_attempts"] == 26
    assert len(policy["retries"]) == 25
    assert policy["retries"][0] == {
        "retry": 1,
        "delay_min_s": 15.0,
        "delay_max_s": 24.0,
        "cumulative_min_s": 15.0,
        "cumulative_max_s": 24.0,
    }
    assert (policy["to_dlq_min_s"], policy["to_dlq_max_s"]) == (1763395.0, 1766320.0)
    assert policy["to_dlq_min_s"] / 86400 == pytest.approx(20.4, abs=0.05)


def test_a_scenario_shows_its_block_and_each_types_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Full jitter on a fixed 2 s: each retry 0..2 s; sms follows Celery's 3 x 180 s."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    assert main(["retries", str(path)]) == 0
    out = capsys.readouterr().out
    assert "scenario retry: 3 attempts; fixed 2s; jitter full" in out
    assert "dead-letter queue after 2 retries: 0s..4s" in out
    assert "task type sms: 4 attempts; fixed 3m; jitter none" in out
    assert "dead-letter queue after 3 retries: 9m (540s..540s)" in out


def test_equal_delays_collapse_into_one_row(capsys: pytest.CaptureFixture[str]) -> None:
    """Temporal's 992 retries at the 100 s cap are one row, not 992."""
    assert main(["retries", "temporal"]) == 0
    out = capsys.readouterr().out
    assert "  8-999  100s   27.6h" in out
    assert len(out.splitlines()) < 15


def test_a_misspelt_preset_exits_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    """Neither a file nor a preset: say so, suggest the closest preset, exit 2."""
    assert main(["retries", "sidekik"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'sidekiq'?" in err
    assert "Traceback" not in err
