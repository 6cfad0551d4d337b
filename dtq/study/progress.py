"""How a sweep shows its progress on stderr: a bar on a terminal, plain lines elsewhere.

On a terminal a rich progress bar redraws in place (points done, the rate, the time
left). Off a terminal (a CI log, a pipe, a file) a redrawn bar would be noise or
nothing at all, so a line is written instead now and then, as k6 and Locust do:

    sweep: 12/40 runs, 3/10 points, 0 failed, 35 s elapsed, ~82 s left

one when a run finishes at least `LINE_INTERVAL_S` after the last line, and one at the
end. `--quiet` shows neither. Which of the three is decided once, when the sweep starts;
a failed run is said in every one of them, since it is an error and not progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LINE_INTERVAL_S = 10.0
"""Least time between two progress lines off a terminal, in seconds of wall time."""


class SweepProgress(Protocol):
    """What a sweep tells its progress view: each finished run, failures, the end."""

    def advance(self, *, failed: bool, point_done: bool) -> None:
        """One more run finished (`failed`: it did not complete); `point_done`: its point too."""

    def say(self, text: str) -> None:
        """A line for the user (a failed run), shown without breaking the view."""

    def close(self, *, outcome: str) -> None:
        """The sweep is over (`done`, `interrupted`, or `stopped` by an error): the last
        line, or the bar taken down."""


@dataclass
class Counts:
    """Runs and points finished so far, of how many, and how many runs failed."""

    runs: int
    points: int
    runs_done: int = 0
    points_done: int = 0
    failed: int = 0

    def add(self, *, failed: bool, point_done: bool) -> None:
        """Count one finished run."""
        self.runs_done += 1
        self.failed += failed
        self.points_done += point_done


@dataclass
class ProgressLines:
    """Off a terminal: a plain progress line every `interval_s` or so, and one at the end."""

    counts: Counts
    stream: TextIO
    now: Callable[[], float] = time.monotonic
    interval_s: float = LINE_INTERVAL_S
    _start_t: float = field(init=False)
    _last_t: float = field(init=False)

    def __post_init__(self) -> None:
        self._start_t = self._last_t = self.now()

    def advance(self, *, failed: bool, point_done: bool) -> None:
        """Count the run; write a line if the last one is `interval_s` old (not at the end)."""
        self.counts.add(failed=failed, point_done=point_done)
        t = self.now()
        if t - self._last_t >= self.interval_s and self.counts.runs_done < self.counts.runs:
            self._last_t = t
            self._write(self.line(t))

    def say(self, text: str) -> None:
        """Write `text` as its own line."""
        self._write(text)

    def close(self, *, outcome: str) -> None:
        """The closing line: where the sweep got to, and how it ended."""
        self._write(self.line(self.now(), end=outcome))

    def line(self, t: float, *, end: str | None = None) -> str:
        """`sweep: 12/40 runs, 3/10 points, 0 failed, 35 s elapsed, ~82 s left`."""
        c = self.counts
        elapsed_s = t - self._start_t
        text = (
            f"sweep: {c.runs_done}/{c.runs} runs, {c.points_done}/{c.points} points, "
            f"{c.failed} failed, {elapsed_s:.0f} s elapsed"
        )
        if end is not None:
            return f"{text}, {end}"
        if not c.runs_done:
            return text
        left_s = elapsed_s / c.runs_done * (c.runs - c.runs_done)
        return f"{text}, ~{left_s:.0f} s left"

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()  # a CI log shows it now, not when the buffer fills


class ProgressBar:
    """On a terminal: a rich bar with points done, the rate and the time left."""

    def __init__(self, counts: Counts, console: Console) -> None:
        self.counts = counts
        self._bar = Progress(
            TextColumn("[bold]sweep[/] {task.fields[points]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs · {task.fields[rate]} · elapsed"),
            TimeElapsedColumn(),
            TextColumn("· ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._bar.add_task("sweep", total=counts.runs, points=self._points(), rate="")
        self._bar.start()

    def _points(self) -> str:
        return f"{self.counts.points_done}/{self.counts.points} points"

    def advance(self, *, failed: bool, point_done: bool) -> None:
        """Move the bar on by one run."""
        self.counts.add(failed=failed, point_done=point_done)
        speed = self._bar.tasks[0].speed
        rate = f"{speed:.1f} runs/s" if speed else ""
        self._bar.update(self._task, advance=1, points=self._points(), rate=rate)

    def say(self, text: str) -> None:
        """Print `text` above the bar."""
        self._bar.console.print(text, markup=False, highlight=False)

    def close(self, *, outcome: str) -> None:
        """Take the bar down (its last state stays on the screen)."""
        self._bar.stop()


@dataclass
class Silent:
    """`--quiet`: no progress; failed runs are still said."""

    counts: Counts
    stream: TextIO

    def advance(self, *, failed: bool, point_done: bool) -> None:
        """Count the run, show nothing."""
        self.counts.add(failed=failed, point_done=point_done)

    def say(self, text: str) -> None:
        """Write `text` as its own line."""
        self.stream.write(text + "\n")

    def close(self, *, outcome: str) -> None:
        """Nothing to take down."""


def progress_view(*, runs: int, points: int, quiet: bool, stream: TextIO) -> SweepProgress:
    """The view for this sweep: nothing with `quiet`, a bar on a terminal, else lines."""
    counts = Counts(runs, points)
    if quiet:
        return Silent(counts, stream)
    console = Console(file=stream)
    if console.is_terminal:
        return ProgressBar(counts, console)
    return ProgressLines(counts, stream)
