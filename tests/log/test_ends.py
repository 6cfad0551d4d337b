"""Where a log ends: nothing at all, text after run_finished, or a disk that filled."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dtq.cli import main
from dtq.log.reader import fold_log, fold_written
from dtq.log.verify import verify_log
from tests.eventlog_factory import small_log
from tests.reliability import TORTURE_SCENARIO, write_scenario

READERS = (["verify"], ["report"], ["report", "--format", "json"], ["replay", "--final"])


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`dtq ARGS` in-process: exit code, stdout, stderr; no traceback allowed."""
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("garbage", [b"xx\x00garbage", b"garbage\n", b'{"seq": 9, "t"\n'])
@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_text_appended_after_run_finished_is_named_not_called_a_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], garbage: bytes
) -> None:
    """A complete log with garbage after run_finished: exit 2 naming both lines."""
    log = small_log().write(tmp_path / "run.jsonl")
    finished_line = len(log.read_bytes().splitlines())
    log.write_bytes(log.read_bytes() + garbage)
    code, out, err = run_cli([*command, str(log)], capsys)
    assert code == 2
    assert f"{log}:{finished_line + 1}: not an event, after run_finished on line" in err
    assert "killed" not in out + err and "cut short" not in out + err


@pytest.mark.parametrize("command", READERS[1:], ids=" ".join)
def test_an_empty_log_is_an_error_for_the_commands_that_show_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_bytes(b"")
    code, out, err = run_cli([*command, str(log)], capsys)
    assert (code, out) == (2, "")
    assert f"{log}: no events" in err and "None" not in err


def test_an_empty_log_still_verifies_as_unfinished(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_bytes(b"")
    verdict = verify_log(log)
    assert verdict.exit_code() == 1 and not verdict.is_finished


def test_a_whole_log_without_run_finished_is_unfinished_not_running(tmp_path: Path) -> None:
    b = small_log()
    b.events.pop()  # no run_finished: the run was killed
    log = b.write(tmp_path / "killed.jsonl")
    state, _ = fold_log(log)
    assert state.status == "unfinished"
    assert fold_log(log, until_t=0.0)[0].status == "running"  # a prefix: more may come


def test_what_a_log_holds_is_not_read_from_a_device() -> None:
    assert fold_written("/dev/full") is None


def test_after_a_full_disk_the_summary_shows_what_the_log_holds(tmp_path: Path) -> None:
    """The file size limit hit mid-run: the summary counts the log's events and says
    the run is unfinished (it showed `running` and `submitted 0` before)."""
    path = write_scenario(tmp_path, TORTURE_SCENARIO)
    log = tmp_path / "log.jsonl"
    limit = 150_000

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "dtq", "run", str(path), "--quiet", "--clock", "virtual"]
    done = subprocess.run(
        [*command, "--log", str(log)],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    rows = dict(line.split() for line in done.stdout.splitlines() if len(line.split()) == 2)
    submitted = sum(
        1
        for line in log.read_bytes().splitlines()
        if line.endswith(b"}") and orjson.loads(line)["event"] == "task_submitted"
    )
    assert submitted > 0
    assert rows["status"] == "unfinished"
    assert rows["submitted"] == str(submitted)
