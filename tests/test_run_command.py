"""`dtq run` on the command line: flags that do not apply say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dtq.cli import main
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
