"""The one markdown table renderer (report, diff and check use it)."""

from __future__ import annotations

from dtq.render.markdown import markdown_table


def test_a_table_has_a_header_a_separator_and_escaped_cells() -> None:
    assert markdown_table(("a", "b"), [("1", "x|y")]) == [
        "| a | b |",
        "| --- | --- |",
        "| 1 | x\\|y |",
    ]


def test_a_line_break_in_a_cell_stays_in_its_row() -> None:
    """A cell of two lines (a sweep's mean over its interval) is one row, the lines split
    by `<br>`."""
    assert markdown_table(("mean",), [("12.3ms\n[11.9ms, 12.7ms]",)])[2] == (
        "| 12.3ms<br>[11.9ms, 12.7ms] |"
    )
