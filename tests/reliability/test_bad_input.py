"""Bad input everywhere gives a located message and the documented exit code, never a
traceback: damaged event logs, broken scenario files, unwritable paths, a full disk."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.cli import main
from dtq.log.verify import verify_log
from tests.helpers import scenario
from tests.reliability import TORTURE_SCENARIO, run_logged, write_scenario

LOG_COMMANDS = (["verify"], ["report"], ["replay", "--final", "--plain"])


@pytest.fixture(scope="module")
def real_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a small real log: retries, a dead letter, a worker crash."""
    model = scenario(
        clock="virtual",
        workers=2,
        retry={"max_attempts": 2, "base_delay": "5ms", "retry_on": ["network"]},
        task_types={
            "job": {
                "duration": {"dist": "uniform", "low": "1ms", "high": "9ms"},
                "failures": {"network": 0.3, "bad_input": 0.1},
            }
        },
        arrivals=[{"pattern": "burst", "task": "job", "count": 25, "over": "50ms"}],
        faults=[{"kind": "worker_crash", "at": "20ms", "workers": 1, "restart_after": "5ms"}],
    )
    log = tmp_path_factory.mktemp("real") / "log.jsonl"
    assert run_logged(model, log).status == "completed"
    return log.read_bytes()


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`dtq ARGS` in-process; any exception that escapes main() fails the test."""
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- event logs -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", LOG_COMMANDS, ids=lambda c: c[0])
def test_binary_garbage_mid_log_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_log: bytes, command: list[str]
) -> None:
    """Random bytes in place of line 5: every log command exits 2 naming line 5."""
    lines = real_log.splitlines(keepends=True)
    lines[4] = bytes(range(0, 256, 7)) + b"\n"
    log = tmp_path / "garbage.jsonl"
    log.write_bytes(b"".join(lines))
    code, _, err = _run_cli([*command, str(log)], capsys)
    assert code == 2 and f"{log}:5: not UTF-8 text" in err


@pytest.mark.parametrize("command", LOG_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'"just a string"', "not a JSON object (got str)"),
        (b'{"level": "info", "msg": "hello"}', "missing field 'seq'"),
        (b'{"seq": 5, "t": -1, "event": "task_started"}', "'t' must be a non-negative number"),
    ],
)
def test_json_that_is_not_an_event_is_named_with_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    real_log: bytes,
    command: list[str],
    line: bytes,
    expected: str,
) -> None:
    """A line that parses as JSON but is not an event: exit 2 and `path:5: what is wrong`."""
    lines = real_log.splitlines(keepends=True)
    lines[4] = line + b"\n"
    log = tmp_path / "not-an-event.jsonl"
    log.write_bytes(b"".join(lines))
    code, _, err = _run_cli([*command, str(log)], capsys)
    assert code == 2 and f"{log}:5: " in err and expected in err


@pytest.mark.parametrize("command", LOG_COMMANDS[1:], ids=lambda c: c[0])
def test_an_event_missing_its_fields_is_named_by_report_and_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_log: bytes, command: list[str]
) -> None:
    """A task_started with no task fields: report and replay exit 2 with the line too."""
    lines = real_log.splitlines(keepends=True)
    lines[4] = b'{"seq": 5, "t": 0.0, "event": "task_started"}\n'
    log = tmp_path / "fieldless.jsonl"
    log.write_bytes(b"".join(lines))
    code, _, err = _run_cli([*command, str(log)], capsys)
    assert code == 2 and f"{log}:5: " in err


MISTYPED = {
    # event line to damage: (field, what replaces `"field":`)
    "priority": (b'"task_submitted"', b'"priority":', b'"priority":"high","was":'),
    "reason": (b'"task_dead_lettered"', b'"reason":', b'"reason":1.5,"was":'),
}


@pytest.mark.parametrize("field", sorted(MISTYPED))
@pytest.mark.parametrize("command", LOG_COMMANDS[1:], ids=lambda c: c[0])
def test_an_event_with_a_mistyped_field_is_named_by_report_and_replay(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    real_log: bytes,
    command: list[str],
    field: str,
) -> None:
    """A submitted task whose priority is a string, a dead letter whose reason is a number:
    exit 2 naming the line, no traceback."""
    marker, old, new = MISTYPED[field]
    lines = real_log.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if marker in line)
    lines[index] = lines[index].replace(old, new)
    log = tmp_path / "retyped.jsonl"
    log.write_bytes(b"".join(lines))
    code, _, err = _run_cli([*command, str(log)], capsys)
    assert code == 2 and f"{log}:{index + 1}: " in err and f"'{field}'" in err


def test_events_out_of_order_are_named_with_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_log: bytes
) -> None:
    """Two lines swapped: verify exits 1 and names where seq goes wrong."""
    lines = real_log.splitlines(keepends=True)
    lines[9], lines[10] = lines[10], lines[9]
    log = tmp_path / "swapped.jsonl"
    log.write_bytes(b"".join(lines))
    code, out, _ = _run_cli(["verify", str(log)], capsys)
    assert code == 1 and f"{log}:10: seq jumps from 9 to 11" in out
    assert f"{log}:11: seq 10 after 11" in out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_log_cut_anywhere_is_unfinished_and_still_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], real_log: bytes, data: st.DataObject
) -> None:
    """SIGKILL can cut the log at any byte: verify says unfinished (never corrupt or
    unreadable); report and replay still read every whole line before the cut (and
    refuse, exit 2, a log cut before its first whole line: it holds no event)."""
    cut = data.draw(st.integers(0, len(real_log) - 2), label="bytes kept")
    log = tmp_path / "cut.jsonl"
    log.write_bytes(real_log[:cut])
    verdict = verify_log(log)
    assert verdict.violation_count == 0 and not verdict.is_finished
    # Every whole line counts; so does a last line cut just before its newline, since
    # what is left of it is still one whole event.
    whole = real_log.count(b"\n", 0, cut) + (real_log[cut : cut + 1] == b"\n")
    assert verdict.events == whole
    for command in LOG_COMMANDS[1:]:  # with no whole line, there is no run to show
        code, _, _ = _run_cli([*command, str(log)], capsys)
        assert code == (0 if whole else 2)


# -- scenario files ---------------------------------------------------------------------------

ONE_TASK = "task_types: {a: {}}\narrivals: [{pattern: burst, task: a, count: 1}]\n"
BROKEN_SCENARIOS = {
    "not yaml": "workers: [1, 2\n",
    "unknown key": ONE_TASK + "workrs: 3\n",
    "bad value": ONE_TASK + "workers: 0\n",
    "binary": "\x00\x01\x02 not a scenario",
    "empty": "",
}


@pytest.mark.parametrize("text", BROKEN_SCENARIOS.values(), ids=BROKEN_SCENARIOS.keys())
@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_broken_scenario_exits_2_with_a_located_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, command: str
) -> None:
    """Every broken scenario file: exit 2, a message naming the file, no traceback."""
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    log = tmp_path / "log.jsonl"
    args = [command, str(path)] + (["--quiet", "--log", str(log)] if command == "run" else [])
    code, _, err = _run_cli(args, capsys)
    assert code == 2 and str(path) in err
    assert not log.exists()  # nothing ran


# -- paths and disks ----------------------------------------------------------------------------


def test_an_unwritable_log_folder_is_reported_before_the_run_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log path under a regular file (root ignores chmod): exit 2, the path named, no run."""
    (tmp_path / "afile").write_text("")
    log = tmp_path / "afile" / "log.jsonl"
    code, out, err = _run_cli(["run", "scenarios/fifo.yaml", "--quiet", "--log", str(log)], capsys)
    assert code == 2 and f"cannot write the event log at {log}" in err
    assert "--log PATH" in err and "status" not in out  # no summary: nothing ran


@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_a_full_disk_from_the_start_fails_the_run_cleanly(
    capsys: pytest.CaptureFixture[str], clock: str
) -> None:
    """--log /dev/full: every write fails with ENOSPC; exit 1 with the reason, no traceback."""
    args = ["run", "scenarios/fifo.yaml", "--clock", clock, "--time-scale", "50"]
    code, _, err = _run_cli([*args, "--quiet", "--log", "/dev/full"], capsys)
    assert code == 1
    assert "dtq: the run failed: writing the event log failed: No space left on device" in err


@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_a_disk_that_fills_during_the_run_stops_it_cleanly(tmp_path: Path, clock: str) -> None:
    """The file size limit hit mid-run (as a disk filling would): the run stops with a
    message and exit 1; the log holds every whole line written and verifies as unfinished."""
    path = write_scenario(tmp_path, TORTURE_SCENARIO)
    log = tmp_path / "log.jsonl"
    limit = 150_000

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "dtq", "run", str(path), "--quiet", "--clock", clock]
    done = subprocess.run(
        [*command, "--log", str(log)],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "dtq: the run failed: writing the event log failed: File too large" in done.stderr
    assert "Traceback" not in done.stderr
    assert log.stat().st_size == limit
    verdict = verify_log(log)
    assert verdict.violation_count == 0 and not verdict.is_finished
    assert verdict.events > 100


def test_a_log_that_is_a_folder_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pointing a log command at a folder: exit 2, said plainly."""
    code, _, err = _run_cli(["verify", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err
