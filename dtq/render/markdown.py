"""GitHub-flavoured markdown tables: the one table renderer of report, diff, check and sweep.

Plain text only (no rich), so `dtq.compare` may use it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub table: header, `| --- |` separator, rows; in a cell `|` is escaped and a
    line break becomes `<br>` (either would otherwise end the row)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"

    return [line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
