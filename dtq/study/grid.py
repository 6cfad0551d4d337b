"""A sweep's grid: the swept values (`--set PATH=V1,V2,...`), the seeds, and its points.

A point is one combination of the swept values; each runs once per seed. Every point's
scenario is built and validated before anything runs, so a bad value stops the sweep
at once with the `--set` that caused it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dtq.errors import UsageError
from dtq.scenario import LoadedScenario
from dtq.scenario.loader import ScenarioSource
from dtq.scenario.overrides import Override, read_value, split_assignment

MAX_RUNS = 1_000_000
_SEEDS = re.compile(r"^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$")
_FIXED = {
    "seed": "the sweep sets each run's seed; choose them with --seeds N or --seeds A..B",
    "clock": "a sweep always runs on the virtual clock",
    "backend": "a sweep runs in memory on the virtual clock",
}


@dataclass(frozen=True)
class Axis:
    """One swept path and its values, each with the text it was written as."""

    path: str
    texts: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One combination of swept values, its scenario, and its index in the grid."""

    index: int
    coords: tuple[tuple[str, str], ...]
    """(path, value as written) for each axis, in axis order."""
    scenario: LoadedScenario

    def label(self) -> str:
        """`workers=8 retry.max_attempts=4`, or `(the scenario as written)` with no axes."""
        return " ".join(f"{path}={text}" for path, text in self.coords) or "(as written)"


def parse_axis(text: str) -> Axis:
    """`PATH=V1,V2,...`: the values are a YAML flow list without its brackets."""
    path, values_text = split_assignment(text)
    dotted = ".".join(path)
    if path[0] in _FIXED and len(path) == 1:
        raise UsageError(f"--set {text}: {_FIXED[path[0]]}")
    values = read_value(f"[{values_text}]", flag=f"--set {text}")
    if not isinstance(values, list) or not values or values_text.strip() == "":
        raise UsageError(f"--set {text}: give one value or more, e.g. --set {dotted}=4,8,16")
    texts = tuple(_split_texts(values_text, len(values)))
    if len(set(texts)) != len(texts):
        raise UsageError(f"--set {text}: a value is listed twice")
    return Axis(dotted, texts, tuple(values))


def _split_texts(values_text: str, count: int) -> list[str]:
    """The values as written: split at the commas outside brackets and quotes."""
    parts: list[str] = []
    depth, quote, current = 0, "", ""
    for character in values_text:
        if quote:
            quote = "" if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character in "[{":
            depth += 1
        elif character in "]}":
            depth -= 1
        elif character == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += character
    parts.append(current.strip())
    return parts if len(parts) == count else [str(index + 1) for index in range(count)]


def parse_seeds(text: str) -> tuple[int, ...]:
    """`N` (seeds 1 to N) or `A..B` (A to B, both included)."""
    match = _SEEDS.match(text)
    if match is None:
        raise UsageError(f"--seeds {text}: give a count such as 10, or a range such as 1..10")
    first, last = (1, int(match[1])) if match[2] is None else (int(match[1]), int(match[2]))
    if last < first or (match[2] is None and last < 1):
        raise UsageError(f"--seeds {text}: no seeds in it; for example --seeds 10 or 1..10")
    return tuple(range(first, last + 1))


def build_points(source: ScenarioSource, axes: Sequence[Axis], seeds: Sequence[int]) -> list[Point]:
    """Every point of the grid, each validated (ScenarioError naming the `--set` if bad)."""
    combos = list(itertools.product(*(range(len(axis.values)) for axis in axes)))
    runs = len(combos) * len(seeds)
    if runs > MAX_RUNS:
        raise UsageError(f"the sweep has {runs:,} runs, over the cap of {MAX_RUNS:,}")
    return [_point(source, axes, index, combo) for index, combo in enumerate(combos)]


def _point(
    source: ScenarioSource, axes: Sequence[Axis], index: int, combo: tuple[int, ...]
) -> Point:
    overrides = [
        Override(f"{axis.path}={axis.texts[i]}", tuple(axis.path.split(".")), axis.values[i])
        for axis, i in zip(axes, combo, strict=True)
    ]
    scenario = source.load(overrides).with_overrides(clock="virtual", backend="memory")
    coords = tuple((axis.path, axis.texts[i]) for axis, i in zip(axes, combo, strict=True))
    return Point(index, coords, scenario)


def iter_runs(points: Sequence[Point], seeds: Sequence[int]) -> Iterator[tuple[Point, int]]:
    """Every (point, seed) run, point by point, so whole points finish early."""
    for point in points:
        for seed in seeds:
            yield point, seed
