"""Two run outcomes side by side: DLQ entries, totals, per-priority metrics and settings.

`build_diff` is the only place that compares; it returns one JSON-ready dict whose shape
is `DIFF_JSON_SCHEMA` (documented in docs/diff-json.md). The text and markdown renderers
(dtq/render/diff.py) only lay that dict out, so the three formats cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from dtq.compare.baseline import (
    KIND_BASELINE,
    KIND_LOG,
    KIND_SCENARIO,
    PriorityMetrics,
    RunResults,
    record_dict,
)
from dtq.events import TOTAL_KEYS
from dtq.fold.state import DlqRecord

DIFF_SCHEMA_VERSION: Final = 1
METRIC_NAMES: Final = (
    "wait_p50_s",
    "wait_p95_s",
    "wait_p99_s",
    "throughput_per_s",
    "success_rate",
)
DLQ_FIELDS: Final = ("reason", "attempts", "last_error")
"""What makes a DLQ entry present on both sides count as changed."""
MIN_CHANGE: Final = {
    "wait_p50_s": 0.001,
    "wait_p95_s": 0.001,
    "wait_p99_s": 0.001,
    "throughput_per_s": 0.01,
    "success_rate": 0.0001,
}
"""The smallest absolute change of each metric that counts as a change (1ms of wait,
0.01/s, 0.01 percentage point): below it, run-to-run noise is not reported."""
MIN_CHANGE_PCT: Final = 0.05
HIGHER_IS_BETTER: Final = frozenset({"throughput_per_s", "success_rate"})
"""Metrics that improve upwards; waits improve downwards."""
FAIL_ON: Final = ("dlq", "metrics", "none")
DUPLICATE_RUNS: Final = "duplicate_runs"  # the last row of `totals`: `RunState.duplicates`
NO_WAITS: Final = "a baseline holds no wait times"

Diff = dict[str, Any]


# -- comparing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DlqChange:
    """A task dead-lettered on both sides, differently."""

    a: DlqRecord
    b: DlqRecord
    fields: tuple[str, ...]


@dataclass(frozen=True)
class DlqChanges:
    """DLQ entries matched by task id: only in A, only in B, changed."""

    only_in_a: list[DlqRecord] = field(default_factory=list)
    only_in_b: list[DlqRecord] = field(default_factory=list)
    changed: list[DlqChange] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many task ids differ in any way."""
        return len(self.only_in_a) + len(self.only_in_b) + len(self.changed)


def compare_dlq(a: dict[str, DlqRecord], b: dict[str, DlqRecord]) -> DlqChanges:
    """Match two DLQs by task id; every list sorted by task id."""
    changes = DlqChanges(
        only_in_a=[a[task_id] for task_id in sorted(a.keys() - b.keys())],
        only_in_b=[b[task_id] for task_id in sorted(b.keys() - a.keys())],
    )
    for task_id in sorted(a.keys() & b.keys()):
        old, new = a[task_id], b[task_id]
        fields = tuple(name for name in DLQ_FIELDS if getattr(old, name) != getattr(new, name))
        if fields:
            changes.changed.append(DlqChange(old, new, fields))
    return changes


def settings_changes(a: object, b: object, path: str = "") -> list[dict[str, Any]]:
    """Every dotted path where two resolved scenarios differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[dict[str, Any]] = []
        for key in sorted(a.keys() | b.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in b:
                found.append({"path": where, "change": "removed", "a": a[key], "b": None})
            elif key not in a:
                found.append({"path": where, "change": "added", "a": None, "b": b[key]})
            else:
                found.extend(settings_changes(a[key], b[key], where))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            change
            for index, (x, y) in enumerate(zip(a, b, strict=True))
            for change in settings_changes(x, y, f"{path}[{index}]")
        ]
    return [] if a == b else [{"path": path, "change": "changed", "a": a, "b": b}]


def build_diff(a: RunResults, b: RunResults, *, tolerance_pct: float = 10.0) -> Diff:
    """Compare two outcomes; the result has the shape of `DIFF_JSON_SCHEMA`."""
    dlq = compare_dlq(a.dlq, b.dlq)
    settings_known = a.settings is not None and b.settings is not None
    settings = settings_changes(a.settings, b.settings) if settings_known else []
    counts = [(key, a.totals[key], b.totals[key]) for key in TOTAL_KEYS]
    counts.append((DUPLICATE_RUNS, a.duplicates, b.duplicates))
    totals = [
        {"name": key, "a": in_a, "b": in_b, "delta": in_b - in_a} for key, in_a, in_b in counts
    ]
    metrics = _metrics_section(a, b, tolerance_pct)
    rows = metrics["by_priority"]
    differences = {
        "settings": bool(settings) or a.scenario_sha256 != b.scenario_sha256,
        "totals": any(row["delta"] != 0 for row in totals),
        "dlq": dlq.count > 0,
        "metrics": any(has_moved(row) for row in rows),
        "metrics_beyond_tolerance": any(row["beyond_tolerance"] for row in rows),
    }
    differences["any"] = any(differences.values())
    return {
        "diff_schema": DIFF_SCHEMA_VERSION,
        "a": _side(a),
        "b": _side(b),
        "same_scenario": a.scenario_sha256 == b.scenario_sha256 and bool(a.scenario_sha256),
        "settings": {"available": settings_known, "changes": settings},
        "totals": totals,
        "dlq": _dlq_section(a, b, dlq),
        "metrics": metrics,
        "differences": differences,
    }


def is_failure(diff: Diff, fail_on: str) -> bool:
    """Whether `--fail-on` counts this diff as a failure (exit 1)."""
    if fail_on == "dlq":
        return bool(diff["differences"]["dlq"])
    if fail_on == "metrics":
        return bool(diff["differences"]["metrics_beyond_tolerance"])
    return False


def _side(outcome: RunResults) -> dict[str, Any]:
    return {
        "source": outcome.source,
        "kind": outcome.kind,
        "scenario": outcome.scenario,
        "scenario_path": outcome.scenario_path,
        "scenario_sha256": outcome.scenario_sha256,
        "seed": outcome.seed,
        "clock": outcome.clock,
        "dtq": outcome.dtq,
        "status": outcome.status,
        "dlq_count": len(outcome.dlq),
        "metrics_available": outcome.metrics is not None,
        "settings_available": outcome.settings is not None,
        "notes": list(outcome.notes),
    }


def _dlq_section(a: RunResults, b: RunResults, dlq: DlqChanges) -> dict[str, Any]:
    def grouped(key: str, pick: Callable[[DlqRecord], str | int]) -> list[dict[str, Any]]:
        count_a = Counter(pick(r) for r in a.dlq.values())
        count_b = Counter(pick(r) for r in b.dlq.values())
        return [
            {
                key: value,
                "a": count_a[value],
                "b": count_b[value],
                "delta": count_b[value] - count_a[value],
            }
            for value in sorted(count_a.keys() | count_b.keys())
        ]

    return {
        **dlq_entries(dlq),
        "unchanged": len(a.dlq.keys() & b.dlq.keys()) - len(dlq.changed),
        "by_reason": grouped("reason", lambda r: r.reason),
        "by_priority": grouped("priority", lambda r: r.priority),
        "by_type": grouped("type", lambda r: r.type),
    }


def dlq_entries(dlq: DlqChanges) -> dict[str, list[dict[str, Any]]]:
    """The entries only in A, only in B and changed, in the JSON shape of `dtq diff`."""
    return {
        "only_in_a": [record_dict(r) for r in dlq.only_in_a],
        "only_in_b": [record_dict(r) for r in dlq.only_in_b],
        "changed": [
            {
                "task_id": change.a.task_id,
                "type": change.a.type,
                "priority": change.a.priority,
                "fields": list(change.fields),
                "a": {name: getattr(change.a, name) for name in DLQ_FIELDS},
                "b": {name: getattr(change.b, name) for name in DLQ_FIELDS},
            }
            for change in dlq.changed
        ],
    }


def _metrics_section(a: RunResults, b: RunResults, tolerance_pct: float) -> dict[str, Any]:
    missing = [side for side, o in (("a", a), ("b", b)) if o.metrics is None]
    section: dict[str, Any] = {
        "available": not missing,
        "unavailable": {side: NO_WAITS for side in missing},
        "tolerance_pct": tolerance_pct,
        "by_priority": [],
    }
    if a.metrics is None or b.metrics is None:
        return section
    for priority in sorted(a.metrics.keys() | b.metrics.keys()):
        old, new = a.metrics.get(priority), b.metrics.get(priority)
        for name in METRIC_NAMES:
            section["by_priority"].append(
                _metric_row(priority, name, _value(old, name), _value(new, name), tolerance_pct)
            )
    return section


def _value(metrics: PriorityMetrics | None, name: str) -> float | None:
    value = getattr(metrics, name) if metrics is not None else None
    return float(value) if value is not None else None


def has_moved(row: dict[str, Any]) -> bool:
    """A metric row whose value changed by at least its metric's `MIN_CHANGE` and by at
    least `MIN_CHANGE_PCT` of itself (a change that prints as +0.0% is not one)."""
    if row["a"] == row["b"]:
        return False
    delta, change_pct = row["delta"], row["change_pct"]
    if delta is None:
        return True  # appeared or vanished
    if change_pct is not None and abs(change_pct) < MIN_CHANGE_PCT:
        return False
    return bool(abs(delta) >= MIN_CHANGE[row["metric"]] - 1e-12)


def is_better(row: dict[str, Any]) -> bool | None:
    """Whether a row's change is an improvement (None: no comparable values)."""
    delta = row["delta"]
    if delta is None or delta == 0:
        return None
    return bool((delta > 0) == (row["metric"] in HIGHER_IS_BETTER))


def _metric_row(
    priority: int, name: str, a: float | None, b: float | None, tolerance_pct: float
) -> dict[str, Any]:
    delta = round(b - a, 9) if a is not None and b is not None else None
    change_pct = round(100.0 * (b - a) / abs(a), 4) if a and b is not None else None
    if not has_moved({"metric": name, "a": a, "b": b, "delta": delta, "change_pct": change_pct}):
        beyond = False
    elif change_pct is None:
        beyond = True  # appeared, vanished, or moved off zero: no finite ratio to hold it to
    else:
        beyond = abs(change_pct) > tolerance_pct
    return {
        "priority": priority,
        "metric": name,
        "a": a,
        "b": b,
        "delta": delta,
        "change_pct": change_pct,
        "beyond_tolerance": beyond,
    }


# -- the JSON shape ----------------------------------------------------------------------

_NUMBER_OR_NULL: Final = {"type": ["number", "null"]}
_INT: Final = {"type": "integer"}
_STR: Final = {"type": "string"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object: every property required, no other allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


def _count_row(key: str, key_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _object({key: key_schema, "a": _INT, "b": _INT, "delta": _INT}),
    }


_DLQ_ENTRY: Final = _object(
    {
        "task_id": _STR,
        "type": _STR,
        "priority": _INT,
        "reason": _STR,
        "attempts": _INT,
        "last_error": _STR,
    }
)
_DLQ_STATE: Final = _object({"reason": _STR, "attempts": _INT, "last_error": _STR})

DIFF_JSON_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "dtq diff --format json",
    "description": "Two run outcomes compared; documented field by field in docs/diff-json.md.",
    **_object(
        {
            "diff_schema": {"const": DIFF_SCHEMA_VERSION},
            "a": {"$ref": "#/$defs/side"},
            "b": {"$ref": "#/$defs/side"},
            "same_scenario": {"type": "boolean"},
            "settings": _object(
                {
                    "available": {"type": "boolean"},
                    "changes": {
                        "type": "array",
                        "items": _object(
                            {
                                "path": _STR,
                                "change": {"enum": ["changed", "added", "removed"]},
                                "a": {},
                                "b": {},
                            }
                        ),
                    },
                }
            ),
            "totals": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"enum": [*TOTAL_KEYS, DUPLICATE_RUNS]},
                        "a": _INT,
                        "b": _INT,
                        "delta": _INT,
                    }
                ),
            },
            "dlq": _object(
                {
                    "only_in_a": {"type": "array", "items": _DLQ_ENTRY},
                    "only_in_b": {"type": "array", "items": _DLQ_ENTRY},
                    "changed": {
                        "type": "array",
                        "items": _object(
                            {
                                "task_id": _STR,
                                "type": _STR,
                                "priority": _INT,
                                "fields": {"type": "array", "items": {"enum": list(DLQ_FIELDS)}},
                                "a": _DLQ_STATE,
                                "b": _DLQ_STATE,
                            }
                        ),
                    },
                    "unchanged": {"type": "integer", "minimum": 0},
                    "by_reason": _count_row("reason", _STR),
                    "by_priority": _count_row("priority", _INT),
                    "by_type": _count_row("type", _STR),
                }
            ),
            "metrics": _object(
                {
                    "available": {"type": "boolean"},
                    "unavailable": {
                        "type": "object",
                        "properties": {"a": _STR, "b": _STR},
                        "additionalProperties": False,
                    },
                    "tolerance_pct": {"type": "number", "minimum": 0},
                    "by_priority": {
                        "type": "array",
                        "items": _object(
                            {
                                "priority": _INT,
                                "metric": {"enum": list(METRIC_NAMES)},
                                "a": _NUMBER_OR_NULL,
                                "b": _NUMBER_OR_NULL,
                                "delta": _NUMBER_OR_NULL,
                                "change_pct": _NUMBER_OR_NULL,
                                "beyond_tolerance": {"type": "boolean"},
                            }
                        ),
                    },
                }
            ),
            "differences": _object(
                {
                    name: {"type": "boolean"}
                    for name in (
                        "any",
                        "settings",
                        "totals",
                        "dlq",
                        "metrics",
                        "metrics_beyond_tolerance",
                    )
                }
            ),
        }
    ),
    "$defs": {
        "side": _object(
            {
                "source": _STR,
                "kind": {"enum": [KIND_LOG, KIND_BASELINE, KIND_SCENARIO]},
                "scenario": _STR,
                "scenario_path": _STR,
                "scenario_sha256": _STR,
                "seed": {"type": ["integer", "null"]},
                "clock": _STR,
                "dtq": _STR,
                "status": {"type": ["string", "null"]},
                "dlq_count": _INT,
                "metrics_available": {"type": "boolean"},
                "settings_available": {"type": "boolean"},
                "notes": {"type": "array", "items": _STR},
            }
        )
    },
}
"""The JSON Schema (draft 2020-12) of `dtq diff --format json`."""
