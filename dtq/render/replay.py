"""Replays a saved event log as the live dashboard, paced by the events' own time.

The log is streamed, never loaded whole, and folded through the one reducer. Pacing sleeps
each gap between events divided by the speed, capped at the idle limit so a quiet stretch
of the run does not freeze the screen. On a terminal, keys steer the replay (space, `+`,
`-`, `.`, `q`); the terminal is put in cbreak mode for that and always restored.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from rich.console import Console
from rich.live import Live

from dtq.errors import MalformedEvent, UsageError
from dtq.events import Event
from dtq.fold.state import RunState
from dtq.log.reader import LogReader
from dtq.render.dashboard import progress_line, render_dashboard, summary_lines

Clock = Callable[[], float]

KEYS_HELP = "space pause · +/- speed · . step · q quit"
PLAIN_INTERVAL_S = 2.0
SPEED_MIN = 1 / 1024
SPEED_MAX = 1024 * 1024


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
        if not self.speed > 0:
            raise UsageError(f"--speed: must be above 0 (got {self.speed:g})")
        if not self.idle_limit_s >= 0:
            raise UsageError(f"--idle-limit: must be 0 or more seconds (got {self.idle_limit_s:g})")
        if not self.refresh_per_second > 0:
            raise UsageError(f"--refresh: must be above 0 (got {self.refresh_per_second:g})")
        if self.start_at is not None and self.until is not None and self.until < self.start_at:
            raise UsageError(
                f"--until {self.until:g} is before --start-at {self.start_at:g}; "
                "give an --until at or after --start-at"
            )


# -- keys --------------------------------------------------------------------------------


class Keys(Protocol):
    """A source of key presses that also serves as the replay's sleep."""

    def wait(self, timeout_s: float) -> str:
        """Wait up to `timeout_s` for keys; return those pressed ("" if none)."""


class NoKeys:
    """No keyboard (not a terminal): waiting is plain sleeping."""

    def __enter__(self) -> NoKeys:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def wait(self, timeout_s: float) -> str:
        """Sleep `timeout_s` and report no key."""
        if timeout_s > 0:
            time.sleep(timeout_s)
        return ""


class TerminalKeys:
    """Reads single key presses from a terminal in cbreak mode; restores it on exit."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> TerminalKeys:
        self._saved = termios.tcgetattr(self.fd)
        # TCSANOW keeps keys typed before the replay started (TCSAFLUSH would drop them).
        tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def wait(self, timeout_s: float) -> str:
        """Wait up to `timeout_s` for keys; return those pressed ("" if none)."""
        readable, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
        if not readable:
            return ""
        data = os.read(self.fd, 64)
        return data.decode("utf-8", errors="ignore")


def terminal_fd(stream: IO[str] | None) -> int | None:
    """The file descriptor of `stream` if it is a terminal, else None."""
    try:
        if stream is not None and stream.isatty():
            return stream.fileno()
    except (AttributeError, OSError, ValueError):
        pass
    return None


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
        """Change the speed; the wait already under way shrinks or grows with it."""
        speed = min(max(speed, SPEED_MIN), SPEED_MAX)
        now = self._paused_at if self.paused else self.clock()
        if self.due > now:
            self.due = now + (self.due - now) * self.speed / speed
        self.speed = speed


# -- views -------------------------------------------------------------------------------


class View(Protocol):
    """Where replay frames go."""

    interval_s: float

    def show(self, state: RunState, *, paused: bool, speed: float) -> None:
        """Show the state now."""

    def close(self, state: RunState, *, speed: float) -> None:
        """Show the last frame and release the screen."""


class LiveView:
    """The dashboard on a terminal, redrawn in place."""

    def __init__(self, console: Console, *, refresh_per_second: float, keys_help: str | None):
        self.console = console
        self.interval_s = 1.0 / refresh_per_second
        self.keys_help = keys_help
        self._live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def show(self, state: RunState, *, paused: bool, speed: float) -> None:
        """Redraw the dashboard at the console's current size."""
        width, height = self.console.size
        frame = render_dashboard(
            state,
            width=width,
            height=max(height - 1, 1),
            paused=paused,
            speed=speed,
            footer_keys=self.keys_help,
        )
        self._live.update(frame, refresh=True)

    def close(self, state: RunState, *, speed: float) -> None:
        """Draw the final frame (it stays on screen)."""
        self.show(state, paused=False, speed=speed)


class PlainView:
    """Progress lines every two seconds, then the summary."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.interval_s = PLAIN_INTERVAL_S

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def show(self, state: RunState, *, paused: bool, speed: float) -> None:
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

    def run(self, events: Iterable[Event]) -> RunState:
        """Replay every event (up to `--until`); return the state shown last."""
        with contextlib.suppress(QuitRequested):  # q ends the replay as the log's end does
            self._replay(iter(events))
        self.view.close(self.state, speed=self.pacer.speed)
        return self.state

    def _replay(self, events: Iterator[Event]) -> None:
        until = self.options.until
        start_at = self.options.start_at
        pacing = False
        for event in events:
            t = event["t"]
            if until is not None and t > until:
                return
            if not pacing:
                if start_at is not None and t < start_at:
                    self.state.apply(event)  # fast-forward: no pacing, no frames
                    continue
                pacing = True
                self.pacer.begin(t if start_at is None else start_at)
                if start_at is not None:
                    self._frame()  # the state at --start-at, before pacing on
            self.pacer.schedule(t)
            self._wait()
            self.state.apply(event)
            if self._step or self.clock() >= self._next_frame:
                self._step = False
                self._frame()
                self._handle(self.keys.wait(0.0))

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

    def _handle(self, keys: str) -> None:
        for key in keys:
            if key in "qQ":
                raise QuitRequested
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


# -- entry points ------------------------------------------------------------------------


def fold_until(events: Iterable[Event], until: float | None) -> RunState:
    """Fold events, stopping after the last one with t <= `until` (all when None)."""
    if until is not None:
        events = takewhile(lambda event: event["t"] <= until, events)
    return RunState().apply_all(events)


def print_final(state: RunState, *, console: Console, plain: bool) -> None:
    """Print the last frame at once: the summary lines (plain) or the dashboard."""
    if plain:
        for line in summary_lines(state):
            console.print(line, highlight=False, soft_wrap=True)
        return
    width, height = console.size
    console.print(render_dashboard(state, width=width, height=max(height - 1, 1)))


def replay(
    options: ReplayOptions,
    *,
    console: Console,
    stdin: IO[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunState:
    """Replay a log as `options` say; warnings (a cut last line) go to `warn` at the end."""
    options.check()
    reader = LogReader(options.path)
    events = (event for _, event in reader.iter_events())
    plain = options.plain or not console.is_terminal
    try:
        if options.final:
            state = fold_until(events, options.until)
            print_final(state, console=console, plain=plain)
        else:
            state = _paced(options, events, console=console, plain=plain, stdin=stdin)
    except MalformedEvent as exc:
        raise reader.located(exc) from None
    for message in reader.warnings:
        (warn or _warn_stderr)(message)
    return state


def _paced(
    options: ReplayOptions,
    events: Iterable[Event],
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
        help_text = KEYS_HELP if fd is not None else None
        view = LiveView(console, refresh_per_second=options.refresh_per_second, keys_help=help_text)
    # Exit order matters: stop drawing first, then give the terminal its settings back.
    with keys, view:
        return Replayer(options, view=view, keys=keys).run(events)


def _warn_stderr(message: str) -> None:
    print(f"dtq: warning: {message}", file=sys.stderr)
