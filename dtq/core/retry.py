"""Retry policy apart from mechanism: whether to retry, and after how long."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens after a failed attempt: retry after `delay_s`, or dead-letter for `reason`."""

    retry: bool
    delay_s: float = 0.0
    reason: str = ""


def compute_backoff_s(policy: RetryPolicy, attempt: int, u: float) -> float:
    """Delay before the attempt after `attempt` (1-based), with jitter drawn from `u` in [0, 1)."""
    if policy.backoff == "none":
        return 0.0
    if policy.backoff == "fixed":
        delay = policy.base_delay_s
    else:
        # Cap the exponent first: 2**1000 would overflow a float before min() could help.
        delay = min(policy.max_delay_s, policy.base_delay_s * 2.0 ** min(attempt - 1, 64))
    if policy.jitter == "full":
        return delay * u
    if policy.jitter == "equal":
        return delay / 2.0 + delay / 2.0 * u
    return delay


def dead_letter_reason(policy: RetryPolicy, error: str) -> str:
    """Why a task that will not be retried after failing with `error` goes to the DLQ."""
    if not policy.is_retryable(error):
        return REASON_TIMEOUT if error == ERROR_TIMEOUT else REASON_NON_RETRYABLE
    if error == ERROR_CRASH:
        return REASON_LOST
    return REASON_EXHAUSTED


def decide(policy: RetryPolicy, attempt: int, error: str, u: float) -> Decision:
    """Retry or dead-letter after attempt number `attempt` failed with `error`."""
    if policy.is_retryable(error) and attempt < policy.max_attempts:
        return Decision(retry=True, delay_s=compute_backoff_s(policy, attempt, u))
    return Decision(retry=False, reason=dead_letter_reason(policy, error))
