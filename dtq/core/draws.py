"""Keyed random draws: the same (seed, task, attempt) always gives the same numbers.

A draw never comes from a generator shared between threads, so the outcome of an
attempt does not depend on which thread ran it or when.
"""

from __future__ import annotations

import math
from typing import Final

# SplitMix64's word mask and increment (public: step keys write the mixer out too).
MASK_64: Final = (1 << 64) - 1
GOLDEN_GAMMA: Final = 0x9E3779B97F4A7C15
_TO_UNIT: Final = 2.0**-53

# Independent streams of draws for one attempt.
STREAM_FAILURE: Final = 1
STREAM_DURATION: Final = 2
STREAM_DURATION_2: Final = 3
STREAM_JITTER: Final = 4


def mix64(value: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of a 64-bit integer."""
    z = (value + GOLDEN_GAMMA) & MASK_64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK_64
    return z ^ (z >> 31)


def seed_part(seed: int) -> int:
    """The part of every task key that depends on the seed alone (worked out once per run)."""
    return mix64(seed & MASK_64)


def task_key_from(seed_part: int, kind_index: int, number: int) -> int:
    """`task_key`, given `seed_part(seed)`."""
    return mix64(seed_part ^ ((kind_index << 40) + number))


def task_key(seed: int, kind_index: int, number: int) -> int:
    """The key of task `number` of task type `kind_index` under `seed`."""
    return task_key_from(seed_part(seed), kind_index, number)


def uniform(key: int, attempt: int, stream: int) -> float:
    """A uniform draw in [0, 1) for one (task, attempt, stream)."""
    # mix64 written out: this runs for every attempt, and a call costs as much as a step.
    z = ((key ^ ((attempt << 8) | stream)) + GOLDEN_GAMMA) & MASK_64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK_64
    return ((z ^ (z >> 31)) >> 11) * _TO_UNIT


def standard_normal(key: int, attempt: int) -> float:
    """A standard normal draw for one (task, attempt): Box-Muller on its two duration streams."""
    u1 = uniform(key, attempt, STREAM_DURATION)
    u2 = uniform(key, attempt, STREAM_DURATION_2)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
