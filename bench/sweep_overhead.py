"""Row 10: what a sweep adds to each point, against the run itself (a 20,000-task point)."""

from __future__ import annotations

from pathlib import Path

from bench.common import Row, alternate, fmt_ms, median, spread
from dtq.render.markdown import markdown_table

TASKS = {"quick": 2_000, "full": 20_000}
GOAL_PCT = 10.0


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Ten points run bare, as sweep points, and with their JSON logs; build row 9."""
    tasks = TASKS[size]
    samples = alternate("sweeps", ["bare", "point", "logged"], repeat=repeat, size=tasks, tmp=tmp)
    bare = median(samples["bare"], "per_point_s")
    point = median(samples["point"], "per_point_s")
    logged = median(samples["logged"], "per_point_s")
    overhead_pct = (point / bare - 1.0) * 100.0
    cpu_pct = (
        median(samples["point"], "cpu_per_point_s") / median(samples["bare"], "cpu_per_point_s")
        - 1.0
    ) * 100.0
    names = {
        "bare": "the run: runner + reducer, no log",
        "point": "a sweep point: worker process, load, run, summary",
        "logged": "the run writing its JSON log (--out)",
    }
    rows = [
        [
            names[key],
            fmt_ms(median(runs, "per_point_s")),
            spread(runs, "per_point_s"),
            fmt_ms(median(runs, "cpu_per_point_s")),
        ]
        for key, runs in samples.items()
    ]
    details = [
        f"Ten points of about {tasks:,} tasks each. `point` runs them as a sweep on one "
        "worker process, timed from before the process starts to the last summary, over "
        "ten points. Without --out a sweep writes no log: events go from the engine to the "
        f"reducer directly; writing and rendering the JSON log would cost "
        f"{(logged / bare - 1.0) * 100.0:+.0f}% per point. In CPU time (this process and "
        f"its ended workers), which other load disturbs less, a point costs {cpu_pct:+.1f}%.",
        "",
        *markdown_table(["variant", "per point", "range (s)", "CPU per point"], rows),
    ]
    return Row(
        number=10,
        title=f"Sweep: per-point overhead on a {tasks:,}-task point",
        dtq=f"{overhead_pct:+.1f}%",
        peers=[f"run alone {fmt_ms(bare)}", f"CPU {cpu_pct:+.1f}%"],
        ratios=[],
        goal=f"<{GOAL_PCT:.0f}%",
        met=overhead_pct < GOAL_PCT,
        details=details,
    )
