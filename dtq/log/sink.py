"""The event sink: numbers events, buffers them, writes JSON lines through structlog.

The hot path (`emit`) only appends the event to a list. `flush` numbers the batch and
hands it to a structlog logger in one call; its processor chain renders the batch as
JSON lines (orjson) and the logger writes and flushes them to the file in one system call.
A per-event structlog call costs about as much as the rest of a task's life, so events
go through the chain a batch at a time. Engines flush on a short interval and at every
exit path, so a killed run leaves every flushed line whole.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from itertools import repeat
from operator import setitem
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from dtq.errors import UsageError
from dtq.events import Event

Observer = Callable[[list[Event]], object]
"""Called with each batch of events, in order; what it returns is ignored."""

_LINE = orjson.OPT_APPEND_NEWLINE


def render_json_lines(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """structlog processor: render a batch of events as JSON lines, one per event."""
    # Each line is copied into one buffer and dropped at once: keeping thousands of
    # freshly rendered bytes objects alive for a join costs several times the rendering.
    out = io.BytesIO()
    write = out.write
    dumps = orjson.dumps
    for event in event_dict["events"]:
        write(dumps(event, option=_LINE))
    return out.getvalue()


class JsonLinesFile:
    """structlog logger: writes rendered bytes to a binary file and flushes them to the OS."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def msg(self, data: bytes) -> None:
        """Write one rendered batch and hand it to the OS (no fsync: a killed process is enough)."""
        self._file.write(data)
        self._file.flush()


class EventBatchLogger(structlog.BoundLoggerBase):
    """A structlog bound logger whose unit of work is a batch of events."""

    def write_batch(self, events: list[Event]) -> None:
        """Send a batch through the processor chain to the file."""
        self._proxy_to_logger("msg", None, events=events)


def open_log(path: Path) -> IO[bytes]:
    """Open the event log for writing, creating its folder; a clear error if that fails.

    A log another run is still writing is refused (UsageError), never shared: each run
    holds an exclusive lock on its log until it closes it. A finished log is overwritten.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_for_writing(path)
    except OSError as exc:
        raise UsageError(_unwritable(path, exc)) from exc
    return _claimed(fd, path, truncate=True)


def open_new_log(path: Path) -> tuple[IO[bytes], Path]:
    """Create a new event log at `path`, or beside it if that name is taken; returns the
    file and its path. `-2`, `-3` ... go before the suffix, so two runs started in the same
    millisecond never share a file (locked, as `open_log` does)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, path = _create_unique(path)
    except OSError as exc:
        raise UsageError(_unwritable(path, exc)) from exc
    return _claimed(fd, path, truncate=False), path


def _claimed(fd: int, path: Path, *, truncate: bool) -> IO[bytes]:
    """`fd` as a file, locked for this run alone (until closed) and emptied if asked."""
    try:
        _claim(fd, path, truncate=truncate)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


_MAX_SUFFIX = 10_000


def _create_unique(path: Path) -> tuple[int, Path]:
    """A new file at `path`, or at the first free `<stem>-N<suffix>` beside it."""
    for number in range(1, _MAX_SUFFIX + 1):
        candidate = path if number == 1 else path.with_stem(f"{path.stem}-{number}")
        try:
            return os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"{_MAX_SUFFIX:,} logs of that name exist", str(path))


def _open_for_writing(path: Path) -> int:
    """`path` opened for writing but not yet truncated: it may be another run's live log.

    Without waiting: a named pipe with nobody reading it is an error, not a hang.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "it is a named pipe that nothing reads") from exc
        raise
    os.set_blocking(fd, True)
    return fd


def _claim(fd: int, path: Path, *, truncate: bool) -> None:
    """Lock a regular file for this run alone (released when it is closed), then empty it."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        return  # /dev/null, a pipe: nothing to lock or empty
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(
            f"{path} is the event log of another dtq run that is still writing it; "
            "pass --log PATH to write elsewhere, or wait for that run to end"
        ) from None
    if truncate:
        os.ftruncate(fd, 0)


def _unwritable(path: Path, exc: OSError) -> str:
    """Why the log cannot be written at `path`, and what to do."""
    reason = exc.strerror or str(exc)
    blocker = next((p for p in path.parents if p.is_file()), None)
    if blocker is not None:
        reason = f"{blocker} is a file, not a folder"
    return f"cannot write the event log at {path}: {reason}; pass --log PATH to write it elsewhere"


def _drop_batch(_logger: Any, _method: str, _event_dict: MutableMapping[str, Any]) -> bytes:
    """structlog processor that ends the chain: nothing is rendered or written."""
    raise structlog.DropEvent


def memory_sink(observers: Iterable[Observer]) -> EventSink:
    """A sink that numbers events and shows them to `observers` but writes no log.

    For runs whose events only feed a reducer (a sweep's points): no JSON is rendered,
    no file is opened.
    """
    return EventSink(io.BytesIO(), observers=observers, processors=[_drop_batch])


class EventSink:
    """Numbers, buffers and writes the events of one run.

    Events are numbered when their batch is written: one tight loop per batch rather
    than a few attribute writes per event on the engines' hot path. `pending` is the
    queue itself; an engine may append to it directly (`pending.append` is a C call,
    cheaper than `emit` by about what a whole event costs to build) and then owes the
    sink a `flush` whenever `len(pending)` reaches `batch_size`.
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        path: Path | None = None,
        batch_size: int = 4096,
        observers: Iterable[Observer] = (),
        processors: list[Any] | None = None,
    ) -> None:
        self.path = path
        self._file = file
        self._logger: EventBatchLogger = structlog.wrap_logger(
            JsonLinesFile(file),
            processors=processors if processors is not None else [render_json_lines],
            wrapper_class=EventBatchLogger,
        )
        self.batch_size = batch_size
        self._observers = list(observers)
        self.pending: list[Event] = []
        self.seq = 0  # the seq of the last event written

    def emit(self, event: Event) -> None:
        """Queue `event` (numbered when its batch is written); the caller serialises calls."""
        pending = self.pending
        pending.append(event)
        if len(pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Number and write every queued event, then show the batch to the observers."""
        pending = self.pending
        if not pending:
            return
        # The list itself stays: engines hold its bound `append`.
        batch = pending.copy()
        pending.clear()
        # Numbered by a C loop (map over setitem), not a Python statement per event.
        seq = self.seq
        deque(map(setitem, batch, repeat("seq"), range(seq + 1, seq + 1 + len(batch))), 0)
        self.seq = seq + len(batch)
        self._logger.write_batch(batch)
        for observer in self._observers:
            observer(batch)

    def close(self) -> None:
        """Flush what is left and close the file."""
        try:
            self.flush()
        finally:
            self._file.close()
