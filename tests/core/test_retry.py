"""Retry decisions and backoff with jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtq.core.attempts import failure_decision
from dtq.core.draws import STREAM_JITTER, uniform
from dtq.core.plan import RetryPolicy
from dtq.core.retry import compute_backoff_s, decide, decorrelated_delay_s, delay_range_s


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


@given(
    st.floats(min_value=0.001, max_value=10.0),
    st.floats(min_value=1.0, max_value=1000.0),
    st.lists(st.floats(min_value=0.0, max_value=0.999999), min_size=1, max_size=60),
)
def test_decorrelated_jitter_stays_between_base_and_the_cap(
    base: float, cap_factor: float, draws: list[float]
) -> None:
    """Each delay is in [base, min(cap, 3 x previous)], the previous starting at base."""
    policy = _policy(jitter="decorrelated", base_delay_s=base, max_delay_s=base * cap_factor)
    previous = base
    for n in range(1, len(draws) + 1):
        delay = decorrelated_delay_s(policy, draws[:n])
        assert base * (1 - 1e-12) <= delay <= min(policy.max_delay_s, previous * 3) * (1 + 1e-12)
        low, high = delay_range_s(policy, n)
        assert low * (1 - 1e-12) <= delay <= high * (1 + 1e-12)
        previous = delay


def test_decorrelated_draws_follow_the_aws_formula() -> None:
    """min(cap, U(base, prev x 3)): 1 then U(1, 3) at u=0.5 is 2, then U(1, 6) at 0.2 is 2."""
    policy = _policy(jitter="decorrelated", base_delay_s=1.0, max_delay_s=100.0)
    assert decorrelated_delay_s(policy, [0.5]) == pytest.approx(2.0)
    assert decorrelated_delay_s(policy, [0.5, 0.2]) == pytest.approx(2.0)
    assert decorrelated_delay_s(_policy(jitter="decorrelated", max_delay_s=0.15), [0.99]) == 0.15


def test_decorrelated_decision_reads_the_draws_of_every_attempt_so_far() -> None:
    """The same (task, attempt) gives the same delay; attempt 3 depends on draws 1 to 3."""
    policy = _policy(jitter="decorrelated", base_delay_s=1.0, max_delay_s=100.0)
    first = failure_decision(policy, 12345, 3, "network")
    assert first == failure_decision(policy, 12345, 3, "network")
    draws = [uniform(12345, n, STREAM_JITTER) for n in (1, 2, 3)]
    assert first.delay_s == decorrelated_delay_s(policy, draws)
    assert failure_decision(policy, 12345, 4, "network").reason == "exhausted"


def test_explicit_delays_repeat_the_last() -> None:
    """delays [1s, 10s, 60s]: retries 1, 2, 3 then 60 s for every later one."""
    policy = _policy(backoff="delays", delays_s=(1.0, 10.0, 60.0), max_attempts=6)
    assert [compute_backoff_s(policy, n, 0.0) for n in range(1, 6)] == [1, 10, 60, 60, 60]


def test_polynomial_backoff_and_multiplier() -> None:
    """polynomial: base + (n-1)**exponent, capped; exponential with multiplier 3."""
    poly = _policy(backoff="polynomial", base_delay_s=15.0, exponent=2.0, max_delay_s=50.0)
    assert [compute_backoff_s(poly, n, 0.0) for n in (1, 2, 4, 9)] == [15, 16, 24, 50]
    triple = _policy(multiplier=3.0, base_delay_s=1.0, max_delay_s=100.0)
    assert [compute_backoff_s(triple, n, 0.0) for n in (1, 2, 3, 6)] == [1, 3, 9, 100]
