"""The display a running engine feeds: a live dashboard, plain progress lines, or nothing.

The engine calls `on_events` from its own thread while holding its lock, so that call only
appends the batch to a deque. A background thread drains the deque into the `RunState`
(the one reducer) and renders; rendering therefore never holds the engine's lock. A
dashboard that fails to render turns itself off with one warning and keeps folding: a
broken display never stops a run.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from typing import IO, Protocol

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from dtq.events import Event
from dtq.fold.state import RunState
from dtq.render.dashboard import progress_line, render_dashboard
from dtq.render.keys import NoEcho, terminal_fd

PLAIN_INTERVAL_S = 2.0
QUIET_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0
LIVE_FOOTER = "Ctrl-C stops the run (the log stays complete)"
# DEC private mode 2026, synchronized output: the terminal shows a frame only once it is
# whole, so a redraw over a slow link never tears. Terminals without it ignore the mode.
SYNC_BEGIN = "\x1b[?2026h"
SYNC_END = "\x1b[?2026l"


def draw(live: Live, frame: RenderableType) -> None:
    """Redraw `live` with `frame`, as one synchronized update on a terminal."""
    console = live.console
    if not console.is_terminal or console.is_dumb_terminal:
        live.update(frame, refresh=True)
        return
    with console:  # rich writes the whole frame at the end of this block
        console.file.write(SYNC_BEGIN)
        live.update(frame, refresh=True)
    console.file.write(SYNC_END)
    console.file.flush()


class Display(Protocol):
    """What the engine's event sink talks to."""

    def on_events(self, batch: list[Event]) -> None:
        """Take a batch of events; O(1), called under the engine's lock."""

    def start(self) -> None:
        """Start showing (and folding) in the background."""

    def stop(self) -> None:
        """Fold whatever is left, stop the background thread, restore the terminal."""

    @property
    def state(self) -> RunState:
        """The folded state; complete once `stop` has returned."""


class FoldingDisplay:
    """Folds batches on a background thread every `interval_s`; subclasses show the state."""

    def __init__(self, *, console: Console, interval_s: float) -> None:
        self.console = console
        self.interval_s = interval_s
        self._state = RunState()
        self._pending: deque[list[Event]] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._showing = True
        # Only one thread folds at a time (stop() may run while a slow frame finishes).
        self._fold_lock = threading.Lock()

    @property
    def state(self) -> RunState:
        """The folded state; complete once `stop` has returned."""
        return self._state

    def on_events(self, batch: list[Event]) -> None:
        """Queue a batch for folding (deque.append is atomic: no lock needed)."""
        self._pending.append(batch)

    def start(self) -> None:
        """Start the fold-and-show thread."""
        self._thread = threading.Thread(target=self._loop, name="dtq-display", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, fold the rest, show the final state; then re-raise a fold failure."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._thread = None
        try:
            if self._error is None:
                self._drain()
        finally:
            self._show(final=True)  # gives the terminal back even after a failure
        if self._error is not None:
            raise self._error  # a reducer bug: never lose it

    def _loop(self) -> None:
        try:
            while not self._stopping.wait(self.interval_s):
                self._drain()
                self._show(final=False)
        except BaseException as exc:  # kept for stop() to re-raise in the caller's thread
            self._error = exc

    def _drain(self) -> None:
        pending = self._pending
        state = self._state
        with self._fold_lock:
            while pending:
                state.apply_all(pending.popleft())

    def _show(self, *, final: bool) -> None:
        if not self._showing:
            return
        try:
            self._render(final=final)
        except Exception as exc:  # a failing display must never stop the run
            self._showing = False
            self._release()
            with contextlib.suppress(OSError):  # the console itself may be what broke
                self.console.print(
                    f"dtq: warning: display disabled ({type(exc).__name__}: {exc}); "
                    "the run goes on and the log stays complete",
                    highlight=False,
                )

    def _render(self, *, final: bool) -> None:
        """Show the state after a fold; `final` after the last one (subclasses)."""

    def _release(self) -> None:
        """Give the screen back after a rendering failure (subclasses)."""


class QuietDisplay(FoldingDisplay):
    """Folds only: nothing on screen."""


class PlainDisplay(FoldingDisplay):
    """One progress line every two seconds, for logs and pipes; nothing else."""

    def __init__(self, *, console: Console, every_s: float = PLAIN_INTERVAL_S) -> None:
        super().__init__(console=console, interval_s=every_s)

    def _render(self, *, final: bool) -> None:
        if not final:
            self.console.print(progress_line(self._state), highlight=False, soft_wrap=True)


class LiveDisplay(FoldingDisplay):
    """The rich dashboard, redrawn `refresh_per_second` times from the background thread."""

    def __init__(
        self, *, console: Console, refresh_per_second: float, stdin: IO[str] | None = None
    ) -> None:
        super().__init__(console=console, interval_s=1.0 / refresh_per_second)
        self._live: Live | None = None
        self._no_echo = NoEcho(terminal_fd(stdin))

    def start(self) -> None:
        """Take over the terminal region, then start folding and drawing."""
        self._no_echo.__enter__()
        # auto_refresh off: only our thread draws, right after it folds.
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._live.start()
        # Draw the first frame here, before the engine starts: it pays for rich's lazy
        # imports and first layout, which would otherwise hold the GIL during the run.
        self._show(final=False)
        super().start()

    def _frame(self, *, final: bool) -> RenderableType:
        width, height = self.console.size
        return render_dashboard(
            self._state,
            width=width,
            height=max(height - 1, 1),
            footer_keys=None if final else LIVE_FOOTER,  # once over, Ctrl-C stops nothing
        )

    def _render(self, *, final: bool) -> None:
        live = self._live
        if live is None:
            return
        draw(live, self._frame(final=final))
        if final:
            self._live = None
            try:
                live.stop()  # the last frame stays on screen (transient=False)
            finally:
                self._no_echo.__exit__()

    def _release(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.update(Text(""))  # stop() draws once more: not the frame that failed
            with contextlib.suppress(Exception):  # the warning says the display is gone
                live.stop()
        self._no_echo.__exit__()


def make_display(
    *,
    console: Console,
    plain: bool,
    quiet: bool,
    refresh_per_second: float = 4.0,
    stdin: IO[str] | None = None,
) -> Display:
    """The display for this console: quiet folds, plain (or not a TTY) prints lines, else live."""
    if quiet:
        return QuietDisplay(console=console, interval_s=QUIET_INTERVAL_S)
    if plain or not console.is_terminal:
        return PlainDisplay(console=console)
    return LiveDisplay(console=console, refresh_per_second=refresh_per_second, stdin=stdin)
