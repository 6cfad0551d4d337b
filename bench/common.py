"""Shared pieces of the benchmarks: worker subprocesses, medians, formatting, the row record.

A measurement runs in a fresh interpreter so that no variant inherits another's heap,
warm caches or peak RSS. The worker prints one JSON object on its last stdout line;
the parent collects those samples and reduces them to medians.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtq.scenario import LoadedScenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("quick", "full")

Sample = dict[str, Any]
WorkerFn = Callable[[argparse.Namespace], Sample]


class BenchError(Exception):
    """A benchmark worker failed, timed out or printed no result."""


@dataclass
class Row:
    """One line of the results table, plus the detail lines printed under it."""

    number: int
    title: str
    dtq: str
    peers: list[str]
    ratios: list[str]
    goal: str
    met: bool | None
    details: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        """The table cells of this row."""
        met = "n/a" if self.met is None else ("met" if self.met else "**missed**")
        peers = "<br>".join(self.peers) or "-"
        ratios = "<br>".join(self.ratios) or "-"
        return [str(self.number), self.title, self.dtq, peers, ratios, self.goal, met]


# -- worker side ----------------------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's peak resident set size so far, in kB (Linux reports kB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def worker_main(variants: Mapping[str, WorkerFn], argv: Sequence[str] | None = None) -> int:
    """Run one variant in this process and print its sample as one JSON line."""
    parser = argparse.ArgumentParser(description="one benchmark measurement (run by bench)")
    parser.add_argument("--worker", required=True, choices=sorted(variants))
    parser.add_argument("--size", type=int, required=True, help="workload size (tasks, events)")
    parser.add_argument("--tmp", type=Path, required=True, help="folder for logs and files")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sample = variants[args.worker](args)
    sample.setdefault("peak_rss_kb", peak_rss_kb())
    sys.stdout.write(json.dumps(sample) + "\n")
    return 0


def scenario_file(tmp: Path, name: str, text: str) -> LoadedScenario:
    """Write scenario YAML into `tmp` and load it the way `dtq run` does."""
    path = tmp / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def count_lines(path: Path) -> int:
    """How many lines a file holds (read in large blocks)."""
    lines = 0
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            lines += block.count(b"\n")
    return lines


# -- parent side ----------------------------------------------------------------------


def run_worker(
    module: str, variant: str, *, size: int, tmp: Path, seed: int = 1, timeout_s: float = 900.0
) -> Sample:
    """Run `python -m bench.<module> --worker <variant>` and return its JSON sample."""
    cmd = [sys.executable, "-m", f"bench.{module}", "--worker", variant]
    cmd += ["--size", str(size), "--tmp", str(tmp), "--seed", str(seed)]
    shown = " ".join(cmd[1:])
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{shown}` took longer than {timeout_s:g}s; stopped it") from exc
    if proc.returncode != 0:
        raise BenchError(f"`{shown}` failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise BenchError(f"`{shown}` printed no result")
    sample: Sample = json.loads(lines[-1])
    return sample


def alternate(
    module: str,
    variants: Sequence[str],
    *,
    repeat: int,
    size: int,
    tmp: Path,
    timeout_s: float = 900.0,
) -> dict[str, list[Sample]]:
    """Run every variant `repeat` times, interleaved and rotated, so that drifting machine
    load falls on all of them alike; repetition r uses seed r + 1 for every variant."""
    samples: dict[str, list[Sample]] = {variant: [] for variant in variants}
    for rep in range(repeat):
        shift = rep % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            sample = run_worker(
                module, variant, size=size, tmp=tmp, seed=rep + 1, timeout_s=timeout_s
            )
            samples[variant].append(sample)
    return samples


def median(samples: Sequence[Sample], key: str) -> float:
    """The median of one numeric field over samples."""
    return float(statistics.median(float(s[key]) for s in samples))


def paired_ratio(mine: Sequence[Sample], theirs: Sequence[Sample], key: str) -> float:
    """Median over repetitions of mine[key] / theirs[key] (runs of one repetition are paired)."""
    ratios = [float(a[key]) / float(b[key]) for a, b in zip(mine, theirs, strict=True)]
    return float(statistics.median(ratios))


def cpu_ratio(mine: Sequence[Sample], theirs: Sequence[Sample]) -> float:
    """Median over repetitions of their CPU time per task over mine (above 1: mine is cheaper).

    CPU time moves less than wall time when other processes share the machine.
    """
    ratios = [
        (float(b["cpu_s"]) / float(b["tasks"])) / (float(a["cpu_s"]) / float(a["tasks"]))
        for a, b in zip(mine, theirs, strict=True)
    ]
    return float(statistics.median(ratios))


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of unsorted values (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(percent / 100.0 * len(ordered))
    return ordered[max(rank, 1) - 1]


def spread(samples: Sequence[Sample], key: str) -> str:
    """`min-max` of one field over samples, for the detail tables."""
    values = [float(s[key]) for s in samples]
    return f"{fmt_num(min(values))}-{fmt_num(max(values))}"


# -- formatting -----------------------------------------------------------------------


def fmt_num(value: float) -> str:
    """A count or rate with thousands separators (three significant digits below 100)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_ratio(value: float) -> str:
    """A ratio such as `2.41x`."""
    return f"{value:.2f}x"


def fmt_ms(seconds: float) -> str:
    """Seconds shown as milliseconds, `0.214 ms`."""
    return f"{seconds * 1000:.3f} ms"


def fmt_mb(kilobytes: float) -> str:
    """kB shown as MB."""
    return f"{kilobytes / 1024:.1f} MB"
