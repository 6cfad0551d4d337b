"""Replays a saved event log as the live dashboard, paced by the events' own time.

The log is streamed, never loaded whole, and folded through the one reducer. Pacing sleeps
each gap between events divided by the speed, capped at the idle limit so a quiet stretch
of the run does not freeze the screen. On a terminal, keys steer the replay (space, `+`,
`-`, `.`, arrows, `g`, `G`, `q`); the terminal is put in cbreak mode for that and always
restored. Seeking forward folds on without pacing; seeking back folds the log again from
its start (the reducer only goes forward), which keeps memory to one state whatever the
log's length. At the end a terminal keeps the last frame, with the summary, until `q`.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import orjson
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from dtq.errors import MalformedEvent, UsageError
from dtq.events import Event
from dtq.fold.state import RunState
from dtq.log.reader import LogReader, fold_log
from dtq.render.dashboard import format_speed, progress_line, render_dashboard, summary_lines
from dtq.render.keys import LEFT, RIGHT, Keys, NoKeys, TerminalKeys, split_keys, terminal_fd
from dtq.render.live import draw

Clock = Callable[[], float]

KEYS_HELP = "space pause · ←/→ 5s · g/G start/end · +/- speed · . step · q quit"
END_HELP = "end of the log · ← or g goes back · q quits"
PLAIN_INTERVAL_S = 2.0
SEEK_STEP_S = 5.0
SPEED_MIN = 1 / 64
SPEED_MAX = 1024.0
DASHBOARD_MIN_LINES = 16
_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What `dtq replay` was asked to do."""

    path: Path
    speed: float = 1.0
    idle_limit_s: float = 2.0
    start_at: float | None = None
    until: float | None = None
    final: bool = False
    plain: bool = False
    refresh_per_second: float = 4.0

    def check(self) -> None:
        """Raise `UsageError` for values that cannot work."""
        if not SPEED_MIN <= self.speed <= SPEED_MAX:
            raise UsageError(
                f"--speed: must be between {format_speed(SPEED_MIN)[1:]} and "
                f"{SPEED_MAX:g} (got {self.speed:g})"
            )
        if not self.idle_limit_s >= 0:
            raise UsageError(f"--idle-limit: must be 0 or more seconds (got {self.idle_limit_s:g})")
        if not self.refresh_per_second > 0:
            raise UsageError(f"--refresh: must be above 0 (got {self.refresh_per_second:g})")
        if self.start_at is not None and self.until is not None and self.until < self.start_at:
            raise UsageError(
                f"--until {self.until:g}s is before --start-at {self.start_at:g}s; "
                "give an --until at or after --start-at"
            )


# -- pacing ------------------------------------------------------------------------------


class Pacer:
    """Maps event time to wall time: gaps divided by speed, each capped at the idle limit."""

    def __init__(self, *, speed: float, idle_limit_s: float, clock: Clock) -> None:
        self.speed = speed
        self.idle_limit_s = idle_limit_s
        self.clock = clock
        self.paused = False
        self.due = clock()
        self._last_t: float | None = None
        self._paused_at = 0.0

    def begin(self, t: float) -> None:
        """Start pacing from event time `t`, now."""
        self._last_t = t
        self.due = self.clock()
        if self.paused:
            self._paused_at = self.due

    def schedule(self, t: float) -> float:
        """Set and return the wall time at which an event at `t` is due."""
        last = t if self._last_t is None else self._last_t
        gap_s = min(max(t - last, 0.0) / self.speed, self.idle_limit_s)
        self.due += gap_s
        self._last_t = max(t, last)  # a step back in time is not paid for twice
        return self.due

    def toggle_pause(self) -> None:
        """Pause, or resume where the replay stood (the paused time is not owed)."""
        now = self.clock()
        if self.paused:
            self.due += now - self._paused_at
        else:
            self._paused_at = now
        self.paused = not self.paused

    def stepped(self) -> None:
        """An event was shown by a step while paused: it counts as due now."""
        now = self.clock()
        self.due = now
        self._paused_at = now

    def set_speed(self, speed: float) -> None:
        """Change the speed (kept within its bounds); the wait under way scales with it."""
        speed = min(max(speed, SPEED_MIN), SPEED_MAX)
        now = self._paused_at if self.paused else self.clock()
        if self.due > now:
            self.due = now + (self.due - now) * self.speed / speed
        self.speed = speed


# -- views -------------------------------------------------------------------------------


class View(Protocol):
    """Where replay frames go."""

    interval_s: float

    def show(self, state: RunState, *, paused: bool, speed: float, at_end: bool = False) -> None:
        """Show the state now (`at_end`: the log is over, the replay waits for `q`)."""

    def close(self, state: RunState, *, speed: float) -> None:
        """Show the last frame and the summary, and release the screen."""


class LiveView:
    """The dashboard on a terminal, redrawn in place; the last frame carries the summary."""

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float,
        keys_help: str | None,
        end_t: float | None = None,
    ) -> None:
        self.console = console
        self.interval_s = 1.0 / refresh_per_second
        self.keys_help = keys_help
        self.end_t = end_t
        self._live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def show(self, state: RunState, *, paused: bool, speed: float, at_end: bool = False) -> None:
        """Redraw the dashboard at the console's current size."""
        if at_end:
            frame = self._frame(state, speed=speed, footer=END_HELP, summary=True)
        else:
            frame = self._frame(state, speed=speed, footer=self.keys_help, paused=paused)
        draw(self._live, frame)

    def close(self, state: RunState, *, speed: float) -> None:
        """Draw the final frame with the summary and no keys (it stays on screen)."""
        draw(self._live, self._frame(state, speed=speed, footer=None, summary=True))

    def _frame(
        self,
        state: RunState,
        *,
        speed: float,
        footer: str | None,
        paused: bool = False,
        summary: bool = False,
    ) -> RenderableType:
        width, height = self.console.size
        # The dashboard's table already shows the waits: the end frame adds the totals,
        # as many of their lines as leave the dashboard room to stay readable.
        room = max(height - 1 - DASHBOARD_MIN_LINES, 0)
        lines = summary_lines(state, waits=False)[:room] if summary else []
        dashboard = render_dashboard(
            state,
            width=width,
            height=max(height - 1 - len(lines), 1),
            paused=paused,
            speed=speed,
            footer_keys=footer,
            position=(state.t, self.end_t) if self.end_t is not None else None,
        )
        if not lines:
            return dashboard
        return Group(dashboard, Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))


class PlainView:
    """Progress lines every two seconds, then the summary."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.interval_s = PLAIN_INTERVAL_S

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def show(self, state: RunState, *, paused: bool, speed: float, at_end: bool = False) -> None:
        """Print one progress line."""
        self.console.print(progress_line(state), highlight=False, soft_wrap=True)

    def close(self, state: RunState, *, speed: float) -> None:
        """Print the last progress line and the summary."""
        self.show(state, paused=False, speed=speed)
        for line in summary_lines(state):
            self.console.print(line, highlight=False, soft_wrap=True)


# -- the replay --------------------------------------------------------------------------


class QuitRequested(Exception):
    """The user pressed `q`."""


class Seek(Exception):
    """The user asked to move to event time `t`."""

    def __init__(self, t: float) -> None:
        super().__init__(t)
        self.t = t


class Cursor:
    """The log's events from the start, one peeked ahead; `restart` reads them again."""

    def __init__(self, open_events: Callable[[], Iterable[Event]]) -> None:
        self._open = open_events
        self._events: Iterator[Event] = iter(())
        self.next: Event | None = None
        self.restart()

    def restart(self) -> None:
        """Back to the first event."""
        self._events = iter(self._open())
        self.advance()

    def advance(self) -> None:
        """Move on to the following event (None past the last)."""
        self.next = next(self._events, None)


class Replayer:
    """Feeds events to the reducer at the pace of their time, steered by keys."""

    def __init__(
        self,
        options: ReplayOptions,
        *,
        view: View,
        keys: Keys,
        clock: Clock = time.monotonic,
    ) -> None:
        self.options = options
        self.view = view
        self.keys = keys
        self.clock = clock
        self.pacer = Pacer(speed=options.speed, idle_limit_s=options.idle_limit_s, clock=clock)
        self.state = RunState()
        self._next_frame = 0.0
        self._step = False
        self._cursor = Cursor(tuple)

    def run(self, events: Iterable[Event] | Callable[[], Iterable[Event]]) -> RunState:
        """Replay every event (up to `--until`); return the state shown last.

        `events` is the events, or a function that reads them from the start each time it
        is called (needed to seek back; a plain iterable is read into memory for that)."""
        if not callable(events):
            events = _rereadable(events)
        self._cursor = Cursor(events)
        first = self._cursor.next
        self.pacer.begin(first["t"] if first is not None else 0.0)
        with contextlib.suppress(QuitRequested):  # q ends the replay as the log's end does
            target: float | None = self.options.start_at
            while True:
                try:
                    if target is not None:
                        self._seek(target)
                        target = None
                    self._play()
                    self._stay_at_end()
                    break
                except Seek as seek:
                    target = seek.t
        self.view.close(self.state, speed=self.pacer.speed)
        return self.state

    @property
    def first_t(self) -> float:
        """Where `g` goes: --start-at, else the start of the log."""
        return self.options.start_at or 0.0

    def _play(self) -> None:
        """Pace the events from the cursor on, until the last one (or --until)."""
        cursor = self._cursor
        while (event := cursor.next) is not None and not self._past_until(event["t"]):
            self.pacer.schedule(event["t"])
            self._wait()
            self.state.apply(event)
            cursor.advance()
            if self._step or self.clock() >= self._next_frame:
                self._step = False
                self._frame()
                self._handle(self.keys.wait(0.0))

    def _past_until(self, t: float) -> bool:
        return self.options.until is not None and t > self.options.until

    def _stay_at_end(self) -> None:
        """On a terminal, keep the last frame until `q` (or a key that seeks back)."""
        if not self.keys.interactive:
            return
        self.view.show(self.state, paused=False, speed=self.pacer.speed, at_end=True)
        while True:
            self._handle(self.keys.wait(self.view.interval_s), at_end=True)

    def _seek(self, target: float) -> None:
        """Fold up to event time `target` at once (from the start again if it is behind)."""
        cursor = self._cursor
        if target < self.state.t:
            self.state = RunState()
            cursor.restart()
        while (event := cursor.next) is not None and event["t"] <= target:
            if self._past_until(event["t"]):
                break
            self.state.apply(event)
            cursor.advance()
        self.pacer.begin(target)
        self._frame()

    def _wait(self) -> None:
        """Wait until the pending event is due, a step is asked for, or the user quits."""
        pacer = self.pacer
        while True:
            if pacer.paused:
                if self._step:
                    pacer.stepped()
                    return
                self._handle(self.keys.wait(self.view.interval_s))
                continue
            now = self.clock()
            if now >= pacer.due:
                return
            if now >= self._next_frame:
                self._frame()
            self._handle(self.keys.wait(min(pacer.due, self._next_frame) - now))

    def _frame(self) -> None:
        self.view.show(self.state, paused=self.pacer.paused, speed=self.pacer.speed)
        self._next_frame = self.clock() + self.view.interval_s

    def _handle(self, keys: str, *, at_end: bool = False) -> None:
        for key in split_keys(keys):
            if key in "qQ":
                raise QuitRequested
            seek = self._seek_target(key)
            if seek is not None and not (at_end and seek >= self.state.t):
                raise Seek(seek)
            if at_end:
                continue
            if key == " ":
                self.pacer.toggle_pause()
            elif key in "+=":
                self.pacer.set_speed(self.pacer.speed * 2)
            elif key in "-_":
                self.pacer.set_speed(self.pacer.speed / 2)
            elif key == "." and self.pacer.paused:
                self._step = True
            else:
                continue
            self._frame()  # show the new pause state or speed at once

    def _seek_target(self, key: str) -> float | None:
        """The event time a key moves to, or None for a key that does not seek."""
        t = self.state.t
        last = self.options.until if self.options.until is not None else float("inf")
        target = {
            LEFT: t - SEEK_STEP_S,
            RIGHT: t + SEEK_STEP_S,
            "g": self.first_t,
            "G": last,
        }.get(key)
        if target is None:
            return None
        return min(max(target, 0.0), last)


def last_event_t(path: Path) -> float | None:
    """The time of the log's last readable event, read from its tail (None if none is)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(size - _TAIL_BYTES, 0))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        t = event.get("t") if isinstance(event, dict) else None
        if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t):
            return float(t)
    return None


def _rereadable(events: Iterable[Event]) -> Callable[[], Iterable[Event]]:
    """Events that can be read again from the start (kept in memory once read)."""
    kept = list(events)
    return lambda: kept


# -- entry points ------------------------------------------------------------------------


def print_final(state: RunState, *, console: Console, plain: bool) -> None:
    """Print the last frame at once: the summary lines (plain) or the dashboard."""
    if plain:
        for line in summary_lines(state):
            console.print(line, highlight=False, soft_wrap=True)
        return
    width, height = console.size
    console.print(render_dashboard(state, width=width, height=max(height - 1, 1)))


class LogSource:
    """Reads a log from its start each time it is called; `reader` is the latest read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader = LogReader(path)
        self._opened = False

    def __call__(self) -> Iterator[Event]:
        """The log's events from the first (a new reader each time after the first)."""
        if self._opened:
            self.reader = LogReader(self.path)
        self._opened = True
        return (event for _, event in self.reader.iter_events())

    def fold(self, until: float | None) -> RunState:
        """The log up to `until` (all of it when None) folded in one pass, a block at a time;
        `reader` is the one that read it."""
        state, self.reader = fold_log(self.path, until_t=until)
        self._opened = True
        # As the paced replay does, the last frame shows the log as far as it is written:
        # without run_finished it may be the log of a run still going.
        state.log_ended = False
        return state


def replay(
    options: ReplayOptions,
    *,
    console: Console,
    stdin: IO[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunState:
    """Replay a log as `options` say; warnings (a cut last line) go to `warn` at the end."""
    options.check()
    source = LogSource(options.path)
    plain = options.plain or not console.is_terminal
    if options.final:
        state = source.fold(options.until)
        print_final(state, console=console, plain=plain)
    else:
        events = source()  # opened now: a missing file fails before the screen is taken
        try:
            state = _paced(options, source, events, console=console, plain=plain, stdin=stdin)
        except MalformedEvent as exc:
            raise source.reader.located(exc) from None
    for message in source.reader.warnings:
        (warn or _warn_stderr)(message)
    return state


def _paced(
    options: ReplayOptions,
    source: LogSource,
    first: Iterator[Event],
    *,
    console: Console,
    plain: bool,
    stdin: IO[str] | None,
) -> RunState:
    fd = None if plain else terminal_fd(stdin)
    keys: TerminalKeys | NoKeys = TerminalKeys(fd) if fd is not None else NoKeys()
    view: LiveView | PlainView
    if plain:
        view = PlainView(console)
    else:
        end_t = last_event_t(options.path)
        if end_t is not None and options.until is not None:
            end_t = min(end_t, options.until)
        help_text = KEYS_HELP if fd is not None else None
        view = LiveView(
            console,
            refresh_per_second=options.refresh_per_second,
            keys_help=help_text,
            end_t=end_t,
        )
    reads = iter([first])  # the events already opened serve the first read
    # Exit order matters: stop drawing first, then give the terminal its settings back.
    with keys, view:
        return Replayer(options, view=view, keys=keys).run(lambda: next(reads, None) or source())


def _warn_stderr(message: str) -> None:
    print(f"dtq: warning: {message}", file=sys.stderr)
