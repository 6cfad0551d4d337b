"""Times in events are rounded to the microsecond, exactly as round(x, 6) would."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from dtq.core.rounding import round_us

_NEAR_HALF = st.integers(min_value=0, max_value=10**9).map(lambda n: (n + 0.5) / 1e6)


@given(
    st.one_of(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
        st.floats(min_value=0, max_value=1e-3),
        _NEAR_HALF,
        st.sampled_from([0.0, -0.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.0000025, 999_999.9999995]),
    )
)
def test_round_us_is_round_to_six_places_bit_for_bit(x: float) -> None:
    """Same float as round(x, 6), sign of zero included."""
    got, want = round_us(x), round(x, 6)
    assert got == want
    assert math.copysign(1.0, got) == math.copysign(1.0, want)
