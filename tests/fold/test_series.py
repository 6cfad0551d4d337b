"""The bounded time series: running totals per bucket, the width doubling as time grows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtq.fold.series import TimeSeries


class Counter:
    """Running totals fed to a series the way the reducer feeds it: advance, then count."""

    def __init__(self, columns: tuple[str, ...] = ("done",), max_buckets: int = 2048) -> None:
        self.totals = dict.fromkeys(columns, 0)
        self.series = TimeSeries(
            columns, lambda: list(self.totals.values()), max_buckets=max_buckets
        )

    def count(self, t: float, column: str = "done", amount: int = 1) -> None:
        if t >= self.series.edge_t:
            self.series.advance(t)
        self.totals[column] += amount


def test_one_second_buckets_until_the_limit() -> None:
    c = Counter(max_buckets=8)
    for t in (0.0, 0.5, 3.2, 7.9):
        c.count(t)
    assert c.series.width_s == 1.0
    assert c.series.values("done") == [2, 0, 0, 1, 0, 0, 0, 1]
    assert c.series.points("done")[3] == (3.0, 1)


def test_the_open_bucket_shows_what_it_holds_so_far() -> None:
    c = Counter()
    c.count(0.2)
    assert c.series.values("done") == [1]
    c.count(0.7)
    assert c.series.values("done") == [2]


def test_a_time_past_the_last_bucket_doubles_the_width_merging_neighbours() -> None:
    c = Counter(("done", "failed"), max_buckets=8)
    for t in range(8):
        c.count(float(t), amount=t)
    c.count(8.0, "failed")
    assert c.series.width_s == 2.0
    assert c.series.values("done") == [0 + 1, 2 + 3, 4 + 5, 6 + 7, 0]
    assert c.series.values("failed") == [0, 0, 0, 0, 1]


def test_coarsening_can_merge_the_open_bucket_with_closed_ones() -> None:
    c = Counter(max_buckets=4)
    c.count(2.5)
    c.count(3.5)
    c.count(4.5)  # width 2: buckets [0-2) [2-4) [4-6); the open one is [4-6)
    c.count(4.9)
    assert (c.series.width_s, c.series.values("done")) == (2.0, [0, 2, 2])
    c.count(9.0)  # width 4: [0-4) [4-8) [8-12)
    assert (c.series.width_s, c.series.values("done")) == (4.0, [2, 2, 1])


def test_a_huge_time_coarsens_in_one_step_and_keeps_every_count() -> None:
    c = Counter()
    for t in (1.0, 3e8, 1e300):
        c.count(t)
    assert len(c.series) <= 2048
    assert sum(c.series.values("done")) == 3
    assert c.series.width_s * 2048 > 1e300


def test_cumulative_is_the_running_total_at_each_bucket_end() -> None:
    c = Counter(("submitted",))
    for t in (0.1, 0.2, 2.5):
        c.count(t, "submitted")
    assert c.series.cumulative("submitted") == [2, 2, 3]


def test_sum_since_says_where_the_window_really_starts() -> None:
    c = Counter(max_buckets=4)
    for t in range(16):
        c.count(float(t))
    assert c.series.width_s == 4.0
    assert c.series.sum_since("done", 9.0) == (8, 8.0)  # the bucket of t 8-12 and the next


def test_an_odd_bucket_limit_or_an_infinite_time_is_refused() -> None:
    with pytest.raises(ValueError, match="max_buckets"):
        TimeSeries(("done",), list, max_buckets=3)
    with pytest.raises(ValueError, match="finite"):
        Counter().series.advance(float("inf"))


@given(st.lists(st.floats(min_value=0, max_value=1e12), max_size=200))
def test_counts_are_kept_and_the_buckets_stay_bounded(times: list[float]) -> None:
    c = Counter(max_buckets=16)
    for t in sorted(times):
        c.count(t)
    assert sum(c.series.values("done")) == len(times)
    assert len(c.series) <= 16
    if times:  # the latest time falls in the open bucket
        assert (len(c.series) - 1) * c.series.width_s <= max(times) < c.series.edge_t
