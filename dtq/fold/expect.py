"""The scenario's `expect:` thresholds, checked against a folded run, k6-style.

`evaluate` is the one place thresholds are judged: `dtq run` and `dtq check` both call it.
Each threshold becomes one line, ✓ or ✗, with the observed value beside the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dtq.durations import display_duration, format_duration
from dtq.fold.metrics import completed_ratio, peak_amplification, recovery_s
from dtq.fold.state import RunState
from dtq.scenario.models import Expect


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold: what was observed beside the limit, and whether it held."""

    name: str
    observed: str
    limit: str
    passed: bool

    def line(self, *, width: int = 0) -> str:
        """`✓ dlq_max: 12 (limit <= 200)` (or ✗); the name dotted out to `width` characters."""
        mark = "✓" if self.passed else "✗"
        name = (
            f"{self.name}{'.' * (width - len(self.name))}" if width > len(self.name) else self.name
        )
        return f"{mark} {name}: {self.observed} (limit {self.limit})"


def format_checks(checks: Sequence[Check]) -> list[str]:
    """One line per threshold, names dotted out to a common width so the values line up."""
    width = max((len(check.name) for check in checks), default=0) + 3
    return [check.line(width=width) for check in checks]


def evaluate(expect: Expect, state: RunState) -> list[Check]:
    """Every threshold of `expect` against `state`; a threshold with no data fails."""
    checks: list[Check] = [*_dlq_checks(expect, state)]
    for priority, limit_s in sorted((expect.wait_p95 or {}).items()):
        stats = state.wait_stats(priority)
        name = f"wait_p95[P{priority}]"
        limit = f"<= {format_duration(limit_s)}"
        if stats.count == 0:
            checks.append(Check(name, f"no P{priority} task started", limit, False))
            continue
        checks.append(Check(name, display_duration(stats.p95), limit, stats.p95 <= limit_s))
    if expect.completed_min is not None:
        submitted = state.submitted
        ratio = completed_ratio(state)
        checks.append(
            Check(
                "completed_min",
                f"{ratio:.2%} ({state.succeeded}/{submitted})",
                f">= {expect.completed_min:.2%}",
                submitted > 0 and ratio >= expect.completed_min,
            )
        )
    checks.extend(_overload_checks(expect, state))
    return checks


def _dlq_checks(expect: Expect, state: RunState) -> list[Check]:
    limit = expect.dlq_max
    if limit is None:
        return []
    if isinstance(limit, int):
        dlq = state.dead_lettered
        return [Check("dlq_max", str(dlq), f"<= {limit}", dlq <= limit)]
    by_reason: dict[str, int] = {}
    for entry in state.dlq.values():
        by_reason[entry.reason] = by_reason.get(entry.reason, 0) + 1
    return [
        Check(
            f"dlq_max[{reason}]",
            str(by_reason.get(reason, 0)),
            f"<= {cap}",
            by_reason.get(reason, 0) <= cap,
        )
        for reason, cap in sorted(limit.items())
    ]


def _overload_checks(expect: Expect, state: RunState) -> list[Check]:
    checks: list[Check] = []
    if expect.recover_within is not None:
        limit = f"<= {format_duration(expect.recover_within)}"
        recovery = recovery_s(state)
        if recovery is None:
            checks.append(
                Check("recover_within", "no fault ended while tasks arrived", limit, False)
            )
        elif math.isinf(recovery):
            checks.append(Check("recover_within", "never recovered", limit, False))
        else:
            passed = recovery <= expect.recover_within
            checks.append(Check("recover_within", display_duration(recovery), limit, passed))
    if expect.amplification_max is not None:
        peak = peak_amplification(state)
        limit = f"<= {expect.amplification_max:g}"
        checks.append(
            Check(
                "amplification_max",
                f"{peak:.2f} attempts/task",
                limit,
                peak <= expect.amplification_max,
            )
        )
    return checks
