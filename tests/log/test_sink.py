"""The event sink: numbering at flush, batches, observers, and closing on every path."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from dtq.errors import UsageError
from dtq.log.sink import EventSink, open_log


class Recorder(io.BytesIO):
    """A file that keeps each write apart and survives close()."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return super().write(data)

    def close(self) -> None:
        self.saved = self.getvalue()
        super().close()


def _event(n: int) -> dict[str, Any]:
    return {"seq": 0, "t": float(n), "event": "task_submitted", "task_id": f"job-{n:06d}"}


def test_events_are_numbered_gaplessly_when_their_batch_is_written() -> None:
    """seq 1, 2, 3 ... across batches; nothing is written before a flush."""
    file = Recorder()
    sink = EventSink(file, batch_size=1000)
    for n in range(3):
        sink.emit(_event(n))
    assert file.writes == [] and sink.seq == 0
    sink.flush()
    sink.emit(_event(3))
    sink.close()
    lines = [orjson.loads(line) for line in file.saved.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4]
    assert [e["task_id"] for e in lines] == [f"job-{n:06d}" for n in range(4)]
    assert len(file.writes) == 2, "one write per batch"


def test_a_full_batch_is_written_at_once_and_shown_to_observers() -> None:
    """emit flushes when the batch fills; observers see each batch, numbered."""
    file = Recorder()
    seen: list[list[int]] = []
    sink = EventSink(file, batch_size=2, observers=[lambda b: seen.append([e["seq"] for e in b])])
    for n in range(5):
        sink.emit(_event(n))
    assert seen == [[1, 2], [3, 4]]
    sink.close()
    assert seen == [[1, 2], [3, 4], [5]]
    assert file.closed


def test_an_empty_flush_writes_nothing() -> None:
    """No events queued: no write, no observer call."""
    file = Recorder()
    calls: list[object] = []
    sink = EventSink(file, observers=[calls.append])
    sink.flush()
    assert file.writes == [] and calls == []


class FullDisk(Recorder):
    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_close_closes_the_file_even_when_the_last_write_fails() -> None:
    """The error reaches the caller (never swallowed) and the file is not left open."""
    file = FullDisk()
    sink = EventSink(file)
    sink.emit(_event(1))
    with pytest.raises(OSError, match="No space left"):
        sink.close()
    assert file.closed


def test_open_log_makes_its_folder_and_names_a_file_in_the_way(tmp_path: Path) -> None:
    """Missing folders are made; a file where a folder should be is a clear usage error."""
    file = open_log(tmp_path / "a" / "b" / "log.jsonl")
    file.close()
    assert (tmp_path / "a" / "b" / "log.jsonl").exists()
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder; pass --log PATH"):
        open_log(tmp_path / "blocker" / "log.jsonl")
