"""A run's outcome as `dtq diff` and `dtq check` compare it, and its committed form, the baseline.

An outcome comes from an event log (folded), from a scenario (run on the virtual clock
into a temporary log, folded as it is written) or from a baseline file
(`baselines/<name>.json`). A baseline holds the DLQ and the totals but no wait times, so
an outcome read from one has no per-priority metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypeGuard

from dtq import __version__
from dtq.engine import runner
from dtq.errors import DtqError, Interrupted, ScenarioError
from dtq.events import STATUS_COMPLETED, STATUS_INTERRUPTED, TOTAL_KEYS
from dtq.fold import metrics
from dtq.fold.expect import Check
from dtq.fold.state import DlqRecord, RunState
from dtq.scenario import LoadedScenario

BASELINE_FORMAT: Final = 1
DEFAULT_BASELINES: Final = Path("baselines")
_DLQ_FIELDS: Final = {
    "task_id": str,
    "type": str,
    "priority": int,
    "reason": str,
    "attempts": int,
    "last_error": str,
}

REWRITE_HINT: Final = "write it again with `dtq check SCENARIO --update`"
"""How to repair a broken baseline; `dtq check` names the exact command instead."""

KIND_LOG: Final = "log"
KIND_BASELINE: Final = "baseline"
KIND_SCENARIO: Final = "scenario"


class BaselineError(DtqError):
    """A baseline file that cannot be read: names the file, what is wrong and the fix."""


def dlq_record(entry: DlqRecord) -> DlqRecord:
    """The comparable part of a folded DLQ entry: its times left out."""
    return DlqRecord(
        entry.task_id, entry.type, entry.priority, entry.reason, entry.attempts, entry.last_error
    )


def record_dict(record: DlqRecord) -> dict[str, Any]:
    """A DLQ record as a baseline and `dtq diff --format json` write it."""
    return asdict(record)


@dataclass(frozen=True, slots=True)
class PriorityMetrics:
    """What `dtq diff` compares per priority; a wait is None when no attempt started."""

    wait_p50_s: float | None
    wait_p95_s: float | None
    wait_p99_s: float | None
    throughput_per_s: float
    success_rate: float | None


@dataclass(frozen=True)
class RunResults:
    """What one run ended with: its scenario, totals, DLQ, and (not from a baseline) metrics."""

    source: str
    kind: str
    scenario: str
    scenario_path: str
    scenario_sha256: str
    seed: int | None
    clock: str
    dtq: str
    status: str | None
    settings: dict[str, Any] | None
    totals: dict[str, int]
    dlq: dict[str, DlqRecord]
    metrics: dict[int, PriorityMetrics] | None
    notes: tuple[str, ...] = ()
    # The reducer's duplicate runs; a baseline has none (its run is virtual, in memory).
    duplicates: int = 0


def results_from_state(
    state: RunState, *, source: str, kind: str, notes: tuple[str, ...] = ()
) -> RunResults:
    """The results of a folded run."""
    meta = state.meta
    return RunResults(
        source=source,
        kind=kind,
        scenario=meta.scenario_name if meta else "",
        scenario_path=meta.scenario_path if meta else "",
        scenario_sha256=meta.scenario_sha256 if meta else "",
        seed=meta.seed if meta else None,
        clock=meta.clock if meta else "",
        dtq=meta.dtq if meta else "",
        status=state.status if state.finished is not None else None,
        settings=meta.scenario if meta and meta.scenario else None,
        totals=state.totals(),
        dlq={task_id: dlq_record(state.dlq[task_id]) for task_id in sorted(state.dlq)},
        metrics={p: priority_metrics(state, p) for p in state.priorities()},
        notes=notes,
        duplicates=state.duplicates,
    )


def priority_metrics(state: RunState, priority: int) -> PriorityMetrics:
    """Waits, throughput (successes per second of run time) and success rate of one priority."""
    stats = state.wait_stats(priority)
    counts = state.by_priority.get(priority)
    succeeded = counts.succeeded if counts else 0
    rate = metrics.success_rate(counts)
    started = stats.count > 0
    return PriorityMetrics(
        wait_p50_s=stats.p50 if started else None,
        wait_p95_s=stats.p95 if started else None,
        wait_p99_s=stats.p99 if started else None,
        throughput_per_s=round(metrics.rate_per_s(succeeded, state.elapsed_s), 6),
        success_rate=None if rate is None else round(rate, 6),
    )


def simulate_scenario(
    scenario: LoadedScenario, *, seed: int | None = None, state: RunState | None = None
) -> RunState:
    """Run a scenario on the virtual clock into a temporary log; the state folded as it ran
    (into `state` when given: a subclass may record more as it folds)."""
    virtual = scenario.with_overrides(clock="virtual", backend="memory", seed=seed)
    state = state if state is not None else RunState()

    def observe(batch: list[dict[str, Any]]) -> None:
        state.apply_all(batch)

    with tempfile.TemporaryDirectory(prefix="dtq-") as folder:
        log_path = Path(folder) / f"{virtual.name}.jsonl"
        outcome = runner.run(virtual, log_path=log_path, observers=[observe])
    if outcome.status == STATUS_INTERRUPTED:
        raise Interrupted(f"{scenario.path}: interrupted while running on the virtual clock")
    if outcome.status != STATUS_COMPLETED:
        detail = f": {outcome.error}" if outcome.error else ""
        raise ScenarioError(
            [f"{scenario.path}: the run on the virtual clock ended {outcome.status}{detail}"]
        )
    if state.totals() != outcome.totals:
        raise DtqError(
            f"bug: {scenario.path}: the totals folded from the events differ from the "
            f"scheduler's ({state.totals()} != {outcome.totals}); please report it"
        )
    return state


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, with / separators."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# -- the baseline file -------------------------------------------------------------------


def build_baseline(outcome: RunResults, checks: list[Check]) -> dict[str, Any]:
    """The baseline of a virtual-clock outcome and its expectations, as a JSON-ready dict."""
    return {
        "format": BASELINE_FORMAT,
        "scenario": outcome.scenario,
        "scenario_path": outcome.scenario_path,
        "scenario_sha256": outcome.scenario_sha256,
        "dtq": __version__,
        "seed": outcome.seed,
        "clock": "virtual",
        "settings": outcome.settings,
        "totals": {key: outcome.totals.get(key, 0) for key in TOTAL_KEYS},
        "dlq": [record_dict(outcome.dlq[task_id]) for task_id in sorted(outcome.dlq)],
        "expectations": [
            {"name": c.name, "observed": c.observed, "limit": c.limit, "passed": c.passed}
            for c in checks
        ],
    }


def baseline_text(baseline: dict[str, Any]) -> str:
    """The file text: sorted keys, indent 2, a trailing newline (small diffs in review)."""
    return json.dumps(baseline, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_baseline(path: Path, baseline: dict[str, Any]) -> bool:
    """Write `baseline` to `path` unless it already says exactly that; True if it changed."""
    text = baseline_text(baseline)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


def _replace_atomically(path: Path, data: bytes) -> None:
    """Put `data` at `path` whole or not at all, even with other writers of the same path.

    Written to a temporary file of its own beside the target and renamed over it, so an
    interrupted update never leaves half a file, and two writers never rename (or remove)
    each other's temporary file: the last rename wins, with a whole file either way.
    """
    partial, fd = _new_partial(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _new_partial(path: Path) -> tuple[Path, int]:
    """A new temporary file beside `path`, created with the usual permissions (umask)."""
    while True:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        try:
            return partial, os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # one chance in 2**64: draw another name
            continue


def is_baseline(data: object) -> TypeGuard[dict[str, Any]]:
    """Whether parsed JSON looks like a baseline file (a `format` and a `dlq` list)."""
    return isinstance(data, dict) and "format" in data and isinstance(data.get("dlq"), list)


def read_baseline(path: Path, *, fix: str = REWRITE_HINT) -> RunResults:
    """Read and check a baseline file; BaselineError says what is wrong, then `fix`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such baseline file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read: {exc}; {fix}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: not JSON ({exc.msg}); {fix}") from None
    return baseline_results(data, source=str(path), fix=fix)


def baseline_results(data: object, *, source: str, fix: str = REWRITE_HINT) -> RunResults:
    """The outcome a parsed baseline describes; BaselineError (ending with `fix`) if malformed."""
    try:
        return _parse(data, source)
    except BaselineError as exc:
        raise BaselineError(f"{exc}; {fix}") from None


def _parse(data: object, source: str) -> RunResults:
    if not is_baseline(data):
        raise BaselineError(f"{source}: not a dtq baseline (no format and dlq keys)")
    if data["format"] != BASELINE_FORMAT:
        raise BaselineError(
            f"{source}: baseline format {data['format']!r}; this dtq reads format {BASELINE_FORMAT}"
        )
    settings = data.get("settings")
    seed = data.get("seed")
    return RunResults(
        source=source,
        kind=KIND_BASELINE,
        scenario=_field(data, "scenario", str, source),
        scenario_path=_field(data, "scenario_path", str, source),
        scenario_sha256=_field(data, "scenario_sha256", str, source),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        clock=str(data.get("clock", "virtual")),
        dtq=str(data.get("dtq", "")),
        status=None,
        settings=settings if isinstance(settings, dict) else None,
        totals=_totals(data.get("totals"), source),
        dlq=_dlq(data["dlq"], source),
        metrics=None,
    )


def _field(data: dict[str, Any], name: str, kind: type, source: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise BaselineError(f"{source}: {name}: must be a {kind.__name__} (got {value!r})")
    return value


def _totals(value: object, source: str) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(key), int) and not isinstance(value.get(key), bool)
        for key in TOTAL_KEYS
    ):
        keys = ", ".join(TOTAL_KEYS)
        raise BaselineError(f"{source}: totals: must map {keys} to integers")
    return {key: int(value[key]) for key in TOTAL_KEYS}


def _dlq(entries: list[Any], source: str) -> dict[str, DlqRecord]:
    records: dict[str, DlqRecord] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BaselineError(f"{source}: dlq[{index}]: must be an object")
        for name, kind in _DLQ_FIELDS.items():
            value = entry.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BaselineError(
                    f"{source}: dlq[{index}].{name}: must be a {kind.__name__} (got {value!r})"
                )
        record = DlqRecord(**{name: entry[name] for name in _DLQ_FIELDS})
        records[record.task_id] = record
    return records
