"""Row 8: the HTML report of a million-event log: its size, and its time beyond the fold.

The source log is row 4's (a virtual-clock run of a busy scenario with failures,
retries, an outage and a worker crash), written once. Then, side by side:

- fold: `dtq.log.reader.fold_log`, the plain reducer pass every report needs;
- html: what `dtq report LOG --format html -o FILE` does: one fold that also samples the
  time series (`fold_series`), then the page (`render_run_html`) written to a file.

The goal (docs/pictures.md): the file stays under 5 MB and takes under 3 s more than
the plain fold (series sampling, charts, tables, plotly.js packing and the write).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bench.common import Row, Sample, alternate, median, run_worker, worker_main
from bench.fold import EVENTS, LOG_NAME, generate
from dtq.render.markdown import markdown_table

GOAL_BYTES = 5_000_000
GOAL_BEYOND_FOLD_S = 3.0
PAGE_NAME = "report.html"


def run_fold(args: argparse.Namespace) -> Sample:
    """The plain fold, as `dtq report` does before any rendering."""
    from dtq.log.reader import fold_log

    wall0 = time.perf_counter()
    state, _ = fold_log(args.tmp / LOG_NAME)
    return {"events": state.seq, "wall_s": time.perf_counter() - wall0}


def run_html(args: argparse.Namespace) -> Sample:
    """Fold with series, render the page and write it: `dtq report --format html`."""
    from dtq.render.html.run import render_run_html
    from dtq.render.html.series import fold_series

    wall0 = time.perf_counter()
    state, reader = fold_series(args.tmp / LOG_NAME)
    folded = time.perf_counter()
    page = render_run_html(state, warnings=reader.warnings)
    (args.tmp / PAGE_NAME).write_text(page, encoding="utf-8")
    done = time.perf_counter()
    return {
        "events": state.seq,
        "wall_s": done - wall0,
        "fold_s": folded - wall0,
        "render_s": done - folded,
        "bytes": (args.tmp / PAGE_NAME).stat().st_size,
        "points": len(state.sample_t),
    }


def measure(*, size: str, repeat: int, tmp: Path) -> Row:
    """Write the source log, then fold and render it alternately; build row 8."""
    source = run_worker("pictures", "generate", size=EVENTS[size], tmp=tmp)
    samples = alternate("pictures", ["fold", "html"], repeat=repeat, size=EVENTS[size], tmp=tmp)
    beyond = statistics.median(
        h["wall_s"] - f["wall_s"] for f, h in zip(samples["fold"], samples["html"], strict=True)
    )
    size_mb = max(s["bytes"] for s in samples["html"]) / 1e6
    rows = [
        ["plain fold (`dtq.log.reader.fold_log`)", f"{median(samples['fold'], 'wall_s'):.2f}"],
        ["fold with series (`fold_series`)", f"{median(samples['html'], 'fold_s'):.2f}"],
        ["page: charts, tables, plotly.js, write", f"{median(samples['html'], 'render_s'):.2f}"],
        ["html total", f"{median(samples['html'], 'wall_s'):.2f}"],
    ]
    details = [
        f"Source log: {source['events']:,} events ({source['bytes'] / 2**20:.0f} MB), row 4's. "
        f"The page: {size_mb:.2f} MB, {samples['html'][0]['points']} time buckets per series. "
        "Beyond the fold = html total minus the plain fold, paired per repetition.",
        "",
        *markdown_table(["step", "wall s (median)"], rows),
    ]
    return Row(
        number=8,
        title=f"HTML report of a {source['events']:,}-event log: file size, time beyond the fold",
        dtq=f"{size_mb:.2f} MB<br>{beyond:.2f} s beyond the fold",
        peers=[],
        ratios=[],
        goal=f"< {GOAL_BYTES / 1e6:.0f} MB, < {GOAL_BEYOND_FOLD_S:.0f} s",
        met=size_mb * 1e6 < GOAL_BYTES and beyond < GOAL_BEYOND_FOLD_S,
        details=details,
    )


if __name__ == "__main__":
    sys.exit(worker_main({"generate": generate, "fold": run_fold, "html": run_html}))
