"""Retry policy apart from mechanism: whether to retry, and after how long.

A delay is worked out in three steps: the schedule's own delay for retry number n (the
`backoff` shape), then the jitter drawn from a uniform u in [0, 1), then rounding down
to the policy's `resolution` (Celery and Sidekiq count whole seconds, Dramatiq whole
milliseconds). Decorrelated jitter is the exception: each delay depends on the one
before, so it is worked out from the draws of every attempt so far.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from dtq.core.plan import RetryPolicy
from dtq.events import (
    ERROR_CRASH,
    ERROR_TIMEOUT,
    REASON_EXHAUSTED,
    REASON_LOST,
    REASON_NON_RETRYABLE,
    REASON_TIMEOUT,
)

# Cap an exponent first: 2**1000 would overflow a float before min() could help.
_MAX_EXPONENT = 64
# Sidekiq's jitter is rand(10) * (count + 1) seconds: a whole number 0..9 per retry number.
_SIDEKIQ_STEPS = 10
# A quotient a hair under a whole number (0.3 / 0.1) still counts as that number.
_FLOOR_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens after a failed attempt: retry after `delay_s`, or dead-letter for `reason`."""

    retry: bool
    delay_s: float = 0.0
    reason: str = ""


def shape_delay_s(policy: RetryPolicy, attempt: int) -> float:
    """The schedule's delay after attempt number `attempt` failed, before any jitter."""
    backoff = policy.backoff
    if backoff == "none":
        return 0.0
    if backoff == "fixed":
        return policy.base_delay_s
    if backoff == "delays":
        delays = policy.delays_s
        return delays[min(attempt, len(delays)) - 1]
    if backoff == "polynomial":
        rise_s: float = float(attempt - 1) ** policy.exponent
        return min(policy.max_delay_s, policy.base_delay_s + rise_s)
    growth = policy.multiplier ** min(attempt - 1, _MAX_EXPONENT)
    return min(policy.max_delay_s, policy.base_delay_s * growth)


def _floor_to(seconds: float, step_s: float) -> float:
    """`seconds` rounded down to a whole multiple of `step_s`."""
    return math.floor(seconds / step_s + _FLOOR_SLACK) * step_s


def jittered_s(policy: RetryPolicy, delay: float, attempt: int, u: float) -> float:
    """`delay` with the policy's jitter drawn from `u`, then rounded down to its resolution."""
    jitter = policy.jitter
    step = policy.resolution_s
    if jitter == "full":
        if step > 0:
            # Celery's random.randrange(countdown + 1): a whole step from 0 to the delay itself.
            steps = math.floor(delay / step + _FLOOR_SLACK) + 1
            return math.floor(u * steps) * step
        return delay * u
    if jitter == "equal":
        delay = delay / 2.0 + delay / 2.0 * u
    elif jitter == "sidekiq":
        delay += math.floor(u * _SIDEKIQ_STEPS) * attempt
    return _floor_to(delay, step) if step > 0 else delay


def compute_backoff_s(policy: RetryPolicy, attempt: int, u: float) -> float:
    """Delay before the attempt after `attempt` (1-based), with jitter drawn from `u` in [0, 1)."""
    return jittered_s(policy, shape_delay_s(policy, attempt), attempt, u)


def decorrelated_delay_s(policy: RetryPolicy, draws: Iterable[float]) -> float:
    """AWS's decorrelated jitter: each delay is min(max_delay, U(base_delay, previous x 3)).

    `draws` are the uniforms of attempts 1, 2 ... n in order; the previous delay starts at
    base_delay for every task, so the delay after attempt n depends on all n draws.
    """
    base, cap = policy.base_delay_s, policy.max_delay_s
    delay = base
    for u in draws:
        delay = min(cap, base + (delay * 3.0 - base) * u)
    step = policy.resolution_s
    return _floor_to(delay, step) if step > 0 else delay


def delay_range_s(policy: RetryPolicy, attempt: int) -> tuple[float, float]:
    """The least and the most the delay after attempt `attempt` can be, whatever the draws."""
    if policy.jitter == "decorrelated":
        low = policy.base_delay_s
        high = policy.base_delay_s
        for _ in range(attempt):
            high = min(policy.max_delay_s, high * 3.0)
        step = policy.resolution_s
        bounds = (min(low, policy.max_delay_s), high)
        return (_floor_to(bounds[0], step), _floor_to(bounds[1], step)) if step > 0 else bounds
    delay = shape_delay_s(policy, attempt)
    low = jittered_s(policy, delay, attempt, 0.0)
    # The most a draw can give is its limit as u nears 1 (every draw stays below 1).
    high = jittered_s(policy, delay, attempt, 1.0 - 2.0**-53)
    if policy.jitter == "full" and policy.resolution_s == 0:
        high = delay
    return low, high


def is_retried(policy: RetryPolicy, attempt: int, error: str) -> bool:
    """Whether attempt number `attempt`, failed with `error`, is tried again."""
    return policy.is_retryable(error) and attempt < policy.max_attempts


def dead_letter_reason(policy: RetryPolicy, error: str) -> str:
    """Why a task that will not be retried after failing with `error` goes to the DLQ."""
    if not policy.is_retryable(error):
        return REASON_TIMEOUT if error == ERROR_TIMEOUT else REASON_NON_RETRYABLE
    if error == ERROR_CRASH:
        return REASON_LOST
    return REASON_EXHAUSTED


def decide(policy: RetryPolicy, attempt: int, error: str, u: float) -> Decision:
    """Retry or dead-letter after attempt number `attempt` failed with `error`."""
    if is_retried(policy, attempt, error):
        return Decision(retry=True, delay_s=compute_backoff_s(policy, attempt, u))
    return Decision(retry=False, reason=dead_letter_reason(policy, error))


def schedule_s(policy: RetryPolicy) -> list[tuple[float, float]]:
    """Each retry's delay range (least, most), in order: one per attempt that can fail and retry."""
    return [delay_range_s(policy, attempt) for attempt in range(1, policy.max_attempts)]
