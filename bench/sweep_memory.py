"""Row 11: a sweep's memory stays flat as its points grow (40 against 160 points)."""

from __future__ import annotations

from pathlib import Path

from bench.common import Row, alternate, fmt_mb, fmt_ratio, median, paired_ratio
from dtq.render.markdown import markdown_table

TASKS = {"quick": 100, "full": 1_000}
GOAL = 1.10


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Peak RSS of a 40-point and a 160-point sweep in one process; build row 10."""
    tasks = TASKS[size]
    samples = alternate("sweeps", ["mem160", "mem40"], repeat=repeat, size=tasks, tmp=tmp)
    growth = paired_ratio(samples["mem160"], samples["mem40"], "peak_rss_kb")
    rows = [
        [
            f"{int(runs[0]['points'])} points",
            fmt_mb(median(runs, "peak_rss_kb")),
            f"{median(runs, 'wall_s'):.1f}",
        ]
        for runs in samples.values()
    ]
    details = [
        f"Sweeps of 40 and 160 points (one seed each, about {tasks:,} tasks per point) run "
        "in one process (--jobs 1), so the peak holds every run's memory as well as the "
        "results: each point is summarised as it finishes and its runs are dropped.",
        "",
        *markdown_table(["sweep", "peak RSS", "wall s"], rows),
    ]
    return Row(
        number=11,
        title="Sweep: peak memory, 160 points against 40",
        dtq=fmt_mb(median(samples["mem160"], "peak_rss_kb")),
        peers=[f"40 points {fmt_mb(median(samples['mem40'], 'peak_rss_kb'))}"],
        ratios=[f"{fmt_ratio(growth)} 40 points"],
        goal=f"≤{GOAL:.2f}x",
        met=growth <= GOAL,
        details=details,
    )
