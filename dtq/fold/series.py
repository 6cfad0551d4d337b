"""Counts over time in a bounded number of buckets, for sparklines and charts.

A run's clock can reach years (or a damaged log any `t`), so a series never holds one
slot per second: it starts with 1-second buckets (or `width_s`) and, whenever time moves
past the last of `max_buckets`, doubles the bucket width by merging neighbours. Memory is
then bounded by `max_buckets` for any `t`, and a chart never needs more points than that.

The series costs the reducer one comparison per event: it does not count events itself
but reads the reducer's running totals (`read`) each time event time crosses the end of
the open bucket, and again when asked for values. Several counts share one series, so
they share one bucket width and line up point for point.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Sequence

MAX_BUCKETS = 2048


class TimeSeries:
    """Per-bucket increases of named running totals over event time; at most `max_buckets`."""

    __slots__ = (
        "_closed",
        "_columns",
        "_edge_t",
        "_max_buckets",
        "_open",
        "_read",
        "_start",
        "_width_s",
    )

    def __init__(
        self,
        columns: Iterable[str],
        read: Callable[[], Sequence[int]],
        *,
        max_buckets: int = MAX_BUCKETS,
        width_s: float = 1.0,
    ) -> None:
        if max_buckets < 2 or max_buckets % 2:
            raise ValueError(f"max_buckets must be even and at least 2 (got {max_buckets})")
        if not width_s > 0:
            raise ValueError(f"width_s must be a positive number of seconds (got {width_s})")
        self._columns = tuple(columns)
        self._read = read  # the running totals now, one per column
        self._max_buckets = max_buckets
        # What each bucket gained while closed; the open bucket also gains what `read`
        # has grown by since `_start`.
        self._closed = [array("q", [0]) for _ in self._columns]
        self._start: Sequence[int] = [0] * len(self._columns)
        self._open = 0  # index of the bucket holding the latest time
        self._width_s = width_s  # the first width; it doubles as time grows
        self._edge_t = width_s  # where the open bucket ends

    @property
    def width_s(self) -> float:
        """Seconds of event time one bucket covers (1, 2, 4, ... as time grows)."""
        return self._width_s

    @property
    def edge_t(self) -> float:
        """The time at which the open bucket ends: `advance` is due at or after it."""
        return self._edge_t

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the totals this series follows."""
        return self._columns

    def __len__(self) -> int:
        """Buckets from t = 0 up to the open one, which holds the latest time."""
        return self._open + 1

    def advance(self, t: float) -> float:
        """Move to time `t` (at or past `edge_t`), before anything at `t` is counted.

        Returns the new `edge_t`."""
        if not math.isfinite(t):
            raise ValueError(f"time must be a finite number of seconds (got {t!r})")
        now = self._read()
        for closed, before, after in zip(self._closed, self._start, now, strict=True):
            closed[self._open] += after - before
        self._start = now
        width = self._width_s
        index = int(t / width)
        if index >= self._max_buckets:
            factor = self._coarsening(t, width)
            self._coarsen(factor)
            width = self._width_s = width * factor
            index = int(t / width)
        for closed in self._closed:
            if len(closed) <= index:
                closed.frombytes(bytes(closed.itemsize * (index + 1 - len(closed))))
        self._open = index
        self._edge_t = (index + 1) * width
        return self._edge_t

    def values(self, column: str) -> list[int]:
        """`column`'s increase in each bucket, from t = 0 to the open bucket (so far)."""
        at = self._columns.index(column)
        values = self._closed[at][: self._open + 1].tolist()
        values[-1] += self._read()[at] - self._start[at]
        return values

    def points(self, column: str) -> list[tuple[float, int]]:
        """`(bucket start t, increase)` for each bucket of `column`, ready to plot."""
        width = self.width_s
        return [(index * width, value) for index, value in enumerate(self.values(column))]

    def cumulative(self, column: str) -> list[int]:
        """`column`'s running total at the end of each bucket (a level, e.g. for backlog)."""
        total = 0
        out = []
        for value in self.values(column):
            total += value
            out.append(total)
        return out

    def sum_since(self, column: str, start_t: float) -> tuple[int, float]:
        """`column`'s increase from the bucket holding `start_t` to now, and that bucket's
        start (a window's true start once buckets are wider than asked)."""
        width = self.width_s
        first = int(start_t / width) if start_t > 0 else 0
        return sum(self.values(column)[first:]), first * width

    # -- coarsening -----------------------------------------------------------------

    def _coarsening(self, t: float, width: float) -> int:
        """The smallest power of two that brings `t` under the bucket limit at once,
        so that a huge jump (t = 1e300) costs one pass, not one per doubling."""
        factor: int = 1 << max(1, math.ceil(math.log2((t / width + 1) / self._max_buckets)))
        while int(t / (width * factor)) >= self._max_buckets:
            factor *= 2
        return factor

    def _coarsen(self, factor: int) -> None:
        """Merge every `factor` neighbouring buckets into one."""
        for at, closed in enumerate(self._closed):
            starts = range(0, len(closed), factor)
            self._closed[at] = array("q", (sum(closed[i : i + factor]) for i in starts))
        self._open //= factor
