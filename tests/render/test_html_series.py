"""The time series the pictures draw: sampled from the reducer in one pass, bounded."""

from __future__ import annotations

import math
from pathlib import Path

from dtq.fold.state import fold_events
from dtq.render.html.series import (
    BUSY_WORKERS,
    DEAD,
    STARTED,
    SUCCEEDED,
    UP_WORKERS,
    SeriesState,
    backlog_key,
    dead_letters_by_reason,
    fold_series,
    per_second,
    thinned,
    wait_cdf,
)
from tests.eventlog_factory import LogBuilder, small_log, steady_log


def _series(builder: LogBuilder, *, max_buckets: int = 1000) -> SeriesState:
    state = SeriesState(max_buckets=max_buckets)
    state.apply_all(builder.events)
    state.finish()
    return state


def test_series_fold_gives_the_same_state_as_the_plain_reducer() -> None:
    """Sampling changes nothing the reducer computes: totals, DLQ and waits agree."""
    builder = small_log()
    plain = fold_events(builder.events)
    sampled = _series(builder)
    assert sampled.totals() == plain.totals()
    assert sampled.dlq == plain.dlq
    assert sampled.waits_by_priority == plain.waits_by_priority


def test_the_last_sample_holds_the_run_totals() -> None:
    """The final (partial) bucket ends at the run's end with the reducer's final counts."""
    state = _series(small_log())
    totals = state.totals()
    assert state.sample_t[-1] == 5.0
    assert state.samples[STARTED][-1] == totals["started"]
    assert state.samples[SUCCEEDED][-1] == totals["succeeded"]
    assert state.samples[DEAD][-1] == totals["dead_lettered"]


def test_a_sample_is_the_state_just_before_the_first_event_past_its_edge() -> None:
    """At an edge, only events before it are counted: samples are exact, not smeared."""
    state = _series(small_log(), max_buckets=10)  # 10 buckets over 5 s: 1 s wide after coarsening
    width = state.over_time.width_s
    for edge, succeeded in zip(state.sample_t, state.samples[SUCCEEDED], strict=True):
        if edge < state.sample_t[-1]:
            assert math.isclose(edge / width, round(edge / width))
        expected = sum(
            1 for e in small_log().events if e["event"] == "task_succeeded" and e["t"] < edge
        )
        if edge == state.sample_t[-1]:
            expected = state.totals()["succeeded"]
        assert succeeded == expected, edge


def test_buckets_stay_bounded_however_long_the_run() -> None:
    """A long run coarsens its buckets instead of growing: at most max_buckets samples."""
    state = _series(steady_log(tasks=3000, gap_s=0.5), max_buckets=100)
    assert len(state.sample_t) <= 101  # the buckets, plus the run's end
    assert state.over_time.width_s >= 1500 / 100
    assert state.samples[SUCCEEDED][-1] == 3000


def test_a_huge_time_does_not_allocate_per_second() -> None:
    """An event at t = 3e8 s (a damaged or absurd log) still costs max_buckets samples."""
    builder = steady_log(tasks=3, gap_s=1.0)
    builder.events[-1]["t"] = 3e8
    builder.events[-1]["elapsed_s"] = 3e8
    state = _series(builder, max_buckets=500)
    assert len(state.sample_t) <= 501
    assert all(len(column) == len(state.sample_t) for column in state.samples.values())


def test_backlog_counts_waiting_and_backing_off_tasks_per_priority() -> None:
    """The backlog column of P2 shows the retrying email, P8 the report that waits."""
    state = _series(small_log(), max_buckets=5000)
    at = {round(t, 3): i for i, t in enumerate(state.sample_t)}
    p2 = state.samples[backlog_key(2)]
    assert p2[at[2.4]] == 1  # email-000002 failed at 2.25 and backs off until 2.5
    assert p2[at[2.6]] == 1  # email-000003 submitted at 2.5 waits for w01
    assert state.samples[backlog_key(8)][at[3.8]] == 1  # report back in line after the crash


def test_workers_busy_and_up_follow_the_crash() -> None:
    """Up drops to one worker between the crash (3.5 s) and the restart (4.5 s)."""
    state = _series(small_log(), max_buckets=5000)
    at = {round(t, 3): i for i, t in enumerate(state.sample_t)}
    assert state.samples[UP_WORKERS][at[3.0]] == 2
    assert state.samples[UP_WORKERS][at[4.0]] == 1
    assert state.samples[UP_WORKERS][at[4.8]] == 2
    assert state.samples[BUSY_WORKERS][at[1.1]] == 2


def test_fault_windows_from_start_to_end_a_crash_until_its_restart() -> None:
    """Each fault is one window; a worker crash lasts its restart_after."""
    state = _series(small_log(), max_buckets=5000)
    outage, crash = state.windows
    assert (outage.kind, outage.start_s) == ("outage", 2.0)
    assert outage.end_s == 3.0  # fault_ended, exactly
    assert (crash.kind, crash.start_s, crash.end_s) == ("worker_crash", 3.5, 4.5)
    assert outage.label == "outage network 90%"


def test_thinning_keeps_the_end_and_reads_counters_exactly() -> None:
    """Thinned counters are the originals at the kept edges; the last sample stays."""
    state = _series(steady_log(tasks=400, gap_s=0.01), max_buckets=1000)
    times, columns = thinned(state, 50)
    assert len(times) <= 50
    assert times[-1] == state.sample_t[-1]
    index = {t: i for i, t in enumerate(state.sample_t)}
    for t, value in zip(times, columns[SUCCEEDED], strict=True):
        assert value == state.samples[SUCCEEDED][index[t]]


def test_thinning_averages_levels_it_is_asked_to() -> None:
    """A level named in mean_of is the mean of the samples a kept point stands for."""
    state = _series(steady_log(tasks=400, gap_s=0.01), max_buckets=1000)
    _, columns = thinned(state, 10, mean_of=(BUSY_WORKERS,))
    assert all(0.0 <= v <= 4.0 for v in columns[BUSY_WORKERS])
    assert any(0.0 < v < 1.0 for v in columns[BUSY_WORKERS])  # a share, not a 0/1 pick


def test_per_second_divides_growth_by_bucket_width() -> None:
    """A counter growing by 10 over each 0.5 s bucket is 20 per second."""
    assert per_second([0.5, 1.0, 1.5], [10, 20, 30]) == [20.0, 20.0, 20.0]


def test_dead_letters_land_in_the_bucket_of_their_time() -> None:
    """The dead letter at 3.25 s counts in the bucket ending at the first edge after it."""
    state = _series(small_log())
    times = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert dead_letters_by_reason(state, times) == {"non_retryable": [0, 0, 0, 1, 0]}


def test_wait_cdf_ends_at_the_longest_wait_and_rises() -> None:
    """The CDF is non-decreasing in wait and share, and reaches 100% at the max wait."""
    state = _series(small_log())
    points = wait_cdf(state, 2, points=3)
    waits = [w for w, _ in points]
    shares = [s for _, s in points]
    assert waits == sorted(waits) and shares == sorted(shares)
    assert shares[-1] == 1.0
    assert waits[-1] == max(state.waits_by_priority[2])


def test_fold_series_reads_a_log_file(tmp_path: Path) -> None:
    """`fold_series` folds a saved log once and finishes its series."""
    path = small_log().write(tmp_path / "small.jsonl")
    state, reader = fold_series(path)
    assert reader.warnings == []
    assert state.sample_t[-1] == 5.0
    assert len(state.windows) == 2


def test_a_dependency_gets_its_in_flight_and_line_over_time(tmp_path: Path) -> None:
    """The metastable run: calls pile up in line while in-flight stays at the slots."""
    from dtq.engine import runner
    from dtq.render.html.series import dependency_keys
    from dtq.scenario import load_scenario
    from tests.helpers import SCENARIOS_DIR

    log = tmp_path / "metastable.jsonl"
    runner.run(load_scenario(SCENARIOS_DIR / "metastable.yaml"), log_path=log)
    state, _ = fold_series(log)
    in_flight, line = dependency_keys("db")
    assert max(state.samples[in_flight]) == 10
    assert max(state.samples[line]) > 1000
