"""`dtq run` on the command line: flags that do not apply say so."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dtq import cli
from dtq.cli import main
from tests.eventlog_factory import small_log
from tests.terminal import dtq_on_terminal

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_time_scale_on_the_virtual_clock_warns_instead_of_being_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--time-scale with --clock virtual runs, and says the flag has no effect there."""
    code = main(
        [
            "run",
            str(ROOT / "scenarios" / "fifo.yaml"),
            "--clock",
            "virtual",
            "--time-scale",
            "10",
            "--quiet",
            "--log",
            str(tmp_path / "log.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "--time-scale has no effect on the virtual clock" in err


@pytest.mark.slow
def test_the_live_dashboard_draws_in_a_real_terminal_and_the_run_exits_0(
    tmp_path: Path,
) -> None:
    """`dtq run` on a pseudo-terminal: dashboard frames appear, the summary follows, exit 0,
    and the terminal's settings are as they were."""
    log = tmp_path / "live.jsonl"
    # fifo.yaml on the real clock at 20x: about 1.5 s of dashboard.
    args = ["run", "scenarios/fifo.yaml", "--time-scale", "20", "--log", str(log)]
    with dtq_on_terminal(args) as term:
        assert term.read_until(b"Workers", 30), term.output.decode()
        assert term.read_until(b"Run summary", 60), term.output.decode()
        assert term.proc.wait(timeout=30) == 0, term.output.decode(errors="replace")[-2000:]
        term.read_until(b"\0never", 0.2)
        text = ANSI.sub("", term.output.decode(errors="replace")).replace("\r\n", "\n")
        assert "dtq fifo" in text and "Queue depth" in text and "Workers (" in text
        assert "event log:" in text and log.name in text  # the path may wrap at 80 columns
        assert term.settings_unchanged()


# -- start-up: signals, closed pipes, lazy imports -------------------------------------------


def _handles_sigterm(pid: int) -> bool:
    """Whether the process has installed a handler for SIGTERM (Linux: /proc SigCgt)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone already: nothing left to wait for
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


def _signal_during_startup(args: list[str], sig: int, delay_s: float) -> tuple[int, str]:
    """Start `python -m dtq ARGS`, wait until dtq's own handler is in (before that, only
    Python's start-up runs, which dtq cannot guard), then send `sig` after `delay_s`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtq", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not _handles_sigterm(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay_s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode(errors="replace")


STARTUP_DELAYS_S = (0.0, 0.01, 0.03, 0.08, 0.2)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    "args",
    [
        ["run", "scenarios/burst.yaml", "--clock", "virtual", "--quiet", "--log", "{log}"],
        ["validate", "scenarios/burst.yaml"],
        # At speed 1 the replay lasts longer than the last signal comes: it is always hit.
        ["replay", "{log}", "--plain", "--speed", "1"],
    ],
    ids=["run", "validate", "replay"],
)
@pytest.mark.slow
def test_a_signal_in_the_first_moments_never_prints_a_traceback(
    tmp_path: Path, args: list[str], sig: int
) -> None:
    """SIGINT/SIGTERM while dtq imports and loads: exit 130 (or 0 if it was already done),
    one line saying so, never a traceback (issue: pydantic wrapped a KeyboardInterrupt)."""
    log = tmp_path / "log.jsonl"
    small_log().write(log)
    args = [
        arg.replace("{log}", str(log if args[0] != "run" else tmp_path / "run.jsonl"))
        for arg in args
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(
            pool.map(lambda delay: _signal_during_startup(args, sig, delay), STARTUP_DELAYS_S)
        )
    for delay, (code, err) in zip(STARTUP_DELAYS_S, results, strict=True):
        assert "Traceback" not in err and "Error" not in err, f"after {delay}s:\n{err}"
        assert code in (0, 1, 130), f"after {delay}s: exit {code}\n{err}"
    assert any(code == 130 for code, _ in results)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "scenarios/fifo.yaml", "--clock", "virtual", "--plain", "--log", "{log}"],
        ["schema"],
        ["report", "{small}", "--format", "json"],
        ["--help"],
    ],
    ids=["run", "schema", "report", "help"],
)
def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path, args: list[str]) -> None:
    """`dtq ... | head -1` exits 0 without a word on stderr."""
    small = small_log().write(tmp_path / "small.jsonl")
    args = [
        a.replace("{log}", str(tmp_path / "run.jsonl")).replace("{small}", str(small)) for a in args
    ]
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "dtq", *args])
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{command} | head -c 1"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b""


def test_help_validate_and_schema_import_no_engine_no_rich_no_structlog(tmp_path: Path) -> None:
    """The command line is parsed before anything heavy is imported; help and schema never
    import the dashboard, the log writer or the engines at all."""
    probe = (
        "import sys, contextlib, io\n"
        "from dtq.cli import main\n"
        "for argv in (['--help'], ['schema'], ['validate', 'scenarios/burst.yaml']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "heavy = ('rich', 'structlog', 'redis', 'dtq.engine', 'dtq.render', 'dtq.log')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- an interrupted run on a terminal --------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_on_the_live_dashboard_leaves_one_clean_final_frame(tmp_path: Path) -> None:
    """Typed keys are not echoed (an echoed ^C scrolls a stale RUNNING frame into view), the
    final frame offers no Ctrl-C any more, and expectations of the part that ran are said
    to be not evaluated, never ✓."""
    log = tmp_path / "live.jsonl"
    args = ["run", "scenarios/steady.yaml", "--time-scale", "2", "--log", str(log)]
    with dtq_on_terminal(args) as term:
        assert term.read_until(b"Ctrl-C stops the run", 60), term.output.decode(errors="replace")
        os.write(term.master, b"typed^C")
        term.read_until(b"\0never", 1.0)
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(timeout=60) == 130, term.output.decode(errors="replace")[-3000:]
        term.read_until(b"\0never", 0.3)
        assert term.settings_unchanged()
    text = ANSI.sub("", term.output.decode(errors="replace"))
    assert "typed" not in text
    final = text[text.rindex("INTERRUPTED") :]
    assert "Ctrl-C stops the run" not in final
    assert "expectations not evaluated: the run was interrupted" in final
    assert "✓" not in final and "✗" not in final


# -- make and run_scenario.py ----------------------------------------------------------------


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the project, never reinstalling (the .venv stamp counts as current)."""
    stamp = Path(sys.prefix) / ".installed"
    # As a user runs it: not nested in the `make test` that may be running this suite,
    # whose level and variables would make it print "Entering directory" and pass ARGS on.
    nested = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    env = {key: value for key, value in os.environ.items() if key not in nested}
    return subprocess.run(
        ["make", "-o", str(stamp), f"VENV={sys.prefix}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_report_prints_only_the_report_so_it_pipes_into_jq(tmp_path: Path) -> None:
    """make echoes no command onto stdout: `make report ... ARGS="--format json" | jq` works."""
    log = small_log().write(tmp_path / "small.jsonl")
    result = _make("report", f"LOG={log}", "ARGS=--format json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["submitted"] == 4


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_validate_is_dtq_validate_and_theory_has_its_own_name() -> None:
    result = _make("-n", "theory")
    assert "python -m dtq.theory" in result.stdout
    result = _make("validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok  scenarios/") and "dtq validate" not in result.stdout


def test_run_scenario_outside_the_venv_starts_again_inside_it(tmp_path: Path) -> None:
    """The base Python (no rich, no structlog) re-executes run_scenario.py under .venv."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not base.exists() or Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("needs the project's .venv and the Python it was made from")
    log = tmp_path / "run.jsonl"
    args = ["scenarios/fifo.yaml", "--clock", "virtual", "--quiet", "--log", str(log)]
    result = subprocess.run(
        [str(base), "-I", "run_scenario.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and log.exists()


def test_run_scenario_without_a_venv_says_what_to_run(tmp_path: Path) -> None:
    """No .venv next to it and modules missing: one line saying what to run, exit 2."""
    script = tmp_path / "run_scenario.py"
    shutil.copy(ROOT / "run_scenario.py", script)
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script), "scenarios/burst.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "make install" in result.stderr and "scenarios/burst.yaml" in result.stderr


def test_the_help_lines_of_dtq_help_are_the_commands_own() -> None:
    """`dtq --help` lists each command from dtq.cli without importing it: the lines match."""
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    own = {action.dest: action.help for action in subparsers._choices_actions}
    assert own == {name: help_line for name, (_, help_line) in cli.COMMANDS.items()}
