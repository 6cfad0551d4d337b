"""Streaming reader of event logs: one line at a time, every problem named by file and line.

A run that is killed may leave its last line cut in half; that line is dropped with a
warning (the log before it is complete). Anything else that is not an event is a
`LogFormatError` saying `path:line: what is wrong`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from dtq.errors import LogFormatError, MalformedEvent
from dtq.events import RUN_FINISHED, Event
from dtq.files import NotRegularFile, open_regular
from dtq.fold.state import RunState


class LogReader:
    """Reads one event log lazily; after reading, `warnings` and `truncated` say what it skipped."""

    def __init__(self, path: str | Path, *, allow_empty: bool = False) -> None:
        self.path = Path(path)
        # A log with no event at all is an error for readers that show a run; verify
        # calls it unfinished (killed before the first line was written).
        self.allow_empty = allow_empty
        self.warnings: list[str] = []
        self.truncated = False
        self.line = 0  # the line of the event last yielded, for errors found downstream

    def iter_events(self) -> Iterator[tuple[int, Event]]:
        """Yield `(line number, event)` for every line; raise `LogFormatError` on a bad one."""
        return self._read(self._open())  # opened now: a missing file fails here, not later

    def _read(self, stream: BinaryIO) -> Iterator[tuple[int, Event]]:
        with stream:
            try:
                yield from self._parse(stream)
            except OSError as exc:
                raise LogFormatError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc

    def _open(self) -> BinaryIO:
        try:
            return open_regular(self.path)
        except FileNotFoundError:
            raise LogFormatError(
                f"{self.path}: no such file (give the path of a .jsonl log)"
            ) from None
        except IsADirectoryError:
            raise LogFormatError(f"{self.path}: is a directory, not an event log") from None
        except NotRegularFile as exc:  # a named pipe would wait for a writer forever
            raise LogFormatError(
                f"{self.path}: {exc.strerror}; give the path of a .jsonl log "
                "(to read a stream, save it to a file first)"
            ) from None
        except OSError as exc:
            raise LogFormatError(f"{self.path}: cannot open: {exc.strerror or exc}") from None

    def _parse(self, stream: BinaryIO) -> Iterator[tuple[int, Event]]:
        loads = orjson.loads
        event: Any = None
        blank = 0  # a blank line is fine at the very end of a log (an editor adds one)
        for number, raw in enumerate(stream, start=1):
            try:
                event = loads(raw)
            except orjson.JSONDecodeError as exc:
                if raw.endswith(b"\n") and not raw.strip():
                    blank = blank or number
                    continue
                if type(event) is dict and event.get("event") == RUN_FINISHED:
                    raise self._after_the_end(number) from None
                if not raw.endswith(b"\n"):  # only the last line can lack its newline
                    self._note_truncated(number)
                    self._check_not_empty()
                    return
                raise LogFormatError(f"{self.path}:{number}: {_unreadable(raw, exc)}") from None
            if blank:
                raise LogFormatError(f"{self.path}:{blank}: a blank line inside the log")
            if not _is_event(event):
                raise LogFormatError(f"{self.path}:{number}: {_problem(event)}")
            self.line = number
            yield number, event
        self._check_not_empty()

    def _after_the_end(self, number: int) -> LogFormatError:
        """The error for text after `run_finished`: the run ended, then the file grew."""
        return LogFormatError(
            f"{self.path}:{number}: not an event, after run_finished on line {self.line}: "
            "the run ended there and something was appended to the log later; remove "
            f"the lines after line {self.line} to read the run"
        )

    def _check_not_empty(self) -> None:
        if self.line == 0 and not self.allow_empty:
            cut = " but a cut line" if self.truncated else ""
            raise LogFormatError(
                f"{self.path}: no events (the file holds nothing{cut}): the run was stopped "
                "before its first event was written, or this is not a dtq event log"
            )

    def located(self, exc: MalformedEvent) -> LogFormatError:
        """`exc`, raised by the reducer on the event last read, with its file and line."""
        return LogFormatError(f"{self.path}:{self.line}: {exc}")

    def _note_truncated(self, number: int) -> None:
        self.truncated = True
        self.warnings.append(
            f"{self.path}:{number}: last line is cut short (the run was killed); ignored it"
        )


def _unreadable(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """Why a line is not an event: not UTF-8 text at all, or not JSON."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (
            f"not UTF-8 text (byte {bad.start + 1} is 0x{raw[bad.start]:02x}): an event log is "
            "JSON lines in UTF-8; is this the right file?"
        )
    return f"not JSON ({exc.msg} at column {exc.colno})"


def _is_event(value: Any) -> bool:
    """The fast check every line passes: an object with a good seq, t and event name."""
    if type(value) is not dict:
        return False
    seq = value.get("seq")
    t = value.get("t")
    name = value.get("event")
    return (
        type(seq) is int
        and seq > 0
        and (type(t) is float or type(t) is int)
        and 0 <= t < math.inf
        and type(name) is str
        and name != ""
    )


def _problem(value: Any) -> str:
    """What is wrong with a line that failed `_is_event`."""
    if not isinstance(value, dict):
        return f"not a JSON object (got {type(value).__name__})"
    return _field_problem(value) or "not an event"


def _field_problem(event: dict[str, Any]) -> str | None:
    """What is wrong with an event's `seq`, `t` and `event` fields, or None."""
    for name in ("seq", "t", "event"):
        if name not in event:
            return f"missing field {name!r} (every event has seq, t and event)"
    seq, t, name = event["seq"], event["t"], event["event"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"'seq' must be a positive integer (got {seq!r})"
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
        return f"'t' must be a non-negative number of seconds (got {t!r})"
    if not isinstance(name, str) or not name:
        return f"'event' must be an event name (got {name!r})"
    return None


def iter_events(path: str | Path) -> Iterator[tuple[int, Event]]:
    """Yield `(line number, event)` from a log; a cut last line is skipped silently."""
    return LogReader(path).iter_events()


def fold_log(
    path: str | Path, *, until_t: float | None = None, state: RunState | None = None
) -> tuple[RunState, LogReader]:
    """Fold a whole log (or its events up to `until_t`) into `state` (a new one by default)."""
    reader = LogReader(path)
    events: Iterator[Event] = (event for _, event in reader.iter_events())
    if until_t is not None:
        events = itertools.takewhile(lambda event: event["t"] <= until_t, events)
    try:
        state = (state if state is not None else RunState()).apply_all(events)
    except MalformedEvent as exc:
        raise reader.located(exc) from None
    state.log_ended = until_t is None  # read to its end: without run_finished, unfinished
    return state, reader


def fold_written(path: str | Path) -> RunState | None:
    """What a log holds after its run failed to write it (a full disk): the events that
    reached the file, read to the end; None if it is not a regular file or not readable."""
    try:
        if not Path(path).is_file():
            return None  # /dev/full and other devices: nothing to read back
        return fold_log(path)[0]
    except (LogFormatError, OSError):
        return None
