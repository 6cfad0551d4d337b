"""The outcome of one attempt and the decision after a failure, as plain functions.

The memory `Scheduler` decides these inside its methods; the Redis backend's workers
decide them outside any scheduler object (the queue state lives in Redis). Both read
the same keyed draws, so attempt k of task X has the same duration, the same failure
and the same backoff whichever backend runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dtq.core.draws import STREAM_FAILURE, STREAM_JITTER, task_key, uniform
from dtq.core.plan import OutageWindow, Plan, RetryPolicy, TaskKind
from dtq.core.retry import (
    Decision,
    dead_letter_reason,
    decide,
    decorrelated_delay_s,
    is_retried,
)
from dtq.events import ERROR_TIMEOUT

# How an attempt goes: (run_s, error, message); error None is a success. A plain tuple:
# one is made per attempt on the hot path, and a named tuple costs several times more.
AttemptDraw = tuple[float, str | None, str]


def failure_table(kind: TaskKind, outages: Sequence[OutageWindow]) -> tuple[tuple[str, float], ...]:
    """The failure probabilities of `kind` with the given outages in force, sorted by error.

    An outage raises its error's probability to at least its rate; when the total passes
    1, every probability is scaled down so they add up to 1.
    """
    covering = [o for o in outages if o.kinds is None or kind.name in o.kinds]
    if not covering:
        return kind.failures
    probs = dict(kind.failures)
    for outage in covering:
        probs[outage.error] = max(probs.get(outage.error, 0.0), outage.rate)
    total = sum(probs.values())
    scale = 1.0 / total if total > 1.0 else 1.0
    return tuple((error, p * scale) for error, p in sorted(probs.items()))


def draw_error(failures: tuple[tuple[str, float], ...], key: int, number: int) -> str | None:
    """The error attempt `number` of the task with `key` fails with, or None."""
    if not failures:
        return None
    u = uniform(key, number, STREAM_FAILURE)
    acc = 0.0
    for error, p in failures:
        acc += p
        if u < acc:
            return error
    return None


def draw_attempt(
    kind: TaskKind, key: int, number: int, outages: Sequence[OutageWindow] = ()
) -> AttemptDraw:
    """Duration and error of attempt `number`; an attempt past the timeout is cut at it."""
    run_s = kind.duration.sample(key, number)
    error: str | None = None
    message = ""
    # Most task types cannot fail: then there is nothing to draw.
    if kind.failures or outages:
        error = draw_error(failure_table(kind, outages), key, number)
        if error is not None:
            message = f"injected {error} failure"
    timeout_s = kind.timeout_s
    if timeout_s is not None and run_s > timeout_s:
        run_s, error = timeout_s, ERROR_TIMEOUT
        message = f"attempt ran past the {kind.name} timeout of {timeout_s:g}s"
    return run_s, error, message


def failure_decision(policy: RetryPolicy, key: int, number: int, error: str) -> Decision:
    """Retry (after a jittered backoff) or dead-letter, after attempt `number` failed.

    Every jitter draw is keyed by (task, attempt), so the delay is the same on any engine;
    decorrelated jitter reads the draws of attempts 1 to `number`, as its chain needs.
    """
    if policy.jitter == "decorrelated":
        if not is_retried(policy, number, error):
            return Decision(retry=False, reason=dead_letter_reason(policy, error))
        draws = (uniform(key, n, STREAM_JITTER) for n in range(1, number + 1))
        return Decision(retry=True, delay_s=decorrelated_delay_s(policy, draws))
    u = uniform(key, number, STREAM_JITTER) if policy.jitter != "none" else 0.0
    return decide(policy, number, error, u)


def parse_task_id(plan: Plan, task_id: str) -> tuple[TaskKind, int]:
    """The task type and the task key of an id such as `email-000042` (ValueError if bad)."""
    name, sep, number = task_id.rpartition("-")
    kind = plan.kinds.get(name) if sep else None
    if kind is None or not number.isdigit():
        raise ValueError(f"{task_id!r} is not a task id of this scenario")
    return kind, task_key(plan.seed, kind.index, int(number))
