"""The DLQ entries that differ between two sides, as tables: the one layout of the
differences `dtq diff` shows in full and `dtq check` shows under a failing scenario.

The entries come in the JSON shape of `dtq diff` (`only_in_a`, `only_in_b`, `changed`:
docs/diff-json.md); only the words that name the two sides differ between the commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from dtq.render.tables import TitledTable, first_rows

ENTRY_HEADERS: Final = ("task", "type", "priority", "reason", "attempts", "last error")


@dataclass(frozen=True)
class SideWords:
    """How the tables name the two sides: titles of the three tables and the change column."""

    only_in_a: str
    only_in_b: str
    changed: str
    change: str


def dlq_tables(
    dlq: Mapping[str, Sequence[Mapping[str, Any]]], words: SideWords
) -> list[TitledTable]:
    """A table of the entries only in A, only in B and changed (each left out when empty),
    titled with its count; the first `MAX_LISTED` rows of each."""
    tables = []
    for key, title in (("only_in_a", words.only_in_a), ("only_in_b", words.only_in_b)):
        if dlq[key]:
            rows = [entry_row(entry) for entry in dlq[key]]
            tables.append(first_rows(f"{title}: {len(rows)}", ENTRY_HEADERS, rows))
    if dlq["changed"]:
        rows = [
            [c["task_id"], c["type"], f"P{c['priority']}", what_changed(c)] for c in dlq["changed"]
        ]
        title = f"{words.changed}: {len(rows)}"
        tables.append(first_rows(title, ("task", "type", "priority", words.change), rows))
    return tables


def entry_row(entry: Mapping[str, Any]) -> list[str]:
    """The cells of one DLQ entry under `ENTRY_HEADERS`."""
    return [
        entry["task_id"],
        entry["type"],
        f"P{entry['priority']}",
        entry["reason"],
        str(entry["attempts"]),
        entry["last_error"],
    ]


def what_changed(change: Mapping[str, Any]) -> str:
    """`attempts 2 -> 3; last_error timeout -> bad_input`: each changed field, A to B."""
    return "; ".join(
        f"{name} {change['a'][name]} -> {change['b'][name]}" for name in change["fields"]
    )
