"""The runner: every exit path ends the log, and a log that could not be ended is a failure."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import IO

import pytest

from dtq.engine import runner
from dtq.scenario import load_scenario
from tests.helpers import SCENARIOS_DIR


class DiskFullAtRunFinished(io.BytesIO):
    """A log file whose disk fills exactly when the batch holding run_finished is written."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if b'"run_finished"' in bytes(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_disk_that_fills_at_the_final_flush_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything ran, but run_finished never reached the disk: `failed`, with the reason."""
    file = DiskFullAtRunFinished()

    def open_full(_path: Path) -> IO[bytes]:
        return file

    monkeypatch.setattr(runner, "open_log", open_full)
    scenario = load_scenario(SCENARIOS_DIR / "fifo.yaml").with_overrides(clock="virtual")
    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl")
    assert outcome.status == "failed"
    assert outcome.error == "writing the event log failed: No space left on device"
    assert file.closed, "the log file is closed even when its last write fails"
    assert outcome.totals["succeeded"] == outcome.totals["submitted"] > 0


def test_a_run_whose_log_ends_properly_completes(tmp_path: Path) -> None:
    """The same run with room on the disk completes, its last line run_finished."""
    scenario = load_scenario(SCENARIOS_DIR / "fifo.yaml").with_overrides(clock="virtual")
    outcome = runner.run(scenario, log_path=tmp_path / "log.jsonl")
    assert outcome.status == "completed" and outcome.error is None
    assert b'"run_finished"' in (tmp_path / "log.jsonl").read_bytes().splitlines()[-1]
