"""Every derived number has one definition (dtq.fold.metrics) and every view shows it."""

from __future__ import annotations

from dtq.fold import metrics
from dtq.fold.state import RunState, fold_events
from dtq.render.dashboard import format_rate, progress_line, summary_lines
from dtq.render.report import build_report, render_markdown
from tests.eventlog_factory import LogBuilder, small_log


def steady_log(tasks: int = 10) -> LogBuilder:
    """One success every second, the last at t = tasks - 0.5."""
    b = LogBuilder()
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    for index in range(tasks):
        task_id = f"email-{index:06d}"
        b.submit(float(index), task_id)
        b.start(float(index), task_id, "w01")
        b.succeed(index + 0.5, task_id, "w01", run_s=0.5)
    return b


def test_the_recent_rate_counts_successes_in_the_window() -> None:
    state = fold_events(steady_log().events)
    assert metrics.recent_throughput_per_s(state, 5.0) == 5 / 4.5  # seconds 5..9, to t 9.5


def test_an_empty_state_has_zero_rates() -> None:
    state = RunState()
    assert metrics.recent_throughput_per_s(state) == 0.0
    assert metrics.throughput_per_s(state) == 0.0
    assert metrics.failure_percent(state) == 0.0
    assert metrics.completed_ratio(state) == 0.0


def test_a_finished_run_shows_one_throughput_in_every_view() -> None:
    b = steady_log(tasks=40)
    b.run_finished(60.0)  # a quiet end: the last seconds' rate differs from the run's
    state = fold_events(b.events)
    rate = metrics.throughput_per_s(state)
    assert rate == 40 / 60.0
    assert metrics.shown_throughput_per_s(state) == rate
    shown = format_rate(rate)
    assert progress_line(state).endswith(f"rate {shown}")
    assert any(line.split()[-1] == shown for line in summary_lines(state))
    report = build_report(state)
    assert report["throughput_per_s"] == round(rate, 6)
    assert f"| throughput | {shown} |" in render_markdown(report)


def test_pending_failure_share_and_utilisation() -> None:
    state = fold_events(small_log().events)
    for counts in state.by_priority.values():
        assert metrics.pending(counts) == counts.submitted - counts.succeeded - counts.dead_lettered
    totals = state.totals()
    ended = totals["failed"] + totals["succeeded"]
    assert metrics.failure_percent(state) == 100.0 * totals["failed"] / ended
    row = next(iter(state.workers.values()))
    assert metrics.utilisation(row, state.elapsed_s) == row.busy_s / state.elapsed_s
    assert metrics.utilisation(row, 0.0) == 0.0


def test_goodput_splits_first_time_and_eventual_successes_against_attempts() -> None:
    """The small log: 1 task succeeds on attempt 1, 2 after a retry, 6 attempts in 5 s."""
    state = fold_events(small_log().events)
    whole = metrics.goodput(state)
    assert (whole.first_time_per_s, whole.eventual_per_s, whole.attempts_per_s) == (
        0.2,
        0.4,
        1.2,
    )
    stretches = metrics.goodput_over_time(state, points=10)
    # One-second buckets; the run ends on the edge of t = 5, so its last instant joins [4, 5).
    assert [(s.start_t, s.end_t) for s in stretches] == [(t, t + 1.0) for t in range(5)]
    assert [s.first_time_per_s for s in stretches] == [0, 1, 0, 0, 0]
    assert [s.eventual_per_s for s in stretches] == [0, 0, 0, 1, 1]
    assert [s.attempts_per_s for s in stretches] == [0, 3, 1, 1, 1]


def test_goodput_over_time_merges_buckets_into_at_most_the_stretches_asked() -> None:
    """Two stretches of the small log's five seconds: 3 s (whole buckets), then the rest."""
    stretches = metrics.goodput_over_time(fold_events(small_log().events), points=2)
    assert [(s.start_t, s.end_t) for s in stretches] == [(0.0, 3.0), (3.0, 5.0)]
    assert [s.attempts_per_s for s in stretches] == [4 / 3, 1.0]
    assert [s.eventual_per_s for s in stretches] == [0.0, 1.0]
