"""The event sink: numbers events, buffers them, writes JSON lines through structlog.

The hot path (`emit`) only appends the event to a list. `flush` numbers the batch and
hands it to a structlog logger in one call; its processor chain renders the batch as
JSON lines (orjson) and the logger writes and flushes them to the file in one system call.
A per-event structlog call costs about as much as the rest of a task's life, so events
go through the chain a batch at a time. Engines flush on a short interval and at every
exit path, so a killed run leaves every flushed line whole.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from dtq.errors import UsageError
from dtq.events import Event

Observer = Callable[[list[Event]], None]

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
    """Open the event log for writing, creating its folder; a clear error if that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        blocker = next((p for p in path.parents if p.is_file()), None)
        if blocker is not None:
            reason = f"{blocker} is a file, not a folder"
        raise UsageError(
            f"cannot write the event log at {path}: {reason}; pass --log PATH to write it elsewhere"
        ) from exc


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
        seq = self.seq
        for event in batch:
            seq += 1
            event["seq"] = seq
        self.seq = seq
        self._logger.write_batch(batch)
        for observer in self._observers:
            observer(batch)

    def close(self) -> None:
        """Flush what is left and close the file."""
        try:
            self.flush()
        finally:
            self._file.close()
