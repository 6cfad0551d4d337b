"""Big runs: hundreds of thousands of tasks through worker crashes and an outage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dtq.log.verify import verify_log
from tests.reliability import big_model, run_logged
from tests.stress import Figures


def big_run(figures: Figures, folder: Path, *, clock: str, tasks: int) -> None:
    """One big run through crashes and an outage; its log verified in a child process."""
    log = folder / f"big-{clock}.jsonl"
    started = time.perf_counter()
    outcome = run_logged(big_model(clock=clock, tasks=tasks), log)
    run_s = time.perf_counter() - started
    verdict = verify_log(log)
    figures.unaccounted += verdict.unaccounted()
    problems = []
    if not verdict.is_valid or outcome.status != "completed" or verdict.tasks != tasks:
        problems.append(f"status {outcome.status}, {verdict.tasks} tasks of {tasks}")
    figures.trial(f"big run: {clock} clock", problems)
    verify_s, peak_mb = _verify_in_child(log)
    figures.notes.append(
        f"big run, {clock} clock: {tasks:,} tasks, {verdict.events:,} events in {run_s:.1f}s; "
        f"{verdict.ended['dead_lettered']:,} dead-lettered, {verdict.pending} pending; "
        f"`dtq verify` {verify_s:.1f}s, peak {peak_mb:.0f} MB"
    )
    log.unlink()


def _verify_in_child(log: Path) -> tuple[float, float]:
    """Seconds and peak resident megabytes of `dtq verify LOG` in its own process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "dtq", "verify", str(log)], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024
