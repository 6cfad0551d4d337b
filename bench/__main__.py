"""`python -m bench`: run the benchmark rows, print one table, write bench/results.md."""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import ROOT, SIZES, BenchError, Row
from dtq.render.markdown import markdown_table

# Row number -> module; each module has `measure(size=, repeat=, tmp=) -> Row`.
ROWS = {
    1: "virtual_clock",
    2: "threaded",
    3: "latency",
    4: "fold",
    5: "memory",
    6: "event_path",
    7: "redis_backend",
    8: "pictures",
    9: "sweep_speedup",
    10: "sweep_overhead",
    11: "sweep_memory",
    12: "calls",
    13: "sweep_point",
}
# Rows whose peers are benchmark-only extras (`pip install -e '.[bench]'`).
PEER_MODULES = {1: ("simpy", "ciw"), 7: ("rq", "celery"), 13: ("simpy",)}
DEFAULT_REPEAT = {"quick": 1, "full": 5}
DEFAULT_OUT = ROOT / "bench" / "results.md"
HEADERS = ("#", "benchmark", "dtq", "peers", "ratio", "goal", "result")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of `python -m bench`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark dtq against its peers; every row measured side by side.",
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="full",
        help="quick: tiny workloads, one repetition (a CI smoke test); full: the real sizes",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="ROW",
        help="run only this row (number 1-12 or module name); repeatable",
    )
    parser.add_argument("--repeat", type=int, help="repetitions per variant (quick 1, full 5)")
    parser.add_argument(
        "--out",
        type=Path,
        help="markdown file for the results (default bench/results.md for a full run of "
        "every row; other runs only print unless --out is given)",
    )
    args = parser.parse_args(argv)
    args.rows = _selected(parser, args.only)
    if args.repeat is None:
        args.repeat = DEFAULT_REPEAT[args.size]
    elif args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.out is None and args.size == "full" and args.only is None:
        args.out = DEFAULT_OUT
    return args


def _selected(parser: argparse.ArgumentParser, only: list[str] | None) -> list[int]:
    if not only:
        return sorted(ROWS)
    by_name = {name: number for number, name in ROWS.items()}
    chosen: set[int] = set()
    for item in only:
        if item.isdigit() and int(item) in ROWS:
            chosen.add(int(item))
        elif item in by_name:
            chosen.add(by_name[item])
        else:
            names = ", ".join(f"{n} ({m})" for n, m in ROWS.items())
            parser.error(f"--only {item}: no such row; choose from {names}")
    return sorted(chosen)


def missing_peers(rows: Sequence[int]) -> list[str]:
    """The peer packages the selected rows need that are not installed."""
    needed = [name for row in rows for name in PEER_MODULES.get(row, ())]
    return [name for name in needed if importlib.util.find_spec(name) is None]


def run_rows(rows: Sequence[int], *, size: str, repeat: int) -> list[Row]:
    """Measure each selected row in turn, saying on stderr what runs."""
    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dtq-bench-") as folder:
        for number in rows:
            name = ROWS[number]
            print(f"bench: row {number} ({name}), size {size}, x{repeat} ...", file=sys.stderr)
            started = time.perf_counter()
            module = importlib.import_module(f"bench.{name}")
            tmp = Path(folder) / name
            tmp.mkdir()
            row: Row = module.measure(size=size, repeat=repeat, tmp=tmp)
            took = time.perf_counter() - started
            print(f"bench: row {number} done in {took:.1f}s", file=sys.stderr)
            results.append(row)
    return results


def machine_line(size: str, repeat: int, loads: tuple[float, float]) -> str:
    """Where and how the numbers were taken, with the machine's load around the run."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{stamp} · {os.cpu_count()} CPUs · Python {platform.python_version()} "
        f"({platform.python_implementation()}) · {platform.system()} {platform.machine()} · "
        f"size {size} · median of {repeat} repetition{'s' if repeat != 1 else ''} per variant "
        f"· load average (1 min) {loads[0]:.1f} before, {loads[1]:.1f} after"
    )


def render(rows: Sequence[Row], *, size: str, repeat: int, loads: tuple[float, float]) -> str:
    """The results as markdown: the table, then each row's details."""
    lines = [
        "# dtq benchmarks",
        "",
        machine_line(size, repeat, loads),
        "",
        "Written by `python -m bench` (`make bench`). Each measurement ran in a fresh "
        "subprocess; dtq and its peers alternated within every repetition; the ratio is "
        "the median over repetitions of the paired ratio.",
        "",
        *markdown_table(HEADERS, [row.cells() for row in rows]),
    ]
    for row in rows:
        lines += ["", f"## {row.number}. {row.title}", "", *row.details]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected rows, print the table, write the results file."""
    args = parse_args(argv)
    missing = missing_peers(args.rows)
    if missing:
        print(
            f"bench: the peers {', '.join(missing)} are not installed; run "
            "`pip install -e '.[bench]'` (or `make bench`), or choose other rows with --only",
            file=sys.stderr,
        )
        return 2
    load_before = os.getloadavg()[0]
    try:
        rows = run_rows(args.rows, size=args.size, repeat=args.repeat)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    loads = (load_before, os.getloadavg()[0])
    print(machine_line(args.size, args.repeat, loads))
    print("\n".join(markdown_table(HEADERS, [row.cells() for row in rows])))
    if args.out is not None:
        text = render(rows, size=args.size, repeat=args.repeat, loads=loads)
        args.out.write_text(text, encoding="utf-8")
        print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
