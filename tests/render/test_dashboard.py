"""The dashboard, summary and progress line render the reducer's state; the live display folds."""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson
import pytest
from rich.console import Console, RenderableType

from dtq.errors import MalformedEvent
from dtq.fold.expect import evaluate, format_checks
from dtq.fold.state import RunState, fold_events
from dtq.render import live
from dtq.render.dashboard import (
    DLQ_ROWS_MAX,
    bar,
    format_speed,
    position_line,
    progress_line,
    render_dashboard,
    render_summary,
    sparkline,
    summary_lines,
)
from dtq.render.live import LiveDisplay, PlainDisplay, QuietDisplay, make_display
from dtq.scenario.models import Expect
from tests.eventlog_factory import (
    DUPLICATE_RUNS,
    LogBuilder,
    redelivered_log,
    small_log,
    steady_log,
)

KEYS = "space pause · q quit"


def rendered(renderable: RenderableType, *, width: int, height: int) -> list[str]:
    """The lines a recording console of that size shows."""
    console = Console(record=True, width=width, height=height, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def dashboard(
    state: RunState,
    *,
    width: int,
    height: int,
    paused: bool = False,
    speed: float | None = None,
    footer_keys: str | None = None,
    position: tuple[float, float | None] | None = None,
) -> list[str]:
    """The dashboard's lines at that size."""
    frame = render_dashboard(
        state,
        width=width,
        height=height,
        paused=paused,
        speed=speed,
        footer_keys=footer_keys,
        position=position,
    )
    return rendered(frame, width=width, height=height)


def mid_run() -> RunState:
    """The small log folded up to t=2.5: an outage on, a task queued, both workers busy."""
    return fold_events(e for e in small_log().events if e["t"] <= 2.5)


def many_workers(count: int) -> RunState:
    """A run with `count` busy workers and one dead letter."""
    b = LogBuilder(workers=count, expected_tasks=count + 1)
    b.run_started()
    for index in range(count):
        task_id = f"email-{index:06d}"
        b.emit(0.0, "worker_started", worker=f"w{index + 1:02d}")
        b.submit(0.0, task_id)
        b.start(0.5, task_id, f"w{index + 1:02d}")
    b.submit(0.0, "report-999999")
    return fold_events(b.events)


# -- the dashboard ------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 60)])
def test_the_dashboard_shows_counters_workers_queues_and_dead_letters(
    width: int, height: int
) -> None:
    text = "\n".join(dashboard(fold_events(small_log().events), width=width, height=height))
    for label in (
        "submitted",
        "queued",
        "running",
        "succeeded",
        "retrying",
        "dead",
        "tries failed",
    ):
        assert label in text
    assert "w01" in text and "w02" in text
    assert "email-000003" in text and "non_retryable" in text
    assert "P2" in text and "P8" in text
    assert "4/4" in text and "100.0%" in text
    assert "throughput" in text


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 60)])
def test_the_dashboard_mid_run_shows_running_tasks_and_the_outage(width: int, height: int) -> None:
    text = "\n".join(dashboard(mid_run(), width=width, height=height))
    assert "report-000001" in text and "email-000002" in text
    assert "busy" in text
    assert "outage" in text and "network" in text
    assert "2/4" not in text and "1/4" in text


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (200, 60), (40, 10)])
def test_the_dashboard_fills_exactly_its_size(width: int, height: int) -> None:
    lines = dashboard(many_workers(40), width=width, height=height, footer_keys=KEYS)
    assert len(lines) == height
    assert max(len(line) for line in lines) <= width


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 60)])
def test_workers_that_do_not_fit_are_summed_up(width: int, height: int) -> None:
    text = "\n".join(dashboard(many_workers(64), width=width, height=height))
    assert "w01" in text
    assert "w64" not in text
    assert "more" in text


def test_a_pause_the_speed_and_the_keys_are_shown() -> None:
    text = "\n".join(
        dashboard(mid_run(), width=80, height=24, paused=True, speed=4.0, footer_keys=KEYS)
    )
    assert "PAUSED" in text and "×4" in text and KEYS in text


def test_an_empty_state_renders_as_waiting() -> None:
    text = "\n".join(dashboard(RunState(), width=80, height=24))
    assert "waiting" in text


def many_dead_letters(*, exhausted: int, non_retryable: int, workers: int = 8) -> RunState:
    """`exhausted` tasks dead-lettered first, then `non_retryable` ones (the newest)."""
    b = LogBuilder(workers=workers, max_attempts=1)
    b.run_started()
    for index in range(workers):
        b.emit(0.0, "worker_started", worker=f"w{index + 1:02d}")
    for index in range(exhausted + non_retryable):
        task_id = f"email-{index:06d}"
        t = index * 0.01
        b.submit(t, task_id)
        b.start(t, task_id, "w01")
        late = index >= exhausted
        error = "bad_input" if late else "network"
        b.fail(t, task_id, "w01", error=error, run_s=0.0, retry_at=None)
        b.dead_letter(t, task_id, reason="non_retryable" if late else "exhausted")
    return fold_events(b.events)


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 30), (250, 60)])
def test_dead_letter_counts_by_reason_and_error_always_show(width: int, height: int) -> None:
    """Three newest non_retryable ids never hide two hundred older exhausted ones."""
    state = many_dead_letters(exhausted=200, non_retryable=3)
    text = "\n".join(dashboard(state, width=width, height=height))
    assert "exhausted 200" in text and "non_retryable 3" in text
    assert "network 200" in text and "bad_input 3" in text


def test_at_250_columns_the_dead_letter_ids_stay_bounded_and_the_sparkline_is_wide() -> None:
    state = many_dead_letters(exhausted=200, non_retryable=3)
    lines = dashboard(state, width=250, height=60)
    assert sum("email-" in line for line in lines) <= DLQ_ROWS_MAX
    busy = fold_events(steady_log(tasks=60, gap_s=0.1).events)  # six seconds of successes
    lines = dashboard(busy, width=250, height=60)
    spark = next(line for line in lines if "throughput" in line)
    assert sum(spark.count(block) for block in "▁▂▃▄▅▆▇█") >= 200


def test_the_failure_labels_say_what_they_count() -> None:
    """Failed attempts are a share of tries; dead tasks a share of finished tasks."""
    text = "\n".join(dashboard(fold_events(small_log().events), width=120, height=30))
    assert "tries failed" in text and "50.0%" in text  # 3 failed of 6 ended attempts
    assert "1 (25.0%)" in text  # 1 dead of 4 finished tasks


def test_queue_bars_scale_to_the_peak_of_the_run_so_far() -> None:
    """After a backlog of 40 drains to 1, the one waiting task is a sliver, not a full bar."""
    b = LogBuilder(workers=1)
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    for index in range(40):
        b.submit(0.0, f"email-{index:06d}")
    for index in range(39):
        b.start(1.0 + index, f"email-{index:06d}", "w01")
        b.succeed(1.5 + index, f"email-{index:06d}", "w01", run_s=0.5)
    state = fold_events(b.events)
    assert state.by_priority[2].queued == 1 and state.peak_queued == 40
    row = next(line for line in dashboard(state, width=80, height=24) if line.startswith("P2 "))
    assert row.count("█") <= 2


def test_a_replay_position_shows_time_of_total_with_a_bar() -> None:
    text = "\n".join(
        dashboard(mid_run(), width=80, height=24, footer_keys=KEYS, position=(2.5, 5.0))
    )
    assert "t 2.5 s of 5.0 s" in text and "░" in text and KEYS in text
    line = position_line((3.0, 12.0), width=60)
    assert line.plain.startswith("t 3.0 s of 12.0 s ") and "█" in line.plain


def test_speeds_print_as_multiples_and_fractions() -> None:
    assert [format_speed(s) for s in (1.0, 4.0, 0.5, 1 / 64, 0.3)] == [
        "×1",
        "×4",
        "×1/2",
        "×1/64",
        "×0.3",
    ]


def test_the_summary_and_the_expectation_lines_round_a_wait_alike() -> None:
    """P1 p95 of 2.55ms reads 2.55ms in both, never 3ms in one of them."""
    b = LogBuilder(workers=1)
    b.run_started()
    b.emit(0.0, "worker_started", worker="w01")
    b.submit(0.0, "email-000000")
    b.start(0.00255, "email-000000", "w01")
    state = fold_events(b.events)
    summary = "\n".join(summary_lines(state))
    table = "\n".join(rendered(render_summary(state), width=80, height=40))
    checks = format_checks(evaluate(Expect.model_validate({"wait_p95": {2: "10ms"}}), state))
    assert "2.55ms" in checks[0] and "p95 2.55ms" in summary and "2.55ms" in table


# -- helpers --------------------------------------------------------------------------------


def test_sparkline_scales_to_the_maximum_and_keeps_the_last_values() -> None:
    assert sparkline([0, 4, 8], 3) == "▁▅█"
    assert sparkline([8, 0, 0, 8], 2) == "▁█"
    assert sparkline([0, 0], 5) == "▁▁"
    assert sparkline([], 5) == ""


def test_bar_fills_in_proportion_with_eighths() -> None:
    assert bar(5, 10, 4) == "██  "
    assert bar(1, 16, 2) == "▏ "
    assert bar(3, 0, 3, track="░") == "░░░"


# -- summary and progress ---------------------------------------------------------------


def test_summary_lines_give_the_totals_and_waits() -> None:
    lines = summary_lines(fold_events(small_log().events))
    text = "\n".join(lines)
    assert "completed" in lines[0]
    for label, value in (("submitted", 4), ("succeeded", 3), ("retried", 2), ("pending", 0)):
        assert any(line.split() == [label, str(value)] for line in lines), label
    assert any(line.split() == ["dead-lettered", "1"] for line in lines)
    assert "wait P2" in text and "p95 500ms" in text


def test_render_summary_is_a_table_of_the_totals() -> None:
    text = "\n".join(rendered(render_summary(fold_events(small_log().events)), width=80, height=40))
    assert "completed" in text and "dead-lettered" in text and "P8" in text


def test_progress_line_is_one_line_with_the_counters() -> None:
    line = progress_line(mid_run())
    assert "\n" not in line
    assert line.startswith("t=2.50s done 1/4 ")
    assert "queued 1 running 2 succeeded 1 retrying 0 dlq 0" in line


# -- the live display ---------------------------------------------------------------------


def terminal(buffer: io.StringIO) -> Console:
    """A console that believes it is an 80x24 terminal."""
    return Console(file=buffer, force_terminal=True, width=80, height=24, color_system=None)


def test_make_display_picks_quiet_plain_or_live() -> None:
    pipe = Console(file=io.StringIO(), force_terminal=False)
    tty = terminal(io.StringIO())
    assert isinstance(make_display(console=tty, plain=False, quiet=True), QuietDisplay)
    assert isinstance(make_display(console=pipe, plain=False, quiet=False), PlainDisplay)
    assert isinstance(make_display(console=tty, plain=True, quiet=False), PlainDisplay)
    assert isinstance(make_display(console=tty, plain=False, quiet=False), LiveDisplay)


def test_on_events_only_queues_and_stop_folds_everything() -> None:
    display = make_display(console=terminal(io.StringIO()), plain=False, quiet=True)
    events = small_log().events
    display.on_events(events[:10])
    display.on_events(events[10:])
    assert display.state.seq == 0  # nothing folded on the engine's thread
    display.start()
    display.stop()
    assert display.state.totals() == small_log().totals


def test_the_live_display_draws_the_dashboard() -> None:
    buffer = io.StringIO()
    display = make_display(console=terminal(buffer), plain=False, quiet=False)
    display.start()
    display.on_events(small_log().events)
    display.stop()
    assert "email-000003" in buffer.getvalue()
    assert display.state.finished is not None


def test_a_failing_dashboard_disables_itself_and_keeps_folding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> RenderableType:
        raise RuntimeError("no room")

    monkeypatch.setattr(live, "render_dashboard", broken)
    buffer = io.StringIO()
    display = make_display(console=terminal(buffer), plain=False, quiet=False)
    display.start()
    display.on_events(small_log().events[:20])
    display.on_events(small_log().events[20:])
    display.stop()
    assert buffer.getvalue().count("display disabled") == 1
    assert "no room" in buffer.getvalue()
    assert display.state.totals() == small_log().totals


def test_the_plain_display_prints_progress_lines() -> None:
    buffer = io.StringIO()
    display = PlainDisplay(console=Console(file=buffer, width=200), every_s=0.01)
    display.start()
    display.on_events(small_log().events)
    deadline = time.monotonic() + 10.0
    while "done 4/4" not in buffer.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    display.stop()
    assert "done 4/4" in buffer.getvalue()
    assert "email-000003" not in buffer.getvalue()  # lines only, no dashboard


def test_a_reducer_failure_is_raised_by_stop_after_the_terminal_is_restored() -> None:
    buffer = io.StringIO()
    display = make_display(console=terminal(buffer), plain=False, quiet=False)
    display.start()
    display.on_events([{"seq": 1, "t": 0.0, "event": "task_started"}])  # fields missing
    with pytest.raises(MalformedEvent):
        display.stop()
    assert buffer.getvalue().endswith("\x1b[?25h")  # the cursor is shown again


def test_the_dependency_line_shows_slots_line_and_wasted_calls_at_80x24(tmp_path: Path) -> None:
    """During the metastable run's slowdown: 2 of 10 slots, a long line, abandoned calls."""
    from dtq.engine import runner
    from dtq.scenario import load_scenario
    from tests.helpers import SCENARIOS_DIR

    log = tmp_path / "metastable.jsonl"
    runner.run(load_scenario(SCENARIOS_DIR / "metastable.yaml"), log_path=log)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    state = fold_events(e for e in events if e["t"] < 12.0)
    console = Console(width=80, height=24, force_terminal=False, color_system=None)
    with console.capture() as captured:
        console.print(render_dashboard(state, width=80, height=24))
    screen = captured.get()
    assert "db  in flight 2/2  line " in screen
    assert "abandoned " in screen
    assert "fault #0 slowdown: db at 20% of its slots, latency x1" in screen


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 60)])
def test_the_throughput_line_says_how_much_of_the_goodput_came_first_time(
    width: int, height: int
) -> None:
    """After failures, the share of successes on the first attempt: 1 of 3 in the small log."""
    text = "\n".join(dashboard(fold_events(small_log().events), width=width, height=height))
    assert "(33% first time)" in text
    quiet = "\n".join(
        dashboard(fold_events(steady_log(tasks=8, gap_s=0.5).events), width=80, height=24)
    )
    assert "first time" not in quiet  # nothing failed: all of the goodput is first time


def test_the_dashboard_counts_duplicate_runs_as_the_report_does() -> None:
    """Four tasks ran twice after lost leases: the counters show `duplicates 4`."""
    lines = dashboard(fold_events(redelivered_log().events), width=80, height=24)
    at = next(index for index, line in enumerate(lines) if "duplicates" in line)
    assert lines[at + 1].split()[-1] == str(DUPLICATE_RUNS)
