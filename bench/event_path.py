"""Row 6: events per second from an event dict to a line in the log file.

Every variant builds the same `task_started`-shaped dict per event and ends with the
same bytes on disk:

- sink: dtq's `EventSink` (numbers the event, buffers it, sends each batch of 4,096
  through the structlog processor chain that renders it with orjson, one write and
  flush per batch);
- bare: `orjson.dumps` each event into a buffered file, no structlog (the floor);
- per-event structlog: one `logger.msg(...)` per event through a short chain (number
  it, render with orjson) into `structlog.BytesLogger`, which writes and flushes each
  line;
- per-event, no flush: the same chain into a logger that leaves buffering to the file,
  to show how much of the per-event cost is the chain itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from bench.common import (
    Row,
    Sample,
    alternate,
    fmt_num,
    fmt_ratio,
    median,
    paired_ratio,
    spread,
    worker_main,
)
from dtq.render.markdown import markdown_table

EVENTS = {"quick": 20_000, "full": 1_000_000}
_LINE = orjson.OPT_APPEND_NEWLINE
_IDS = [f"job-{n:06d}" for n in range(1, 1001)]
_WORKERS = [f"w{n:02d}" for n in range(1, 9)]


def _event(i: int) -> dict[str, Any]:
    return {
        "seq": 0,
        "t": i * 0.000125,
        "event": "task_started",
        "task_id": _IDS[i % 1000],
        "type": "job",
        "priority": 5,
        "attempt": 1,
        "worker": _WORKERS[i % 8],
        "wait_s": 0.000042,
    }


def _timed(args: argparse.Namespace, body: Callable[[Path], None]) -> Sample:
    path = args.tmp / f"events-{args.seed}.jsonl"
    wall0 = time.perf_counter()
    body(path)
    wall_s = time.perf_counter() - wall0
    size = path.stat().st_size
    path.unlink()
    return {"events": args.size, "wall_s": wall_s, "rate": args.size / wall_s, "bytes": size}


def run_sink(args: argparse.Namespace) -> Sample:
    """dtq's EventSink: batched through structlog."""
    from dtq.log.sink import EventSink, open_log

    def body(path: Path) -> None:
        sink = EventSink(open_log(path), path=path)
        emit = sink.emit
        for i in range(args.size):
            emit(_event(i))
        sink.close()

    return _timed(args, body)


def run_bare(args: argparse.Namespace) -> Sample:
    """The floor: orjson lines into a buffered file."""

    def body(path: Path) -> None:
        dumps = orjson.dumps
        with path.open("wb") as file:
            write = file.write
            for i in range(args.size):
                event = _event(i)
                event["seq"] = i + 1
                write(dumps(event, option=_LINE))

    return _timed(args, body)


class _Numbered:
    """structlog processor: gapless seq, as the sink gives."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        self.seq += 1
        event_dict["seq"] = self.seq
        return event_dict


class _UnflushedBytesLogger:
    """A structlog logger that writes a line and leaves flushing to the buffered file."""

    def __init__(self, file: IO[bytes]) -> None:
        self._write = file.write

    def msg(self, message: bytes) -> None:
        """Write one rendered line."""
        self._write(message + b"\n")


def _per_event(args: argparse.Namespace, *, flush_each: bool) -> Sample:
    def body(path: Path) -> None:
        with path.open("wb") as file:
            target: Any = structlog.BytesLogger(file) if flush_each else _UnflushedBytesLogger(file)
            logger = structlog.wrap_logger(
                target,
                processors=[
                    _Numbered(),
                    structlog.processors.JSONRenderer(serializer=orjson.dumps),
                ],
                wrapper_class=structlog.BoundLogger,
            )
            for i in range(args.size):
                fields = _event(i)
                del fields["event"]
                logger.msg("task_started", **fields)

    return _timed(args, body)


def run_per_event(args: argparse.Namespace) -> Sample:
    """One structlog call per event into BytesLogger (writes and flushes each line)."""
    return _per_event(args, flush_each=True)


def run_per_event_buffered(args: argparse.Namespace) -> Sample:
    """One structlog call per event, the file left to buffer."""
    return _per_event(args, flush_each=False)


VARIANTS = {
    "sink": ("dtq EventSink (structlog, batches of 4,096)", run_sink),
    "bare": ("bare orjson lines, buffered file", run_bare),
    "per_event": ("structlog call per event, BytesLogger", run_per_event),
    "per_event_buffered": ("structlog call per event, no flush", run_per_event_buffered),
}


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Push the same events through each path side by side and build row 6."""
    events = EVENTS[size]
    samples = alternate("event_path", list(VARIANTS), repeat=repeat, size=events, tmp=tmp)
    rows = [
        [
            VARIANTS[key][0],
            fmt_num(median(runs, "rate")),
            spread(runs, "rate"),
            f"{median(runs, 'wall_s'):.2f}",
            f"{median(runs, 'bytes') / 2**20:.1f} MB",
        ]
        for key, runs in samples.items()
    ]
    details = [
        f"{events:,} `task_started`-shaped events, each dict built in the loop (the same "
        "cost in every variant), ending as the same JSON lines on disk.",
        "",
        *markdown_table(["path", "events/s", "range", "wall s", "file"], rows),
    ]
    sink = samples["sink"]
    return Row(
        number=6,
        title=f"Event path: {events:,} events into the log file (events/s)",
        dtq=fmt_num(median(sink, "rate")),
        peers=[
            f"bare orjson {fmt_num(median(samples['bare'], 'rate'))}",
            f"structlog per event {fmt_num(median(samples['per_event'], 'rate'))}",
        ],
        ratios=[
            f"{fmt_ratio(paired_ratio(sink, samples['bare'], 'rate'))} bare",
            f"{fmt_ratio(paired_ratio(sink, samples['per_event'], 'rate'))} per event",
        ],
        goal="(no goal: shown beside bare orjson lines)",
        met=None,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({key: fn for key, (_, fn) in VARIANTS.items()}))
