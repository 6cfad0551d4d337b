"""GitHub-flavoured markdown tables: the one table renderer the report, diff and check share.

Plain text only (no rich), so `dtq.compare` may use it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub table: header, `| --- |` separator, rows; `|` in a cell is escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)]
