"""`make stress`: the heavy versions of the reliability tests, with the figures printed.

    python -m tests.stress [--runs N] [--fuzz N] [--big N] [--big-virtual N] [--parallel N]

1. `--runs` real `dtq run` processes stopped at random moments by SIGINT, SIGTERM, SIGKILL
   or two SIGINTs; every log checked by the verifier.
2. `--fuzz` broken scenario files through `dtq validate`, and as many randomly damaged
   logs through `dtq verify`, `dtq report` and `dtq replay --final`, all in-process: an
   exception escaping the command line is a traceback a user would have seen.
3. A `--big`-task run on the threaded engine and a `--big-virtual`-task one on the virtual
   clock, through worker crashes and an outage; each log verified, and verified again in
   a child process whose time and peak memory are printed.

Exits 0 only when tasks unaccounted and tracebacks are both 0 and every run kept its
promises.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtq.cli import main
from dtq.log.verify import Verdict, verify_log
from dtq.scenario.models import Scenario
from tests.reliability import (
    STOPS,
    TORTURE_MAX_DELAY_S,
    TORTURE_SCENARIO,
    StoppedRun,
    big_model,
    check_stopped,
    run_logged,
    stop_run,
    write_scenario,
)
from tests.scenario.test_fuzz import VALID, json_like, paths, replaced

LOG_COMMANDS: dict[str, tuple[list[str], frozenset[int]]] = {
    "verify": (["verify"], frozenset({0, 1, 2})),
    "report": (["report"], frozenset({0, 2})),
    "replay": (["replay", "--final", "--plain"], frozenset({0, 2})),
}
SHOWN = 5  # examples of each kind of problem printed


@dataclass
class Figures:
    """What the stress run counted; `ok` says whether every promise held."""

    runs: Counter[str] = field(default_factory=Counter)
    verified: Counter[str] = field(default_factory=Counter)
    unaccounted: int = 0
    fuzz: Counter[str] = field(default_factory=Counter)
    tracebacks: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was lost, nothing raised, and no run broke a promise."""
        return not self.unaccounted and not self.tracebacks and not self.problems

    def problem(self, message: str) -> None:
        """Keep a problem; print it as it happens."""
        self.problems.append(message)
        print(f"  problem: {message}", flush=True)


# -- 1. stopped runs ----------------------------------------------------------------------


def stopped_runs(figures: Figures, folder: Path, *, runs: int, parallel: int, seed: int) -> None:
    """Start and stop `runs` processes at random moments; verify every log."""
    path = write_scenario(folder, TORTURE_SCENARIO)
    rng = random.Random(seed)
    plans = [(rng.choice(STOPS), rng.uniform(0.0, TORTURE_MAX_DELAY_S)) for _ in range(runs)]

    def one(index: int) -> tuple[StoppedRun, Verdict | None]:
        how, delay_s = plans[index]
        run = stop_run(path, folder / f"run-{index:04d}.jsonl", how=how, delay_s=delay_s)
        return run, check_stopped(run)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for index, (run, verdict) in enumerate(pool.map(one, range(runs)), start=1):
            tally_run(figures, run, verdict)
            if index % 25 == 0:
                print(f"  {index}/{runs} runs stopped", flush=True)


def tally_run(figures: Figures, run: StoppedRun, verdict: Verdict | None) -> None:
    """Count one stopped run and its log; keep the log only if something is wrong."""
    figures.runs[run.how] += 1
    for message in run.problems:
        figures.problem(f"{run.how} after {run.delay_s:.3f}s ({run.log}): {message}")
    if verdict is None:
        return
    figures.unaccounted += verdict.unaccounted()
    if verdict.violation_count == 0:
        figures.verified[verdict.status or "unfinished"] += 1
    if not run.problems:
        run.log.unlink()


# -- 2. fuzzing -------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what a command prints (it is checked for tracebacks by exceptions instead)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def run_cli(figures: Figures, kind: str, args: list[str], codes: frozenset[int]) -> None:
    """Run `dtq ARGS` in-process; an escaping exception counts as a traceback."""
    try:
        with quiet():
            code = main(args)
    except BaseException as exc:  # what a user would have seen as a traceback
        figures.tracebacks[kind] += 1
        if figures.tracebacks[kind] <= SHOWN:
            last = traceback.format_exception(exc)[-1].strip()
            figures.problem(f"traceback from dtq {' '.join(args)}: {last}")
        return
    if code not in codes:
        figures.problem(f"dtq {' '.join(args)} exited {code} (allowed: {sorted(codes)})")


def fuzz_scenarios(figures: Figures, folder: Path, *, cases: int) -> None:
    """Random structures, mutated valid scenarios and random text through `dtq validate`."""
    path = folder / "fuzz.yaml"
    mutated = st.sampled_from(paths(VALID)).flatmap(
        lambda at: json_like.map(lambda value: replaced(VALID, at, value))
    )
    documents = (
        json_like.map(lambda data: yaml.safe_dump(data, allow_unicode=True))
        | mutated.map(lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        | st.text(max_size=300)
    )

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(documents)
    def one(text: str) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        figures.fuzz["scenario files"] += 1
        run_cli(figures, "validate", ["validate", str(path)], frozenset({0, 2}))

    one()


Damage = Callable[[random.Random, list[bytes]], list[bytes]]


def _drop(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    del lines[rng.randrange(len(lines))]
    return lines


def _repeat(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    index = rng.randrange(len(lines))
    lines.insert(index, lines[index])
    return lines


def _swap(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return lines


def _cut(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    data = b"".join(lines)
    return [data[: rng.randrange(len(data))]]


def _garbage(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    lines[rng.randrange(len(lines))] = rng.randbytes(rng.randrange(1, 80)) + b"\n"
    return lines


def _flip_byte(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    index = rng.randrange(len(lines))
    line = bytearray(lines[index])
    line[rng.randrange(len(line))] = rng.randrange(256)
    lines[index] = bytes(line)
    return lines


ODD_VALUES: list[Any] = [None, True, -1, 0, 2**70, 1e308, -0.5, "", "x" * 50, [], {}, [1], {"a": 1}]


def _retype_field(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """A line stays valid JSON but one field gets a value of another type, or goes."""
    index = rng.randrange(len(lines))
    try:
        event = orjson.loads(lines[index])
    except orjson.JSONDecodeError:
        return lines
    if not isinstance(event, dict) or not event:
        return lines
    key = rng.choice(sorted(event))
    if rng.random() < 0.3:
        del event[key]
    else:
        event[key] = rng.choice(ODD_VALUES)
    lines[index] = json.dumps(event).encode() + b"\n"  # orjson refuses 2**70
    return lines


DAMAGES: tuple[Damage, ...] = (_drop, _repeat, _swap, _cut, _garbage, _flip_byte, _retype_field)


def fuzz_logs(figures: Figures, folder: Path, *, cases: int, seed: int) -> None:
    """Damage a small real log at random and read it with verify, report and replay."""
    base = folder / "base.jsonl"
    small = {**TORTURE_SCENARIO, "clock": "virtual", "name": "fuzzbase"}
    small["arrivals"] = [{"pattern": "burst", "task": "email", "count": 80, "over": "2s"}]
    run_logged(Scenario.model_validate(small), base)
    lines = base.read_bytes().splitlines(keepends=True)
    rng = random.Random(seed)
    log = folder / "damaged.jsonl"
    for _ in range(cases):
        damage = rng.choice(DAMAGES)
        log.write_bytes(b"".join(damage(rng, list(lines))))
        figures.fuzz["damaged logs"] += 1
        for kind, (args, codes) in LOG_COMMANDS.items():
            run_cli(figures, kind, [*args, str(log)], codes)


# -- 3. big runs -----------------------------------------------------------------------------


def big_run(figures: Figures, folder: Path, *, clock: str, tasks: int) -> None:
    """One big run through crashes and an outage; its log verified in a child process."""
    log = folder / f"big-{clock}.jsonl"
    started = time.perf_counter()
    outcome = run_logged(big_model(clock=clock, tasks=tasks), log)
    run_s = time.perf_counter() - started
    verdict = verify_log(log)
    figures.unaccounted += verdict.unaccounted()
    if not verdict.is_valid or outcome.status != "completed" or verdict.tasks != tasks:
        figures.problem(f"big {clock} run: status {outcome.status}, {verdict.tasks} tasks")
    verify_s, peak_mb = _verify_in_child(log)
    figures.notes.append(
        f"{clock:>8} clock: {tasks:,} tasks, {verdict.events:,} events in {run_s:.1f}s; "
        f"{verdict.ended['dead_lettered']:,} dead-lettered, {verdict.pending} pending; "
        f"`dtq verify` {verify_s:.1f}s, peak {peak_mb:.0f} MB"
    )
    log.unlink()


def _verify_in_child(log: Path) -> tuple[float, float]:
    """Seconds and peak resident megabytes of `dtq verify LOG` in its own process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "dtq", "verify", str(log)], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024


# -- the report --------------------------------------------------------------------------------


def print_figures(figures: Figures) -> None:
    """The figures `make stress` promises, one per line."""

    def kinds(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(counter.items()))

    print()
    print(f"runs stopped:       {sum(figures.runs.values())} ({kinds(figures.runs)})")
    print(f"logs verified:      {sum(figures.verified.values())} ({kinds(figures.verified)})")
    print(f"tasks unaccounted:  {figures.unaccounted}")
    print(f"fuzz cases tried:   {sum(figures.fuzz.values())} ({kinds(figures.fuzz)})")
    print(f"tracebacks:         {sum(figures.tracebacks.values())} ({kinds(figures.tracebacks)})")
    for note in figures.notes:
        print(f"big run: {note}")
    print(f"problems:           {len(figures.problems)}")
    print("stress: ok" if figures.ok else "stress: FAILED")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The stress tool's options."""
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs stopped by a signal")
    parser.add_argument("--fuzz", type=int, default=2000, help="scenario and log fuzz cases each")
    parser.add_argument("--big", type=int, default=300_000, help="tasks in the threaded big run")
    parser.add_argument(
        "--big-virtual", type=int, default=1_000_000, help="tasks in the virtual-clock big run"
    )
    parser.add_argument("--parallel", type=int, default=4, help="runs at a time")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random moments")
    return parser.parse_args(argv)


def stress(argv: list[str] | None = None) -> int:
    """Run every part, print the figures; 0 when every promise held."""
    args = parse_args(argv)
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="dtq-stress-") as tmp:
        folder = Path(tmp)
        print(f"stopping {args.runs} runs at random moments ({args.parallel} at a time)")
        stopped_runs(figures, folder, runs=args.runs, parallel=args.parallel, seed=args.seed)
        print(f"fuzzing {args.fuzz} scenario files and {args.fuzz} damaged logs")
        fuzz_scenarios(figures, folder, cases=args.fuzz)
        fuzz_logs(figures, folder, cases=args.fuzz, seed=args.seed)
        if args.big:
            print(f"big run: {args.big:,} tasks, threaded")
            big_run(figures, folder, clock="real", tasks=args.big)
        if args.big_virtual:
            print(f"big run: {args.big_virtual:,} tasks, virtual clock")
            big_run(figures, folder, clock="virtual", tasks=args.big_virtual)
    print_figures(figures)
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(stress())
