"""Files that are not what they seem: a log two runs want at once, default names taken in
the same millisecond, named pipes, text and file names that are not UTF-8."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dtq.cli import main
from dtq.engine import runner
from dtq.errors import ScenarioError, UsageError
from dtq.log.sink import open_log, open_new_log
from dtq.log.verify import verify_log
from dtq.scenario import load_scenario
from tests.helpers import SCENARIOS_DIR, scenario
from tests.reliability import TORTURE_SCENARIO, loaded, run_logged, write_scenario

VIRTUAL = ["--clock", "virtual", "--quiet"]
FIFO_SCENARIO = str(SCENARIOS_DIR / "fifo.yaml")


# -- one log, two runs -----------------------------------------------------------------------


def test_a_log_another_run_is_writing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a run holds its log, a second run given the same --log exits 2 and leaves the
    first run's lines alone."""
    log = tmp_path / "shared.jsonl"
    with open_log(log) as first:
        first.write(b'{"seq": 1}\n')
        first.flush()

        code = main(["run", FIFO_SCENARIO, *VIRTUAL, "--log", str(log)])

        assert log.read_bytes() == b'{"seq": 1}\n'
    err = capsys.readouterr().err
    assert code == 2
    assert f"{log} is the event log of another dtq run that is still writing it" in err


@pytest.mark.slow
def test_two_processes_on_one_log_one_refuses_and_the_log_verifies(tmp_path: Path) -> None:
    """A real run writing its log, and a second `dtq run --log` on it: the second exits 2,
    the first goes on (stopped by Ctrl-C here) and its log is whole."""
    slow = {**TORTURE_SCENARIO, "time_scale": 1, "name": "slow"}
    slow["arrivals"] = [{"pattern": "constant", "task": "email", "rate": 5, "until": "10m"}]
    path = write_scenario(tmp_path, slow)
    log = tmp_path / "shared.jsonl"
    command = [sys.executable, "-m", "dtq", "run", str(path), "--quiet", "--log", str(log)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as first:
        try:
            _wait_for_lines(log, first)
            second = subprocess.run(
                command, capture_output=True, text=True, timeout=120, check=False
            )
            first.send_signal(signal.SIGINT)
            assert first.wait(timeout=60) == 130
        finally:
            first.kill()
    assert second.returncode == 2, second.stderr
    assert "another dtq run that is still writing it" in second.stderr
    verdict = verify_log(log)
    assert verdict.is_valid and verdict.status == "interrupted"


def _wait_for_lines(log: Path, process: subprocess.Popen[bytes]) -> None:
    """Until the run has written its first line (so it holds the log)."""
    while not (log.exists() and log.stat().st_size > 0):
        assert process.poll() is None, "the first run ended before writing its log"
        threading.Event().wait(0.01)


def test_a_finished_log_is_overwritten(tmp_path: Path) -> None:
    """Run twice with the same --log, one after the other: the second run's log replaces it."""
    log = tmp_path / "again.jsonl"
    log.write_bytes(b"x" * 100_000)
    assert main(["run", FIFO_SCENARIO, *VIRTUAL, "--log", str(log)]) == 0
    first = verify_log(log)
    assert main(["run", FIFO_SCENARIO, *VIRTUAL, "--seed", "9", "--log", str(log)]) == 0
    second = verify_log(log)
    assert first.is_valid and second.is_valid and second.events > 0


def test_default_names_taken_in_the_same_millisecond_never_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs whose default log names are the same (same scenario, same millisecond)
    write two logs, each printed, each whole."""
    monkeypatch.chdir(tmp_path)  # short relative paths: the summary prints them unwrapped
    same = Path("logs") / "fifo-20260101T000000.000Z.jsonl"
    monkeypatch.setattr(runner, "default_log_path", lambda name: same)

    assert main(["run", FIFO_SCENARIO, *VIRTUAL]) == 0
    assert main(["run", FIFO_SCENARIO, *VIRTUAL]) == 0

    second = same.with_name("fifo-20260101T000000.000Z-2.jsonl")
    out = capsys.readouterr().out
    assert f"event log: {same}" in out and f"event log: {second}" in out
    assert sorted(same.parent.iterdir()) == [second, same]
    assert verify_log(same).is_valid and verify_log(second).is_valid


def test_new_logs_opened_at_once_all_get_their_own_file(tmp_path: Path) -> None:
    """Sixteen threads creating the same proposed name at once: sixteen distinct files."""
    proposed = tmp_path / "run.jsonl"
    barrier = threading.Barrier(16)
    paths: list[Path] = []

    def one() -> None:
        barrier.wait()
        file, path = open_new_log(proposed)
        paths.append(path)
        file.close()

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(paths)) == 16
    assert {path.name for path in tmp_path.iterdir()} == {path.name for path in paths}


# -- named pipes -----------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe that nothing writes to; unblocked after the test should anything wait."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    yield path
    with open(os.open(path, os.O_RDWR | os.O_NONBLOCK), "wb"):  # wakes any reader left
        pass


def _within_a_minute(args: list[str]) -> int:
    """`dtq ARGS` in a thread: fails the test (not hangs it) if it waits for a minute."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(args)), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert result, f"dtq {' '.join(args)} waited on a named pipe"
    return result[0]


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["run", *VIRTUAL],
        ["check"],
        ["verify"],
        ["report"],
        ["replay", "--final", "--plain"],
    ],
    ids=lambda args: args[0],
)
def test_a_named_pipe_is_refused_at_once(
    args: list[str], fifo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe where a scenario or a log goes: exit 2 saying what it is, no waiting."""
    code = _within_a_minute([args[0], str(fifo), *args[1:]])
    out, err = capsys.readouterr()
    assert code == 2
    assert "is a named pipe, not a regular file" in out + err


@pytest.mark.parametrize("name", ["pipe.yaml", "pipe"])
def test_dtq_diff_refuses_a_named_pipe(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dtq diff sniffs what a file is: a named pipe of any name is refused before that."""
    path = tmp_path / name
    os.mkfifo(path)
    try:
        assert _within_a_minute(["diff", str(path), FIFO_SCENARIO]) == 2
    finally:
        os.unlink(path)
    assert "is a named pipe" in capsys.readouterr().err


def test_a_log_to_a_named_pipe_nobody_reads_is_refused(
    fifo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--log naming a pipe with no reader: exit 2 at once rather than waiting for one."""
    assert _within_a_minute(["run", FIFO_SCENARIO, *VIRTUAL, "--log", str(fifo)]) == 2
    assert "a named pipe that nothing reads" in capsys.readouterr().err


# -- text that is not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ('description: "\\ud800"\n', "1:14: description"),
        ('name: "a\\udcff"\n', "1:7: name"),
        ('"\\ud83d\\ude00": 1\n', "1:1: (top level)"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_lone_surrogate_is_located_and_nothing_runs(
    line: str, where: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML's \\ud800 escape makes text that UTF-8 cannot hold: exit 2 at its place, no log."""
    path = tmp_path / "s.yaml"
    path.write_text(line + (SCENARIOS_DIR / "fifo.yaml").read_text(), encoding="utf-8")
    log = tmp_path / "log.jsonl"
    extra = [*VIRTUAL, "--log", str(log)] if command == "run" else []

    assert main([command, str(path), *extra]) == 2

    err = capsys.readouterr().err
    assert f"{path}:{where}: " in err and "surrogate pair, not a character" in err
    assert not log.exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_file_name_that_is_not_utf8_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario file named with bytes that are not UTF-8: exit 2 naming the file, no log."""
    path = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.yaml"))
    path.write_bytes((SCENARIOS_DIR / "fifo.yaml").read_bytes())
    log = tmp_path / "log.jsonl"
    extra = [*VIRTUAL, "--log", str(log)] if command == "run" else []

    assert main([command, str(path), *extra]) == 2

    err = capsys.readouterr().err
    assert "caf\ufffd.yaml:1:1: (file): the file name is not UTF-8 text" in err
    assert not log.exists()


def test_a_run_whose_first_event_cannot_be_written_leaves_no_log(tmp_path: Path) -> None:
    """Text that slipped past validation: the run refuses before its log exists, so no log
    ever lacks run_started."""
    model = scenario(clock="virtual", description="\ud800")
    log = tmp_path / "log.jsonl"
    with pytest.raises(ScenarioError, match="cannot be written to the event log"):
        run_logged(model, log)
    assert not log.exists()


def test_a_scenario_path_that_is_not_utf8_never_starts_a_log(tmp_path: Path) -> None:
    """The same for a scenario loaded from a path that is not UTF-8 (its name goes into
    run_started)."""
    good = load_scenario(SCENARIOS_DIR / "fifo.yaml")
    bad = replace(good, path=Path(os.fsdecode(b"caf\xe9.yaml")))
    log = tmp_path / "log.jsonl"
    with pytest.raises(ScenarioError):
        runner.run(bad.with_overrides(clock="virtual"), log_path=log)
    assert not log.exists()
    virtual = loaded(good.with_overrides(clock="virtual").model)
    assert runner.run(virtual, log_path=log).status == "completed"


def test_an_unwritable_log_is_still_a_usage_error(tmp_path: Path) -> None:
    """open_log keeps its plain message for a folder that cannot be made."""
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError, match="afile is a file, not a folder"):
        open_log(tmp_path / "afile" / "log.jsonl")
