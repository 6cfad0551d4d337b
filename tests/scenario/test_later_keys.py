"""Keys added after the first format version resolve only when a scenario uses them."""

from __future__ import annotations

from typing import ClassVar

from dtq.scenario.models import Model


class _Sample(Model):
    """A model with one original key and one later key."""

    LATER_KEYS: ClassVar[frozenset[str]] = frozenset({"newer"})
    older: int | None = None
    newer: int | None = None


def test_a_later_key_at_its_default_is_left_out_of_the_resolved_data() -> None:
    assert _Sample().model_dump(mode="json") == {"older": None}


def test_a_later_key_that_is_set_is_written() -> None:
    assert _Sample(newer=3).model_dump(mode="json") == {"older": None, "newer": 3}
