"""Titled tables as plain data, and their markdown: what report, diff and check lay out.

A renderer builds `TitledTable`s once; the text format draws them with rich, the markdown
format with `markdown_lines`, so the two show the same rows under the same titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dtq.render.markdown import markdown_table

MAX_LISTED: Final = 50
"""Rows shown per table of task ids in text and markdown (JSON lists them all)."""


@dataclass(frozen=True)
class TitledTable:
    """A titled table; `more` rows were left out (shown as `... and N more`)."""

    title: str
    headers: Sequence[str]
    rows: list[list[str]]
    more: int = 0


def first_rows(title: str, headers: Sequence[str], rows: list[list[str]]) -> TitledTable:
    """The table of the first `MAX_LISTED` rows, counting the rest as `more`."""
    return TitledTable(title, headers, rows[:MAX_LISTED], more=max(0, len(rows) - MAX_LISTED))


def more_line(more: int) -> str:
    """What stands under a table that left `more` rows out."""
    return f"... and {more} more"


def markdown_lines(table: TitledTable, *, level: int = 3) -> list[str]:
    """The table under a heading of `level`, each followed by a blank line."""
    lines = [f"{'#' * level} {table.title}", "", *markdown_table(table.headers, table.rows), ""]
    return [*lines, more_line(table.more), ""] if table.more else lines
