"""Each preset's schedule against numbers worked out by hand from its system's own formula."""

from __future__ import annotations

import pytest

from dtq.core.plan import RetryPolicy
from dtq.core.retry import compute_backoff_s, schedule_s
from dtq.scenario.compile import retry_policy
from dtq.scenario.models import Retry

DAY_S = 86_400


def _preset(name: str, **keys: object) -> RetryPolicy:
    return retry_policy(Retry.model_validate({"preset": name, **keys}))


def test_sidekiq_is_count_to_the_fourth_plus_15_plus_rand10_times_count_plus_1() -> None:
    """25 retries; retry k (count = k-1) waits (k-1)**4 + 15 + 0..9 x k seconds: ~20.4 days."""
    policy = _preset("sidekiq")
    assert policy.max_attempts == 26
    expected = [(c**4 + 15, c**4 + 15 + 9 * (c + 1)) for c in range(25)]
    assert schedule_s(policy) == expected
    # sum c**4 for c < 25 is 1,763,020 (n(n+1)(2n+1)(3n^2+3n-1)/30 at n=24), + 25 x 15.
    low = sum(lo for lo, _ in expected)
    high = sum(hi for _, hi in expected)
    assert (low, high) == (1_763_395, 1_766_320)
    assert low / DAY_S == pytest.approx(20.41, abs=0.005)
    # rand(10) is a whole number: u in [0.3, 0.4) gives 3 x (count + 1).
    assert compute_backoff_s(policy, 3, 0.35) == 2**4 + 15 + 3 * 3


def test_celery_retries_three_times_after_180_seconds() -> None:
    """Task.retry(): max_retries 3, default_retry_delay 180 s, no jitter."""
    assert schedule_s(_preset("celery")) == [(180, 180)] * 3


def test_celery_backoff_is_randrange_of_two_to_the_retries_plus_one() -> None:
    """retry_backoff=True: randrange(min(600, 2**retries) + 1) whole seconds, 3 retries."""
    policy = _preset("celery_backoff")
    assert schedule_s(policy) == [(0, 1), (0, 2), (0, 4)]
    # randrange(5) for the third retry: u in [0.8, 1) is 4, u in [0, 0.2) is 0.
    assert compute_backoff_s(policy, 3, 0.85) == 4
    assert compute_backoff_s(policy, 3, 0.1) == 0
    assert compute_backoff_s(policy, 3, 0.5) == 2
    # The cap: retry 11 would be 2**10 = 1024 s, capped at retry_backoff_max 600.
    assert schedule_s(_preset("celery_backoff", max_attempts=12))[-1] == (0, 600)


def test_bullmq_exponential_is_two_to_attempts_made_minus_one_times_delay() -> None:
    """round(2**(attemptsMade - 1) x 1000) ms, attempts 3 (the documented example)."""
    assert schedule_s(_preset("bullmq")) == [(1, 1), (2, 2)]
    assert schedule_s(_preset("bullmq", max_attempts=6))[-1] == (16, 16)


def test_sqs_redelivers_after_the_visibility_timeout_up_to_max_receive_count() -> None:
    """Visibility timeout 30 s; maxReceiveCount 5 receives, so 4 redeliveries."""
    assert schedule_s(_preset("sqs")) == [(30, 30)] * 4


def test_rq_follows_its_interval_list_and_repeats_the_last() -> None:
    """Retry(max=3, interval=[10, 30, 60]); with more retries the last interval repeats."""
    assert schedule_s(_preset("rq")) == [(10, 10), (30, 30), (60, 60)]
    assert schedule_s(_preset("rq", max_attempts=6))[3:] == [(60, 60), (60, 60)]


def test_dramatiq_is_half_to_all_of_fifteen_seconds_doubling_capped_at_seven_days() -> None:
    """min(15000 x 2**retries, 7 days) ms, then int(b/2 + U(0, b/2)); 20 retries."""
    policy = _preset("dramatiq")
    delays = schedule_s(policy)
    assert len(delays) == 20
    assert delays[0] == pytest.approx((7.5, 15.0))
    assert delays[15] == pytest.approx((15 * 2**15 / 2, 15 * 2**15))  # 491,520 s, under 7 days
    assert delays[16] == pytest.approx((3.5 * DAY_S, 7 * DAY_S))  # 983,040 s capped
    # int() of milliseconds: 7.5 s + 0.3 x 7.5 s = 9.75 s exactly; the draw floors to 1 ms.
    assert compute_backoff_s(policy, 1, 0.3) == pytest.approx(9.75)
    assert compute_backoff_s(policy, 1, 0.12345) * 1000 == pytest.approx(8425.0)


def test_temporal_doubles_from_one_second_to_one_hundred() -> None:
    """initial 1 s x 2.0**(n-1), at most 100 x initial; unlimited maps to 1000 attempts."""
    delays = schedule_s(_preset("temporal"))
    assert len(delays) == 999
    assert delays[:8] == [(1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32), (64, 64), (100, 100)]
    assert sum(lo for lo, _ in delays) == 127 + 100 * 992


def test_a_key_beside_a_preset_overrides_it() -> None:
    """preset: sidekiq with max_attempts 6 keeps Sidekiq's formula for 5 retries."""
    policy = _preset("sidekiq", max_attempts=6, jitter="none")
    assert schedule_s(policy) == [(c**4 + 15, c**4 + 15) for c in range(5)]


def test_an_own_schedule_shape_drops_the_presets_shape() -> None:
    """preset: sidekiq with backoff: fixed does not keep Sidekiq's exponent."""
    model = Retry.model_validate({"preset": "sidekiq", "backoff": "fixed", "jitter": "none"})
    assert model.exponent is None
    assert schedule_s(retry_policy(model))[:2] == [(15, 15), (15, 15)]
