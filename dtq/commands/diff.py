"""`dtq diff A B`: compare the DLQ, totals, metrics and settings of two runs."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml
from rich.console import Console

from dtq.commands.output import add_format_options, output_stream, page_path, write_page
from dtq.compare.baseline import (
    KIND_LOG,
    KIND_SCENARIO,
    RunResults,
    baseline_results,
    is_baseline,
    results_from_state,
    simulate_scenario,
)
from dtq.compare.diff import FAIL_ON, build_diff, is_failure
from dtq.errors import UsageError
from dtq.files import file_kind
from dtq.fold.state import RunState
from dtq.log.reader import fold_log
from dtq.render.diff import render_markdown, render_text
from dtq.scenario import load_scenario
from dtq.scenario.overrides import Override, parse_overrides

NewState = Callable[[], RunState]

_SCENARIO_SUFFIXES = (".yaml", ".yml")
_SNIFF_LIMIT_BYTES = 5 * 1024 * 1024
"""Files larger than this are not parsed whole to guess their kind (a scenario's cap too)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dtq diff` to the command line."""
    parser = subparsers.add_parser(
        "diff",
        help="compare the DLQ and metrics of two runs (logs, baselines or scenarios)",
        description=(
            "Compare two runs: DLQ entries only in A, only in B or changed; DLQ counts by "
            "reason, priority and type; totals; per-priority wait, throughput and success "
            "rate; and the settings that differ. A and B are event logs (.jsonl), baselines "
            "(baselines/<name>.json) or scenario files (.yaml), which run on the virtual clock."
        ),
    )
    parser.add_argument("a", type=Path, metavar="A", help="log, baseline or scenario")
    parser.add_argument("b", type=Path, metavar="B", help="log, baseline or scenario")
    add_format_options(parser, json_doc="docs/diff-json.md", page="with both runs overlaid")
    _add_judging_options(parser)
    parser.set_defaults(handler=handle)


def _add_judging_options(parser: argparse.ArgumentParser) -> None:
    """What counts as a difference, what is shown, and how scenario sides run."""
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="dlq",
        help="exit 1 when the DLQ differs (default), when a per-priority metric moves more "
        "than --tolerance, or never",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=10.0,
        metavar="PCT",
        help="--fail-on metrics: the relative change allowed, in percent (default 10)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="text and markdown: show every row, also totals and metrics that did not move "
        "(by default hidden, as are metric changes under 1ms, 0.01/s or 0.01 pts)",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="run scenario files with this seed, not their own"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="PATH=VALUE",
        help="change a value of the scenario side(s), e.g. diff a baseline with "
        "scenarios/outage.yaml --set retry.max_attempts=6 (repeatable)",
    )


def handle(args: argparse.Namespace) -> int:
    """Compare and print; 0 no counted difference, 1 a difference, 2 bad input."""
    tolerance: float = args.tolerance
    if not math.isfinite(tolerance) or tolerance < 0:
        raise UsageError(f"--tolerance: must be a percentage of 0 or more (got {tolerance:g})")
    args.overrides = parse_overrides(args.set)
    if args.format == "html":
        return _html(args, tolerance)
    side_a, side_b = load_sides(args.a, args.b, seed=args.seed, overrides=args.overrides)
    _check_set(args, side_a, side_b)
    if args.fail_on == "metrics":
        for side in (side_a, side_b):
            if side.metrics is None:
                raise UsageError(
                    f"--fail-on metrics: {side.source} is a baseline, which holds no wait "
                    "times; diff an event log or the scenario file instead"
                )
    diff = build_diff(side_a, side_b, tolerance_pct=tolerance)
    with output_stream(args.output) as out:
        if args.format == "json":
            out.write(orjson.dumps(diff, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif args.format == "markdown":
            out.write(render_markdown(diff, show_all=args.all))
        else:
            Console(file=out, highlight=False).print(render_text(diff, show_all=args.all))
    return 1 if is_failure(diff, args.fail_on) else 0


def _html(args: argparse.Namespace, tolerance: float) -> int:
    """Both runs overlaid on one page; the sides folded once, with their time series."""
    path = page_path(args.output, example="diff.html")
    from dtq.render.html.diff import render_diff_html
    from dtq.render.html.series import SeriesState

    options: dict[str, Any] = {"seed": args.seed, "overrides": args.overrides}
    a, state_a = load_side_state(args.a, new_state=SeriesState, **options)
    if a.kind == KIND_SCENARIO and args.a.resolve() == args.b.resolve():
        b, state_b = a, state_a
    else:
        b, state_b = load_side_state(args.b, new_state=SeriesState, **options)
    _check_set(args, a, b)
    diff = build_diff(a, b, tolerance_pct=tolerance)
    write_page(path, render_diff_html(diff, state_a, state_b))
    return 1 if is_failure(diff, args.fail_on) else 0


def _check_set(args: argparse.Namespace, a: RunResults, b: RunResults) -> None:
    """--set applies to scenario sides: refuse it when there is none (never ignored)."""
    if args.set and KIND_SCENARIO not in (a.kind, b.kind):
        raise UsageError("--set changes scenario files, and neither A nor B is one")


def load_side(
    path: Path, *, seed: int | None = None, overrides: Sequence[Override] = ()
) -> RunResults:
    """The outcome a log, a baseline or a scenario (run on the virtual clock) describes."""
    return load_side_state(path, seed=seed, overrides=overrides)[0]


def load_side_state(
    path: Path,
    *,
    seed: int | None = None,
    new_state: NewState = RunState,
    overrides: Sequence[Override] = (),
) -> tuple[RunResults, RunState | None]:
    """The outcome of a side and the state folded for it (none for a baseline)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file; {_KINDS}")
    if not path.is_file():  # a named pipe would hang the sniffing below
        raise UsageError(f"{path}: is {file_kind(path.stat().st_mode)}, not a file; {_KINDS}")
    if path.suffix.lower() in _SCENARIO_SUFFIXES:
        return _scenario_side(path, seed, new_state(), overrides)
    head = _first_line(path)
    if path.suffix.lower() == ".jsonl" or _is_event(head):
        return _log_side(path, new_state())
    if _is_small(path):
        data = _json_or_none(path)
        if is_baseline(data):
            return baseline_results(data, source=str(path)), None
        if _is_scenario_text(path):
            return _scenario_side(path, seed, new_state(), overrides)
    raise UsageError(f"{path}: not an event log, a baseline or a scenario; {_KINDS}")


_KINDS = (
    "give an event log (logs/*.jsonl), a baseline (baselines/<name>.json) "
    "or a scenario file (scenarios/*.yaml)"
)


def load_sides(
    a: Path, b: Path, *, seed: int | None = None, overrides: Sequence[Override] = ()
) -> tuple[RunResults, RunResults]:
    """Both sides; the same scenario named twice is run once."""
    side_a = load_side(a, seed=seed, overrides=overrides)
    same_scenario = side_a.kind == KIND_SCENARIO and a.resolve() == b.resolve()
    if same_scenario:
        return side_a, side_a
    return side_a, load_side(b, seed=seed, overrides=overrides)


def _scenario_side(
    path: Path, seed: int | None, state: RunState, overrides: Sequence[Override] = ()
) -> tuple[RunResults, RunState]:
    simulate_scenario(load_scenario(path, overrides=overrides), seed=seed, state=state)
    return results_from_state(state, source=str(path), kind=KIND_SCENARIO), state


def _log_side(path: Path, state: RunState) -> tuple[RunResults, RunState]:
    _, reader = fold_log(path, state=state)
    notes = list(reader.warnings)
    if state.meta is None:
        notes.append(f"{path}: no run_started event: the scenario and its settings are unknown")
    if state.finished is None:
        notes.append(f"{path}: no run_finished event: the run did not end cleanly")
    elif state.status != "completed":
        notes.append(f"{path}: the run ended {state.status}: its pending tasks are not compared")
    if state.meta is not None and state.meta.clock == "real" and _has_outage(state.meta.scenario):
        notes.append(
            f"{path}: real clock with an outage window: which attempts fell inside it depends "
            "on timing, so this DLQ can differ from run to run (the virtual clock is exact)"
        )
    outcome = results_from_state(state, source=str(path), kind=KIND_LOG, notes=tuple(notes))
    return outcome, state


def _has_outage(scenario: dict[str, Any]) -> bool:
    faults = scenario.get("faults")
    return isinstance(faults, list) and any(
        isinstance(fault, dict) and fault.get("kind") == "outage" for fault in faults
    )


def _is_small(path: Path) -> bool:
    """Baselines and scenarios are kilobytes: anything huge is not worth parsing whole."""
    try:
        return path.stat().st_size <= _SNIFF_LIMIT_BYTES
    except OSError:
        return False


def _first_line(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.readline(1 << 20)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _is_event(line: bytes) -> bool:
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "event" in data and "seq" in data


def _json_or_none(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _is_scenario_text(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "task_types" in data and "arrivals" in data
