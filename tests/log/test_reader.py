"""The streaming log reader: line numbers, a cut last line, and errors that name the line."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from dtq.cli import main
from dtq.errors import LogFormatError
from dtq.fold.state import RunState
from dtq.log import reader as reader_module
from dtq.log.reader import LogReader, fold_log, iter_events
from dtq.render.report import build_report
from tests.eventlog_factory import small_log
from tests.helpers import SCENARIOS_DIR


def write_lines(path: Path, lines: list[bytes]) -> Path:
    """Write raw lines, each followed by a newline."""
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def good_line(seq: int) -> bytes:
    """A valid event line of an unknown kind (readers skip those)."""
    return orjson.dumps({"seq": seq, "t": seq / 10, "event": "something"})


def test_events_come_with_their_line_numbers(tmp_path: Path) -> None:
    path = small_log().write(tmp_path / "run.jsonl")
    numbered = list(iter_events(path))
    assert [number for number, _ in numbered] == list(range(1, len(numbered) + 1))
    assert numbered[0][1]["event"] == "run_started"
    assert numbered[-1][1]["event"] == "run_finished"


def test_a_cut_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = small_log().write(tmp_path / "run.jsonl")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # a kill in the middle of the last line
    reader = LogReader(path)
    events = [event for _, event in reader.iter_events()]
    assert events[-1]["event"] == "worker_stopped"
    assert reader.truncated
    assert len(reader.warnings) == 1
    assert f"{path}:{len(events) + 1}:" in reader.warnings[0]


def test_a_whole_last_line_without_its_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(good_line(1) + b"\n" + good_line(2))
    reader = LogReader(path)
    assert [n for n, _ in reader.iter_events()] == [1, 2]
    assert not reader.truncated
    assert reader.warnings == []


def test_a_corrupt_line_in_the_middle_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "run.jsonl", [good_line(1), b'{"seq": 2, "t"', good_line(3)])
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}:2: not JSON"):
        list(iter_events(path))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b'{"t": 0, "event": "x"}', "missing field 'seq'"),
        (b'{"seq": 1, "event": "x"}', "missing field 't'"),
        (b'{"seq": 1, "t": 0}', "missing field 'event'"),
        (b'{"seq": "1", "t": 0, "event": "x"}', "'seq' must be a positive integer"),
        (b'{"seq": true, "t": 0, "event": "x"}', "'seq' must be a positive integer"),
        (b'{"seq": 0, "t": 0, "event": "x"}', "'seq' must be a positive integer"),
        (b'{"seq": 1, "t": "soon", "event": "x"}', "'t' must be a non-negative number"),
        (b'{"seq": 1, "t": -1, "event": "x"}', "'t' must be a non-negative number"),
        (b'{"seq": 1, "t": 0, "event": 5}', "'event' must be an event name"),
        (b"", "a blank line inside the log"),
    ],
)
def test_a_line_that_is_not_an_event_is_an_error(tmp_path: Path, line: bytes, problem: str) -> None:
    path = write_lines(tmp_path / "run.jsonl", [good_line(1), line, good_line(3)])
    with pytest.raises(LogFormatError) as caught:
        list(iter_events(path))
    assert str(caught.value).startswith(f"{path}:2: {problem}")


def test_binary_garbage_is_an_error_with_its_line_not_a_traceback(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "run.jsonl", [good_line(1), b"\xff\xfe\x00\x9c garbage"])
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}:2: not UTF-8 text"):
        list(iter_events(path))


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}: no such file"):
        list(iter_events(path))


def test_a_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(tmp_path))}: is a directory"):
        list(iter_events(tmp_path))


def test_fold_stops_after_the_last_event_at_or_before_until(tmp_path: Path) -> None:
    path = small_log().write(tmp_path / "run.jsonl")
    state, reader = fold_log(path, until_t=3.0)
    assert state.t == 3.0
    assert state.finished is None
    assert state.succeeded == 2
    assert not reader.truncated


def test_fold_of_a_whole_log_matches_its_totals(tmp_path: Path) -> None:
    b = small_log()
    state, _ = fold_log(b.write(tmp_path / "run.jsonl"))
    assert state.totals() == b.totals


SCENARIOS = sorted(SCENARIOS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_folding_a_real_run_gives_its_run_finished_totals(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.jsonl"
    code = main(["run", str(scenario), "--clock", "virtual", "--quiet", "--log", str(log)])
    assert code in (0, 1), capsys.readouterr()  # 1: an expect: threshold failed
    state, reader = fold_log(log)
    assert state.finished is not None and not reader.warnings
    assert state.totals() == state.finished["totals"]
    assert (state.queued, state.retrying, state.running) == (0, 0, 0)


def test_one_blank_line_at_the_end_is_fine_but_not_inside(tmp_path: Path) -> None:
    """An editor's trailing blank line reads as the log; a blank line before events does not."""
    path = small_log().write(tmp_path / "run.jsonl")
    path.write_bytes(path.read_bytes() + b"\n")
    state, _ = fold_log(path)
    assert state.finished is not None
    lines = path.read_bytes().splitlines()
    write_lines(path, [*lines[:3], b"", *lines[3:]])
    with pytest.raises(LogFormatError, match=r"run\.jsonl:4: a blank line inside the log"):
        fold_log(path)


# -- reading by blocks -------------------------------------------------------------------

BLOCK_SIZES = [16, 100, 4096, reader_module.BLOCK_BYTES]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_folding_by_blocks_gives_what_folding_event_by_event_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """Blocks of any size, lines cut across them: the same state as one event at a time."""
    path = small_log().write(tmp_path / "run.jsonl")
    one_by_one = RunState()
    for _, event in iter_events(path):
        one_by_one.apply(event)
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", block_bytes)
    by_blocks, reader = fold_log(path)
    by_blocks.log_ended = one_by_one.log_ended = True
    assert build_report(by_blocks, warnings=[]) == build_report(one_by_one, warnings=[])
    assert (by_blocks.seq, by_blocks.t) == (one_by_one.seq, one_by_one.t)
    assert reader.line == len(path.read_bytes().splitlines())


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_a_bad_line_is_named_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    lines = small_log().write(tmp_path / "run.jsonl").read_bytes().splitlines()
    path = write_lines(tmp_path / "bad.jsonl", [*lines[:7], b'{"seq": 8, "t"', *lines[7:]])
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", block_bytes)
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}:8: not JSON"):
        fold_log(path)
    numbers = []
    with pytest.raises(LogFormatError):
        for number, _ in iter_events(path):
            numbers.append(number)
    assert numbers == list(range(1, 8))  # the events before the bad line come first


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_an_unreadable_event_is_named_by_its_line_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    lines = small_log().write(tmp_path / "run.jsonl").read_bytes().splitlines()
    started = next(i for i, line in enumerate(lines) if b'"task_started"' in line)
    event = orjson.loads(lines[started])
    del event["worker"]
    lines[started] = orjson.dumps(event)
    path = write_lines(tmp_path / "bad.jsonl", lines)
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", block_bytes)
    with pytest.raises(LogFormatError, match=rf"^{re.escape(str(path))}:{started + 1}: "):
        fold_log(path)


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_a_cut_last_line_is_named_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    path = small_log().write(tmp_path / "run.jsonl")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    last = data.count(b"\n")
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", block_bytes)
    _, reader = fold_log(path)
    assert reader.truncated
    assert reader.warnings == [
        f"{path}:{last}: last line is cut short (the run was killed); ignored it"
    ]
