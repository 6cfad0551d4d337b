"""`dtq retries SCENARIO|PRESET`: each retry's delay range and the time to the dead-letter queue."""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtq.core.plan import RetryPolicy
from dtq.core.retry import schedule_s
from dtq.durations import display_delay
from dtq.errors import UsageError
from dtq.scenario import load_scenario
from dtq.scenario.compile import retry_policy
from dtq.scenario.models import Retry
from dtq.scenario.presets import PRESET_NAMES


def register(subparsers: Any) -> None:
    """Add `dtq retries` to the command line."""
    parser = subparsers.add_parser(
        "retries",
        help="print a retry schedule: each delay and the time to the dead-letter queue",
        description=(
            "Print the retry schedule of a scenario (its retry block and each task type's own) "
            f"or of a preset ({', '.join(PRESET_NAMES)}): each retry's delay range given "
            "the jitter, and the cumulative time until the dead-letter queue (delays only, "
            "not the attempts' own run time)."
        ),
    )
    parser.add_argument("target", metavar="SCENARIO|PRESET", help="scenario file or preset name")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="text table (default) or JSON"
    )
    parser.set_defaults(handler=handle)


@dataclass(frozen=True)
class Schedule:
    """One retry policy's schedule: who it applies to and each retry's delay range."""

    scope: str
    policy: RetryPolicy
    delays: list[tuple[float, float]]

    def to_dlq_s(self) -> tuple[float, float]:
        """The least and most total delay before the last attempt (then the DLQ)."""
        return sum(low for low, _ in self.delays), sum(high for _, high in self.delays)


def handle(args: argparse.Namespace) -> int:
    """Print the schedules of the target; 2 (UsageError) for a target that is neither."""
    schedules = schedules_of(args.target)
    if args.format == "json":
        print(json.dumps({"target": args.target, "policies": [_json(s) for s in schedules]}))
    else:
        print("\n\n".join(render_text(schedule) for schedule in schedules))
    return 0


def schedules_of(target: str) -> list[Schedule]:
    """The schedules a scenario file defines, or the one of a preset named `target`."""
    if target in PRESET_NAMES and not Path(target).exists():
        policy = retry_policy(Retry.model_validate({"preset": target}))
        return [Schedule(f"preset {target}", policy, schedule_s(policy))]
    if not Path(target).exists():
        close = difflib.get_close_matches(target, PRESET_NAMES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; presets: {', '.join(PRESET_NAMES)}"
        raise UsageError(f"{target}: no such scenario file and no such preset{hint}")
    model = load_scenario(target).model
    policy = retry_policy(model.retry)
    found = [Schedule("scenario retry", policy, schedule_s(policy))]
    for name, spec in model.task_types.items():
        if spec.retry is not None:
            own = retry_policy(model.retry_for(name))
            found.append(Schedule(f"task type {name}", own, schedule_s(own)))
    return found


def _seconds(seconds: float) -> str:
    """Seconds to the millisecond, without trailing zeros: `1763395s`, `7.5s`."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _span(low: float, high: float) -> str:
    return display_delay(low) if low == high else f"{display_delay(low)}..{display_delay(high)}"


def describe(policy: RetryPolicy) -> str:
    """The policy in one line: attempts, shape, jitter, rounding, retry_on and budget."""
    base, most = display_delay(policy.base_delay_s), display_delay(policy.max_delay_s)
    delays = ", ".join(display_delay(d) for d in policy.delays_s)
    shapes = {
        "none": "no delay",
        "fixed": f"fixed {base}",
        "exponential": f"exponential {base} x {policy.multiplier:g}^(n-1), max {most}",
        "polynomial": f"polynomial {base} + (n-1)^{policy.exponent:g}s, max {most}",
        "delays": f"delays {delays} (last repeats)",
    }
    parts = [f"{policy.max_attempts} attempts", shapes[policy.backoff], f"jitter {policy.jitter}"]
    if policy.resolution_s:
        parts.append(f"whole {display_delay(policy.resolution_s)}")
    if policy.retry_on is not None:
        parts.append("retry_on " + ", ".join(sorted(policy.retry_on)))
    if policy.budget is not None:
        b = policy.budget
        parts.append(
            f"budget {b.ratio:g} x first attempts + {b.min_per_s:g}/s "
            f"in {display_delay(b.window_s)}"
        )
    return "; ".join(parts)


def _rows(schedule: Schedule) -> list[tuple[str, str, str]]:
    """(retries, delay, cumulative) rows; a run of equal delays is one row (`8-999`)."""
    rows: list[tuple[str, str, str]] = []
    low_sum = high_sum = 0.0
    start = 0
    for index, (low, high) in enumerate(schedule.delays):
        low_sum += low
        high_sum += high
        is_last = index + 1 == len(schedule.delays)
        if is_last or schedule.delays[index + 1] != (low, high):
            label = str(index + 1) if start == index else f"{start + 1}-{index + 1}"
            rows.append((label, _span(low, high), _span(low_sum, high_sum)))
            start = index + 1
    return rows


def render_text(schedule: Schedule) -> str:
    """The schedule as an aligned table with a closing line on the time to the DLQ."""
    lines = [f"{schedule.scope}: {describe(schedule.policy)}"]
    if not schedule.delays:
        lines.append("no retries: a failed attempt goes straight to the dead-letter queue")
        return "\n".join(lines)
    rows = [("retry", "delay", "cumulative"), *_rows(schedule)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines += [f"  {r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows]
    low, high = schedule.to_dlq_s()
    lines.append(
        f"dead-letter queue after {len(schedule.delays)} retries: {_span(low, high)} "
        f"({_seconds(low)}..{_seconds(high)}) after the first failure"
    )
    return "\n".join(lines)


def _json(schedule: Schedule) -> dict[str, Any]:
    low_sum = high_sum = 0.0
    retries = []
    for number, (low, high) in enumerate(schedule.delays, start=1):
        low_sum += low
        high_sum += high
        retries.append(
            {
                "retry": number,
                "delay_min_s": low,
                "delay_max_s": high,
                "cumulative_min_s": low_sum,
                "cumulative_max_s": high_sum,
            }
        )
    low, high = schedule.to_dlq_s()
    return {
        "scope": schedule.scope,
        "description": describe(schedule.policy),
        "max_attempts": schedule.policy.max_attempts,
        "retries": retries,
        "to_dlq_min_s": low,
        "to_dlq_max_s": high,
    }
