"""Writing baselines: whole files only, whatever else is writing the same one."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dtq.compare.baseline import BaselineError, baseline_text, write_baseline


def _baseline(tasks: int) -> dict[str, Any]:
    return {"format": 1, "scenario": "race", "totals": {"submitted": tasks}, "dlq": []}


def test_writers_of_one_baseline_at_once_never_fail_nor_leave_half_a_file(
    tmp_path: Path,
) -> None:
    """Eight threads rewriting one baseline 100 times each with two contents: no write fails,
    the file is always one whole version, no temporary file is left behind."""
    path = tmp_path / "baselines" / "race.json"
    versions = [_baseline(1), _baseline(2)]
    barrier = threading.Barrier(8)
    errors: list[BaselineError] = []

    def writer(offset: int) -> None:
        barrier.wait()
        for round_ in range(100):
            try:
                write_baseline(path, versions[(round_ + offset) % 2])
            except BaselineError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert path.read_text(encoding="utf-8") in {baseline_text(v) for v in versions}
    assert [p.name for p in path.parent.iterdir()] == ["race.json"]


def test_an_unchanged_baseline_is_not_rewritten(tmp_path: Path) -> None:
    """Writing what the file already says changes nothing and says so."""
    path = tmp_path / "b.json"
    assert write_baseline(path, _baseline(3)) is True
    before = path.stat().st_mtime_ns
    assert write_baseline(path, _baseline(3)) is False
    assert path.stat().st_mtime_ns == before
