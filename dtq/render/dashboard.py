"""Renders a `RunState` as the dashboard (rich), the final summary, and plain progress lines.

Nothing here computes a metric: every number comes from the reducer (`dtq.fold.state`). The
dashboard is planned for an exact terminal size: each section knows its height, and
sections shrink (borders go, rows are trimmed) or drop out so that 80x24 stays
readable and 200x60 shows everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dtq.durations import display_duration
from dtq.fold import metrics
from dtq.fold.overload import DependencyStats
from dtq.fold.state import BUSY, CRASHED, STOPPED, FaultInfo, RunState, WorkerRow

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
BAR_EIGHTHS = " ▏▎▍▌▋▊▉█"
WIDE_MIN_WIDTH = 120  # side-by-side panels from here on
FRAMED_MIN_HEIGHT = 36  # panels get borders from here on
DLQ_ROWS_MAX = 8
FAULT_LINES_MAX = 3
DEPENDENCY_LINES_MAX = 3
STATE_STYLES = {BUSY: "green", CRASHED: "bold red", STOPPED: "dim"}


@dataclass(frozen=True, slots=True)
class Section:
    """A renderable that takes exactly `height` lines."""

    renderable: RenderableType
    height: int


EMPTY = Section(Text(""), 0)


class Frame:
    """Renders a layout at a fixed width and height, whatever the console's size."""

    def __init__(self, layout: Layout, *, width: int, height: int) -> None:
        self.layout = layout
        self.width = width
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Render the layout at the frame's size (never wider than the console allows)."""
        width = min(self.width, options.max_width)
        yield from console.render(self.layout, options.update_dimensions(width, self.height))


# -- formatting helpers -----------------------------------------------------------------


def format_speed(speed: float) -> str:
    """A replay speed: `×4`, `×1`, `×1/8` (a fraction of a power of two as such)."""
    if speed >= 1:
        return f"×{speed:g}"
    inverse = 1 / speed
    if abs(inverse - round(inverse)) < 1e-9:
        return f"×1/{round(inverse)}"
    return f"×{speed:.3g}"


def format_rate(per_s: float) -> str:
    """A rate per second with sensible precision."""
    return f"{per_s:.1f}/s" if per_s < 100 else f"{per_s:.0f}/s"


def sparkline(values: Sequence[int], width: int) -> str:
    """The last `width` values as unicode blocks, scaled to their maximum."""
    shown = values[-width:] if width > 0 else []
    top = max(shown, default=0)
    if top <= 0:
        return SPARK_BLOCKS[0] * len(shown)
    last = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round(v / top * last)] for v in shown)


def bar(value: float, maximum: float, width: int, *, track: str = " ") -> str:
    """A horizontal bar of `width` cells filled in proportion, with eighth-cell precision."""
    if width <= 0:
        return ""
    share = min(max(value / maximum, 0.0), 1.0) if maximum > 0 else 0.0
    full, part = divmod(round(share * width * 8), 8)
    text = "█" * full + (BAR_EIGHTHS[part] if part else "")
    return text.ljust(width, track)


def stretch(values: Sequence[int], width: int) -> list[int]:
    """`values` with each one repeated as often as fits in `width` cells (at least once)."""
    if not values or len(values) >= width:
        return list(values)
    times = width // len(values)
    return [value for value in values for _ in range(times)]


def ranked(values: Iterable[str]) -> list[tuple[str, int]]:
    """How often each value occurs, most frequent first, ties by name."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# -- plain text ---------------------------------------------------------------------------


def progress_line(state: RunState) -> str:
    """One line for a non-TTY: t, done/expected, queued, running, succeeded, retrying, dlq, rate."""
    expected = state.meta.expected_tasks if state.meta is not None else 0
    done = f"done {state.finished_tasks}/{expected}" if expected else f"done {state.finished_tasks}"
    return (
        f"t={state.t:.2f}s {done} queued {state.queued} running {state.running} "
        f"succeeded {state.succeeded} retrying {state.retrying} dlq {state.dead_lettered} "
        f"rate {format_rate(metrics.shown_throughput_per_s(state))}"
    )


def summary_lines(state: RunState, *, waits: bool = True) -> list[str]:
    """The final summary as plain text lines: totals, status, throughput, and (`waits`)
    the wait per priority."""
    totals = state.totals()
    name = state.meta.scenario_name if state.meta is not None else "?"
    lines = [
        f"scenario {name}: {state.status} after {display_duration(state.elapsed_s)}",
        *(f"  {label:<14}{totals[key]}" for label, key in _SUMMARY_TOTALS),
        f"  {'throughput':<14}{format_rate(metrics.throughput_per_s(state))}",
    ]
    if state.duplicates:
        lines.append(f"  {'duplicates':<14}{state.duplicates}")
    for priority in state.priorities() if waits else ():
        stats = state.wait_stats(priority)
        if stats.count:
            label = f"wait P{priority}"
            lines.append(
                f"  {label:<14}p50 {display_duration(stats.p50)}  p95 {display_duration(stats.p95)}"
                f"  (n={stats.count})"
            )
    return lines


_SUMMARY_TOTALS = (
    ("submitted", "submitted"),
    ("succeeded", "succeeded"),
    ("retried", "retried"),
    ("dead-lettered", "dead_lettered"),
    ("pending", "pending"),
)


def render_summary(state: RunState) -> RenderableType:
    """The final summary as rich tables: totals and status, then wait p50/p95 per priority."""
    totals = state.totals()
    table = Table(title="Run summary", box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("status", state.status)
    for label, key in _SUMMARY_TOTALS:
        table.add_row(label, str(totals[key]))
    table.add_row("throughput", format_rate(metrics.throughput_per_s(state)))
    if state.duplicates:
        table.add_row("duplicate runs", str(state.duplicates))
    waits = Table(title="Queue wait per priority", box=box.SIMPLE_HEAD)
    for header in ("priority", "attempts", "p50", "p95"):
        waits.add_column(header, justify="left" if header == "priority" else "right")
    for priority in state.priorities():
        stats = state.wait_stats(priority)
        waits.add_row(
            f"P{priority}", str(stats.count), *_stat_cells(stats.count, stats.p50, stats.p95)
        )
    return Group(table, waits)


def _stat_cells(count: int, *values: float) -> list[str]:
    return [display_duration(v) if count else "-" for v in values]


# -- dashboard sections ----------------------------------------------------------------


def _header(state: RunState, *, width: int, paused: bool, speed: float | None) -> Section:
    meta = state.meta
    # Most important first: a narrow terminal cuts the details at the end of the line.
    title = Text(no_wrap=True, overflow="ellipsis")
    title.append("dtq ", style="bold")
    title.append(meta.scenario_name if meta else "(waiting for run_started)", style="bold cyan")
    title.append(f"  t {state.t:.2f}s  ", style="bold")
    title.append("PAUSED" if paused else state.status.upper(), style="bold yellow")
    if speed is not None:
        title.append(f" {format_speed(speed)}")
    if meta is not None:
        title.append(f"  │ seed {meta.seed} · {meta.clock} clock", style="dim")
        if meta.clock == "real":
            title.append(f" ×{meta.time_scale:g}", style="dim")
        title.append(f" · {meta.policy} · {meta.workers} workers · {meta.backend}", style="dim")
    return Section(Group(title, _progress(state, width)), 2)


def _progress(state: RunState, width: int) -> Text:
    expected = state.meta.expected_tasks if state.meta is not None else 0
    done = state.finished_tasks
    if not expected:
        return Text(f"finished {done} tasks (expected count unknown)")
    share = min(done / expected, 1.0)
    label = f" {done}/{expected} {share * 100:5.1f}%"
    text = Text(bar(done, expected, max(width - len(label) - 1, 10), track="░"), style="green")
    text.append(label)
    return text


def _counters(state: RunState) -> Section:
    table = Table.grid(expand=True)
    cells: tuple[tuple[str, str, str], ...] = (
        ("submitted", str(state.submitted), "bold"),
        ("queued", str(state.queued), "bold cyan"),
        ("running", str(state.running), "bold green"),
        ("succeeded", str(state.succeeded), "bold green"),
        ("retrying", str(state.retrying), "bold yellow"),
        ("dead", f"{state.dead_lettered} ({metrics.dead_percent(state):.1f}%)", "bold red"),
        ("tries failed", f"{metrics.failure_percent(state):.1f}%", "bold red"),
    )
    if state.duplicates:  # only after lost leases (Redis): the same count as the report's
        cells += (("duplicates", str(state.duplicates), "bold yellow"),)
    for _ in cells:
        table.add_column(justify="center")
    table.add_row(*(Text(label, style="dim") for label, _, _ in cells))
    table.add_row(*(Text(value, style=style) for _, value, style in cells))
    return Section(table, 2)


def _framed(title: str, body: RenderableType, rows: int, *, framed: bool) -> Section:
    """A titled block: a panel (border) when there is room, else a bold title line."""
    if framed:
        return Section(Panel(body, title=title, title_align="left", box=box.ROUNDED), rows + 2)
    return Section(Group(Text(title, style="bold"), body), rows + 1)


def _table(*headers: str) -> Table:
    table = Table(
        box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, header_style="bold dim"
    )
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    return table


def _priorities(state: RunState, *, width: int, framed: bool) -> Section:
    priorities = state.priorities()
    # Bars scale to the deepest queue of the run so far: one waiting task is a sliver.
    deepest = max(
        (state.by_priority[p].queued for p in priorities if p in state.by_priority),
        default=0,
    )
    deepest = max(deepest, state.peak_queued)
    bar_width = max(width - (53 if framed else 49), 4)  # what the other columns leave
    table = _table("P", "queued", "", "retry", "p50", "p95", "p99", "max")
    table.columns[2].justify = "left"
    for priority in priorities:
        counts = state.by_priority.get(priority)
        queued = counts.queued if counts is not None else 0
        retrying = counts.retrying if counts is not None else 0
        stats = state.wait_stats(priority)
        table.add_row(
            f"P{priority}",
            str(queued),
            Text(bar(queued, deepest, bar_width), style="cyan"),
            str(retrying),
            *_stat_cells(stats.count, stats.p50, stats.p95, stats.p99, stats.max),
        )
    return _framed("Queue depth and wait per priority", table, len(priorities) + 1, framed=framed)


def _worker_cells(state: RunState, row: WorkerRow) -> list[str | Text]:
    on_it = display_duration(max(state.t - row.since_t, 0.0)) if row.task_id else ""
    return [
        row.name,
        Text(row.state, style=STATE_STYLES.get(row.state, "")),
        row.task_id or "-",
        f"P{row.priority}" if row.priority is not None else "",
        str(row.attempt) if row.attempt is not None else "",
        on_it,
        str(row.done),
        str(row.failures),
    ]


def _workers(state: RunState, *, rows: int, framed: bool) -> Section:
    table = _table("worker", "state", "task", "P", "try", "on it", "done", "fail")
    table.columns[1].justify = table.columns[2].justify = "left"
    workers = sorted(state.workers.values(), key=lambda w: w.name)
    shown = workers if len(workers) <= rows else workers[: max(rows - 1, 0)]
    for row in shown:
        table.add_row(*_worker_cells(state, row))
    if len(shown) < len(workers):
        table.caption = f"... {len(workers) - len(shown)} more"
        table.caption_justify = "left"
    busy = state.running
    title = f"Workers ({busy} busy of {len(workers)})"
    return _framed(title, table, min(len(workers), rows) + 1, framed=framed)


def _dlq(state: RunState, *, rows: int, framed: bool) -> Section:
    """Dead letters: counts by reason and by last error always; the latest ids if `rows`."""
    title = f"Dead letters ({len(state.dlq)})"
    if not state.dlq:
        if framed:
            return _framed(title, Text("none yet", style="dim"), 1, framed=True)
        return Section(Text("Dead letters: none yet", style="bold"), 1)
    entries = state.dlq.values()
    # Unframed, the title shares its line with the reasons: every line counts there.
    reasons = _counts_line(
        "by reason: " if framed else "",
        ranked(e.reason for e in entries),
        title=not framed and title,
    )
    errors = _counts_line("by last error: ", ranked(e.last_error for e in entries))
    parts: list[RenderableType] = [reasons, errors]
    latest = list(islice(reversed(entries), max(rows, 0)))
    if latest:
        table = _table("latest", "reason", "last error", "tries")
        table.columns[1].justify = table.columns[2].justify = "left"
        for entry in latest:
            table.add_row(entry.task_id, entry.reason, entry.last_error, str(entry.attempts))
        parts.append(table)
    body = Group(*parts)
    height = dlq_height(state, rows=rows, framed=framed)
    if framed:
        return Section(Panel(body, title=title, title_align="left", box=box.ROUNDED), height)
    return Section(body, height)


def _counts_line(label: str, counts: list[tuple[str, int]], *, title: str | bool = False) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if title:
        text.append(f"{title}: ", style="bold")
    text.append(label, style="dim")
    for index, (name, count) in enumerate(counts):
        if index:
            text.append(" · ", style="dim")
        text.append(f"{name} ")
        text.append(str(count), style="bold red")
    return text


def dlq_height(state: RunState, *, rows: int, framed: bool) -> int:
    """The lines `_dlq` takes with `rows` ids (borders included)."""
    border = 2 if framed else 0
    if not state.dlq:
        return border + 1
    shown = min(rows, len(state.dlq))
    return border + 2 + (shown + 1 if shown > 0 else 0)


def _throughput(state: RunState, *, width: int, framed: bool) -> Section:
    label = f"throughput {format_rate(metrics.shown_throughput_per_s(state))} "
    share = metrics.shown_first_time_share(state)
    if share is not None and any(c.failed for c in state.by_priority.values()):
        label += f"({share:.0%} first time) "  # the rest of the goodput needed retries
    history = state.throughput_history()
    if state.finished is None:
        history = history[:-1]  # the current second is still filling up
    chrome = 4 if framed else 0
    cells = max(width - len(label) - chrome, 0)
    line = Text(label, style="bold")
    # A short run's few seconds are drawn wide, so the line uses the width it is given.
    line.append(sparkline(stretch(history[-cells:] if cells else [], cells), cells), style="green")
    if framed:
        return Section(Panel(line, box=box.ROUNDED, padding=(0, 1)), 3)
    return Section(line, 1)


def describe_fault(fault: FaultInfo) -> str:
    """One line about an active fault: kind, what it breaks, since when."""
    if fault.kind == "slowdown":
        capacity = f"{fault.capacity:.0%}" if fault.capacity is not None else "?"
        latency = f"x{fault.latency:g}" if fault.latency is not None else "x?"
        what = f"{fault.dependency} at {capacity} of its slots, latency {latency}"
    elif fault.kind == "outage" and fault.dependency is not None:
        rate = f"{fault.rate * 100:.0f}%" if fault.rate is not None else "?"
        what = f"{fault.dependency} down: {fault.error} on {rate} of calls"
    elif fault.kind == "outage":
        scope = ", ".join(fault.tasks) if fault.tasks else "all tasks"
        rate = f"{fault.rate * 100:.0f}%" if fault.rate is not None else "?"
        what = f"{fault.error} errors on {rate} of {scope}"
    elif fault.kind == "worker_crash":
        restart = (
            display_duration(fault.restart_after) if fault.restart_after is not None else "never"
        )
        what = f"{fault.workers} worker(s) down, restart after {restart}"
    else:
        what = fault.kind
    return f"fault #{fault.index} {fault.kind}: {what} (since t {fault.started_t:.2f}s)"


def dependency_line(state: RunState, stats: DependencyStats) -> Text:
    """`db  in flight 10/10  line 245  abandoned 12  overloaded 3`: one dependency now."""
    slots = metrics.dependency_slots(state, stats.name)
    limit = f"/{slots}" if slots is not None else ""
    line = Text(f"{stats.name}  ", style="bold")
    full = slots is not None and stats.in_flight >= slots
    line.append(f"in flight {stats.in_flight}{limit}", style="bold red" if full else "")
    line.append(f"  line {stats.line}", style="bold yellow" if stats.line else "")
    for name, count in (*stats.outcomes.items(), *stats.rejected.items()):
        if name != "ok":
            line.append(f"  {name} {count}", style="red")
    return line


def _dependencies(state: RunState) -> Section:
    """One line per dependency the tasks call (at most a few), always shown."""
    deps = list(state.dependencies.by_name.values())[:DEPENDENCY_LINES_MAX]
    return Section(Group(*(dependency_line(state, stats) for stats in deps)), len(deps))


def _faults(state: RunState) -> Section:
    faults = list(state.active_faults.values())
    lines = [Text(describe_fault(f), style="bold red") for f in faults[:FAULT_LINES_MAX]]
    if len(faults) > FAULT_LINES_MAX:
        lines[-1] = Text(f"... {len(faults) - FAULT_LINES_MAX + 1} more faults", style="red")
    return Section(Group(*lines), len(lines))


def _footer(
    state: RunState, footer_keys: str | None, position: Position | None, *, width: int
) -> Section:
    """`event N` and the keys; with a position (replay), its own line above the keys."""
    event = f"event {state.seq}"
    keys = Text(footer_keys or "", style="bold", no_wrap=True, overflow="ellipsis")
    if position is None:
        text = Text(event, style="dim", no_wrap=True, overflow="ellipsis")
        if footer_keys:
            text.append("   ")
            text.append_text(keys)
        return Section(text, 1)
    line = position_line(position, width=width, suffix=f"  {event}")
    if not footer_keys:
        return Section(line, 1)
    return Section(Group(line, keys), 2)


Position = tuple[float, float | None]
"""Where a replay stands: (event time now, event time of the log's end if known)."""


def position_line(position: Position, *, width: int, suffix: str = "") -> Text:
    """`t 3.0 s of 12.0 s` and a bar of the way through the log."""
    t, end_t = position
    label = f"t {t:.1f} s of {end_t:.1f} s " if end_t is not None else f"t {t:.1f} s "
    text = Text(label, style="bold", no_wrap=True, overflow="ellipsis")
    room = width - len(label) - len(suffix)
    if end_t is not None and room >= 4:
        text.append(bar(t, end_t, room, track="░"), style="cyan")
    text.append(suffix, style="dim")
    return text


# -- planning ---------------------------------------------------------------------------


def _column(sections: Iterable[Section]) -> Layout:
    layout = Layout()
    layout.split_column(*(Layout(s.renderable, size=s.height) for s in sections if s.height > 0))
    return layout


def render_dashboard(
    state: RunState,
    *,
    width: int,
    height: int,
    paused: bool = False,
    speed: float | None = None,
    footer_keys: str | None = None,
    position: Position | None = None,
) -> RenderableType:
    """The live dashboard of `state`, laid out to fill exactly `width` x `height` cells."""
    framed = height >= FRAMED_MIN_HEIGHT
    top = [_header(state, width=width, paused=paused, speed=speed), _counters(state)]
    bottom = [
        _dependencies(state),
        _faults(state),
        _footer(state, footer_keys, position, width=width),
    ]
    spark = _throughput(state, width=width, framed=framed)
    room = height - sum(s.height for s in (*top, *bottom))
    if room >= spark.height + 4:
        top.append(spark)
        room -= spark.height
    body = _body(state, width=width, height=room, framed=framed)
    root = Layout()
    root.split_column(
        *(Layout(s.renderable, size=s.height) for s in top if s.height > 0),
        Layout(body.renderable, ratio=1),  # takes the lines the fixed sections leave
        *(Layout(s.renderable, size=s.height) for s in bottom if s.height > 0),
    )
    return Frame(root, width=width, height=height)


def _body(state: RunState, *, width: int, height: int, framed: bool) -> Section:
    """Queues, workers and dead letters in `height` lines: side by side if wide, else stacked."""
    if height < 3:
        return EMPTY
    if width >= WIDE_MIN_WIDTH:
        return _side_by_side(state, width=width, height=height, framed=framed)
    return _stacked(state, width=width, height=height, framed=framed)


def _side_by_side(state: RunState, *, width: int, height: int, framed: bool) -> Section:
    """Queues over dead letters on the left, workers on the right."""
    chrome = 3 if framed else 2  # border or title, plus the table header
    left_width = width // 2
    prio = _priorities(state, width=left_width, framed=framed)
    left = [prio]
    room = height - prio.height
    rows = DLQ_ROWS_MAX
    while rows > 0 and dlq_height(state, rows=rows, framed=framed) > room:
        rows -= 1
    if dlq_height(state, rows=rows, framed=framed) <= room:
        left.append(_dlq(state, rows=rows, framed=framed))
    workers = _workers(state, rows=height - chrome, framed=framed)
    row = Layout()
    row.split_row(Layout(_column(left), size=left_width), Layout(_column([workers])))
    return Section(row, height)


def _stacked(state: RunState, *, width: int, height: int, framed: bool) -> Section:
    """Queues, workers, then dead letters: their counts always, ids with the lines left;
    workers keep at least one row."""
    chrome = 3 if framed else 2
    dlq_counts = dlq_height(state, rows=0, framed=framed)
    prio = _priorities(state, width=width, framed=framed)
    if prio.height > height - dlq_counts - chrome - 1:
        prio = EMPTY
    room = height - prio.height - dlq_counts
    worker_rows = max(min(len(state.workers), room - chrome), 1)
    left = room - worker_rows - chrome
    id_rows = min(len(state.dlq), DLQ_ROWS_MAX if framed else 3, max(left - 1, 0))
    dlq = _dlq(state, rows=id_rows, framed=framed)
    if dlq.height > height - prio.height - worker_rows - chrome:
        dlq = EMPTY  # not even the counts fit: the terminal is tiny
    workers = _workers(state, rows=worker_rows, framed=framed)
    return Section(_column([prio, workers, dlq]), prio.height + workers.height + dlq.height)
