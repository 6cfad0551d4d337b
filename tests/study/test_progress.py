"""A sweep's progress on stderr: a bar on a terminal, plain lines elsewhere, none if quiet."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from dtq.study.progress import (
    Counts,
    ProgressBar,
    ProgressLines,
    Silent,
    progress_view,
)
from tests.study.conftest import dtq


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_off_a_terminal_a_line_comes_every_interval_and_one_at_the_end() -> None:
    clock, out = FakeClock(), io.StringIO()
    lines = ProgressLines(Counts(runs=4, points=2), out, now=clock, interval_s=10.0)
    clock.t += 5
    lines.advance(failed=False, point_done=False)
    assert out.getvalue() == ""  # not yet 10 s since the start
    clock.t += 7
    lines.advance(failed=True, point_done=True)
    assert out.getvalue() == "sweep: 2/4 runs, 1/2 points, 1 failed, 12 s elapsed, ~12 s left\n"
    clock.t += 3
    lines.advance(failed=False, point_done=False)
    clock.t += 20
    lines.advance(failed=False, point_done=True)  # the last run: the closing line says it
    lines.close(outcome="done")
    assert out.getvalue().splitlines()[1:] == [
        "sweep: 4/4 runs, 2/2 points, 1 failed, 35 s elapsed, done"
    ]


def test_failures_are_said_in_every_view() -> None:
    out = io.StringIO()
    for view in (ProgressLines(Counts(1, 1), out), Silent(Counts(1, 1), out)):
        view.say("dtq: workers=2 seed 1 failed: boom")
    assert out.getvalue().count("failed: boom\n") == 2


def test_the_view_is_chosen_by_quiet_and_by_the_stream() -> None:
    assert isinstance(progress_view(runs=2, points=1, quiet=True, stream=io.StringIO()), Silent)
    lines = progress_view(runs=2, points=1, quiet=False, stream=io.StringIO())
    assert isinstance(lines, ProgressLines)
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as terminal:
            bar = progress_view(runs=2, points=1, quiet=False, stream=terminal)
            assert isinstance(bar, ProgressBar)
            bar.advance(failed=False, point_done=True)
            bar.close(outcome="done")
            assert bar.counts.points_done == 1
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.slow
def test_dtq_sweep_off_a_terminal_prints_progress_lines_and_quiet_none(small: Path) -> None:
    args = ("sweep", str(small), "--set", "workers=2,4", "--seeds", "2", "--jobs", "1")
    shown = dtq(*args)
    assert shown.returncode in (0, 1), shown.stderr
    last = shown.stderr.splitlines()[-1]
    assert re.fullmatch(r"sweep: 4/4 runs, 2/2 points, 0 failed, \d+ s elapsed, done", last)
    quiet = dtq(*args, "--quiet")
    assert quiet.returncode == shown.returncode
    assert quiet.stderr == ""
    assert quiet.stdout == shown.stdout
