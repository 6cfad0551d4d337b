"""Streaming reader of event logs: one line at a time, every problem named by file and line.

A run that is killed may leave its last line cut in half; that line is dropped with a
warning (the log before it is complete). Anything else that is not an event is a
`LogFormatError` saying `path:line: what is wrong`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from dtq.errors import LogFormatError, MalformedEvent
from dtq.events import RUN_FINISHED, Event
from dtq.files import NotRegularFile, open_regular
from dtq.fold.state import RunState

# The reader takes the file a block at a time: one `split` and one `map(orjson.loads)` per
# block, so the per-line cost is the parse and a field check, not a Python-level read.
# 32 KB (about 230 events) keeps a block's events in the cache: with 1 MB blocks the
# thousands of dicts alive at once missed the last-level cache twice as often.
BLOCK_BYTES = 1 << 15


class LogReader:
    """Reads one event log lazily; after reading, `warnings` and `truncated` say what it skipped."""

    def __init__(self, path: str | Path, *, allow_empty: bool = False) -> None:
        self.path = Path(path)
        # A log with no event at all is an error for readers that show a run; verify
        # calls it unfinished (killed before the first line was written).
        self.allow_empty = allow_empty
        self.warnings: list[str] = []
        self.truncated = False
        self.line = 0  # the line of the event last handed out, for errors found downstream
        self._last_line = 0  # the line of the event last read
        self._last: Any = None  # the value last read (run_finished: nothing may follow)
        self._blank = 0  # a blank line is fine at the very end of a log (an editor adds one)

    def iter_events(self) -> Iterator[tuple[int, Event]]:
        """Yield `(line number, event)` for every line; raise `LogFormatError` on a bad one."""
        return self._numbered(self.iter_batches())

    def iter_batches(self) -> Iterator[tuple[int, list[Event]]]:
        """Yield `(line number of the first, events)`: the events of a batch are on lines that
        follow one another; raise `LogFormatError` on a bad line (after the events before it)."""
        return self._read(self._open())  # opened now: a missing file fails here, not later

    def _numbered(self, batches: Iterator[tuple[int, list[Event]]]) -> Iterator[tuple[int, Event]]:
        for first, events in batches:
            for number, event in enumerate(events, first):
                self.line = number
                yield number, event

    def _read(self, stream: BinaryIO) -> Iterator[tuple[int, list[Event]]]:
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

    def _parse(self, stream: BinaryIO) -> Iterator[tuple[int, list[Event]]]:
        first = 1  # the line number of the next line
        for lines, ended in _whole_lines(stream):
            events = None if self._blank else _good_events(lines)
            if events is None:  # a blank, damaged or odd line: read line by line to name it
                yield from self._careful(lines, first, ended=ended)
            elif events:
                self._last_line = self.line = first + len(events) - 1
                self._last = events[-1]
                yield first, events
            first += len(lines)
        self._check_not_empty()

    def _careful(
        self, lines: list[bytes], first: int, *, ended: bool
    ) -> Iterator[tuple[int, list[Event]]]:
        """Read `lines` one at a time, each event its own batch: the events before a bad
        line reach the reader before the error, and one that stops early never meets it."""
        newline = b"\n" if ended else b""
        for number, line in enumerate(lines, start=first):
            raw = line + newline  # the line as written: the parser's columns count the newline
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                if ended and not raw.strip():
                    self._blank = self._blank or number
                    continue
                if type(self._last) is dict and self._last.get("event") == RUN_FINISHED:
                    raise self._after_the_end(number) from None
                if not ended:  # only the last line can lack its newline
                    self._note_truncated(number)
                    return
                raise LogFormatError(f"{self.path}:{number}: {_unreadable(raw, exc)}") from None
            if self._blank:
                raise LogFormatError(f"{self.path}:{self._blank}: a blank line inside the log")
            if not _is_event(event):
                raise LogFormatError(f"{self.path}:{number}: {_problem(event)}")
            self._last_line = self.line = number
            self._last = event
            yield number, [event]

    def _after_the_end(self, number: int) -> LogFormatError:
        """The error for text after `run_finished`: the run ended, then the file grew."""
        return LogFormatError(
            f"{self.path}:{number}: not an event, after run_finished on line {self._last_line}: "
            "the run ended there and something was appended to the log later; remove "
            f"the lines after line {self._last_line} to read the run"
        )

    def _check_not_empty(self) -> None:
        if self._last_line == 0 and not self.allow_empty:
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


def _whole_lines(stream: BinaryIO) -> Iterator[tuple[list[bytes], bool]]:
    """The file's lines (without their newlines), a block at a time, and whether they ended
    with a newline: all do but the file's last, if the file does not end with one. A line
    longer than a block waits, in pieces, for the block that ends it."""
    pieces: list[bytes] = []  # the start of a line no block has ended yet
    while block := stream.read(BLOCK_BYTES):
        pieces.append(block)
        if b"\n" not in block:
            continue
        lines = b"".join(pieces).split(b"\n")
        rest = lines.pop()  # after the last newline: the start of the next line
        pieces = [rest] if rest else []
        yield lines, True
    if pieces:
        yield [b"".join(pieces)], False


def _good_events(lines: list[bytes]) -> list[Event] | None:
    """The events of `lines` if every line is one (`_all_events`); else None, and the lines
    are read one by one to name the problem."""
    try:
        events: list[Any] = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        return None
    return events if _all_events(events) else None


def _all_events(values: Iterable[Any]) -> bool:
    """Whether each value is an event: an object with a good seq, t and event name.

    The one check every line of a log passes, as a loop over a block rather than a call
    per line: every event of every log read goes through it."""
    try:
        for value in values:
            seq = value["seq"]
            t = value["t"]
            name = value["event"]
            if not (
                type(seq) is int
                and seq > 0
                and (type(t) is float or type(t) is int)
                and 0 <= t < math.inf
                and type(name) is str
                and name != ""
            ):
                return False
    except (KeyError, TypeError, IndexError):
        return False
    return True


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
    """The check of `_all_events`, for one value read on its own."""
    return type(value) is dict and _all_events((value,))


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
    state = state if state is not None else RunState()
    for first, events in reader.iter_batches():
        cut = len(events) if until_t is None else _count_until(events, until_t)
        try:
            state.apply_all(events if cut == len(events) else events[:cut])
        except MalformedEvent as exc:
            reader.line = first + _index_of(events, exc.event)
            raise reader.located(exc) from None
        if cut < len(events):
            break
    state.log_ended = until_t is None  # read to its end: without run_finished, unfinished
    return state, reader


def _index_of(events: list[Event], event: object) -> int:
    """Where `event` (the very object) is in `events`; the last place if it is not there."""
    return next((i for i, e in enumerate(events) if e is event), len(events) - 1)


def _count_until(events: list[Event], until_t: float) -> int:
    """How many of `events` come before the first one after `until_t`."""
    for index, event in enumerate(events):
        if event["t"] > until_t:
            return index
    return len(events)


def fold_written(path: str | Path) -> RunState | None:
    """What a log holds after its run failed to write it (a full disk): the events that
    reached the file, read to the end; None if it is not a regular file or not readable."""
    try:
        if not Path(path).is_file():
            return None  # /dev/full and other devices: nothing to read back
        return fold_log(path)[0]
    except (LogFormatError, OSError):
        return None
