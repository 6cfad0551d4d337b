"""`dtq run` on the command line: flags that do not apply say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtq.cli import main

ROOT = Path(__file__).resolve().parent.parent


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
