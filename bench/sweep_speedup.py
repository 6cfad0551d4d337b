"""Row 9: a sweep of 40 points on two worker processes against one process."""

from __future__ import annotations

from pathlib import Path

from bench.common import Row, alternate, fmt_ratio, median, paired_ratio, spread
from dtq.render.markdown import markdown_table

TASKS = {"quick": 300, "full": 5_000}
GOAL = 1.7


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Time the same 40-point sweep with --jobs 1 and --jobs 2 and build row 8."""
    tasks = TASKS[size]
    samples = alternate("sweeps", ["jobs2", "jobs1"], repeat=repeat, size=tasks, tmp=tmp)
    speedup = paired_ratio(samples["jobs2"], samples["jobs1"], "rate")
    rows = [
        [
            f"--jobs {key[-1]}",
            f"{median(runs, 'wall_s'):.2f}",
            spread(runs, "wall_s"),
            f"{median(runs, 'rate'):.1f}",
            f"{median(runs, 'cpu_s'):.2f}",
        ]
        for key, runs in samples.items()
    ]
    details = [
        f"40 points (workers 4-13 x retry.max_attempts 2-5), one seed each, about {tasks:,} "
        "tasks per point with an outage; the sweep through `dtq.study` (plan, runs, "
        "summaries), worker-process start included. The ratio is the points/s of --jobs 2 "
        "over --jobs 1, so on a 2-core machine 2.0x is the ceiling. CPU s: this process "
        "and its workers; what --jobs 2 spends beyond --jobs 1 is the workers' start and "
        "the hand-off of runs and results.",
        "",
        *markdown_table(["variant", "wall s", "range", "points/s", "CPU s"], rows),
    ]
    return Row(
        number=9,
        title="Sweep: 40 points, --jobs 2 vs --jobs 1 (points/s)",
        dtq=f"{median(samples['jobs2'], 'rate'):.1f} points/s",
        peers=[f"--jobs 1 {median(samples['jobs1'], 'rate'):.1f} points/s"],
        ratios=[f"{fmt_ratio(speedup)} --jobs 1"],
        goal=f"≥{GOAL}x",
        met=speedup >= GOAL,
        details=details,
    )
