"""The quick benchmark run (`make bench SIZE=quick`) completes and reports every row.

Timing goals live in the benchmarks, not here: this only checks that every row runs
to the end, prints its line and writes the results file, whatever the numbers are.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("simpy", "ciw", "rq", "celery")
ROW_TITLES = (
    "Virtual clock",
    "Threaded engine",
    "Dispatch latency",
    "Fold rate",
    "Memory",
    "Event path",
    "no-op tasks/s through Redis",
    "HTML report of a",
    "Sweep: 40 points",
    "Sweep: per-point overhead",
    "Sweep: peak memory",
    "Dependency calls",
    "Sweep point",
)

missing = [name for name in PEERS if importlib.util.find_spec(name) is None]


@pytest.mark.slow
@pytest.mark.timeout(660)  # the bench run's own limit (600 s) goes off first
@pytest.mark.skipif(
    bool(missing),
    reason=f"benchmark-only peers not installed ({', '.join(missing)}): pip install -e '.[bench]'",
)
def test_quick_benchmark_prints_every_row(tmp_path: Path) -> None:
    """`python -m bench --size quick` exits 0, prints rows 1-13 and writes them to --out."""
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    # The header, the `| --- |` rule, then a line per row.
    assert table[1].startswith("| --- |")
    numbers = [line.split("|")[1].strip() for line in table[2:]]
    assert numbers == [str(number) for number in range(1, 14)]
    written = out.read_text(encoding="utf-8")
    for title in ROW_TITLES:
        assert title in proc.stdout
        assert f". {title}" in written  # each row's details section
    assert "CPUs · Python" in written
