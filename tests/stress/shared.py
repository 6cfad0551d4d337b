"""Several runs at once on one log: the same `--log`, or the same default log name.

With one `--log`, a run that finds another writing it must refuse (exit 2, saying so)
and leave its lines alone: the log left is whole and verifies. Without `--log`, runs of
one scenario started together must each get a log of their own.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from dtq.errors import LogFormatError
from dtq.log.verify import verify_log
from tests.reliability import TORTURE_SCENARIO, write_scenario
from tests.stress import Figures

RUNS_AT_ONCE = 3
REFUSAL = "another dtq run that is still writing it"
TIMEOUT_S = 120.0


def shared_logs(figures: Figures, folder: Path, *, trials: int) -> None:
    """`trials` times each: RUNS_AT_ONCE runs on one `--log`, and on one default name."""
    fast = {**TORTURE_SCENARIO, "name": "shared", "time_scale": 20}
    scenario = write_scenario(folder, fast)
    for index in range(trials):
        log = folder / f"shared-{index:03d}.jsonl"
        figures.trial("runs at once on one --log", one_log(scenario, log))
        figures.trial("runs at once on one default log name", default_names(scenario))
        log.unlink(missing_ok=True)


def _start(scenario: Path, extra: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "dtq", "run", str(scenario), "--quiet", *extra]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd
    )


def _ends(processes: list[subprocess.Popen[str]]) -> list[tuple[int | None, str]]:
    results: list[tuple[int | None, str]] = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate(timeout=30)
            err = "did not end in time\n" + err
        results.append((process.returncode, err))
    return results


def one_log(scenario: Path, log: Path) -> list[str]:
    """Runs on one --log: each exits 0 or refuses with 2; the log left verifies whole."""
    results = _ends([_start(scenario, ["--log", str(log)]) for _ in range(RUNS_AT_ONCE)])
    problems = []
    for code, err in results:
        if "Traceback" in err or code not in (0, 2) or (code == 2 and REFUSAL not in err):
            problems.append(f"exit {code}: {err[-400:]}")
    if not any(code == 0 for code, _ in results):
        problems.append("no run wrote the log")
    problems += _verified(log)
    return problems


def default_names(scenario: Path) -> list[str]:
    """Runs of one scenario without --log, started together: one whole log each."""
    with tempfile.TemporaryDirectory(prefix="dtq-shared-") as tmp:
        folder = Path(tmp)
        results = _ends([_start(scenario, [], cwd=folder) for _ in range(RUNS_AT_ONCE)])
        problems = [f"exit {code}: {err[-400:]}" for code, err in results if code != 0]
        logs = sorted((folder / "logs").glob("*.jsonl"))
        if len(logs) != RUNS_AT_ONCE:
            problems.append(f"{RUNS_AT_ONCE} runs left {len(logs)} logs")
        for log in logs:
            problems += _verified(log)
    return problems


def _verified(log: Path) -> list[str]:
    try:
        verdict = verify_log(log)
    except LogFormatError as exc:
        return [f"unreadable log: {exc}"]
    if not verdict.is_valid or verdict.status != "completed":
        return [f"{log}: status {verdict.status}, {verdict.violation_count} violations"]
    return []
