"""Retry decisions and backoff with jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtq.core.plan import RetryPolicy
from dtq.core.retry import compute_backoff_s, decide


def _policy(**fields: object) -> RetryPolicy:
    base: dict[str, object] = {
        "max_attempts": 4,
        "backoff": "exponential",
        "base_delay_s": 0.1,
        "max_delay_s": 1.0,
        "jitter": "none",
        "retry_on": frozenset({"network"}),
    }
    base.update(fields)
    return RetryPolicy(**base)  # type: ignore[arg-type]


def test_exponential_backoff_doubles_and_caps() -> None:
    """0.1, 0.2, 0.4, 0.8, then capped at max_delay."""
    policy = _policy()
    delays = [compute_backoff_s(policy, n, 0.5) for n in range(1, 7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


@given(st.integers(min_value=1, max_value=2000), st.floats(min_value=0, max_value=0.999999))
def test_jitter_stays_within_its_band(attempt: int, u: float) -> None:
    """full jitter is in [0, d]; equal jitter in [d/2, d]; huge attempts never overflow."""
    d = compute_backoff_s(_policy(), attempt, u)
    full = compute_backoff_s(_policy(jitter="full"), attempt, u)
    equal = compute_backoff_s(_policy(jitter="equal"), attempt, u)
    assert 0 <= full <= d <= 1.0
    assert d / 2 <= equal <= d


def test_fixed_and_none_backoff() -> None:
    """fixed waits base_delay every time; none retries at once."""
    assert compute_backoff_s(_policy(backoff="fixed"), 5, 0.0) == 0.1
    assert compute_backoff_s(_policy(backoff="none"), 5, 0.0) == 0.0


def test_decisions_and_dead_letter_reasons() -> None:
    """Retryable kinds retry until max_attempts; others go to the DLQ with their reason."""
    policy = _policy()
    assert decide(policy, 1, "network", 0.0).retry
    assert decide(policy, 4, "network", 0.0).reason == "exhausted"
    assert decide(policy, 1, "bad_input", 0.0).reason == "non_retryable"
    assert decide(policy, 1, "timeout", 0.0).reason == "timeout"
    assert decide(policy, 1, "crash", 0.0).retry, "a crash is always retried"
    assert decide(policy, 4, "crash", 0.0).reason == "lost"
    assert decide(_policy(retry_on=None), 1, "anything", 0.0).retry
