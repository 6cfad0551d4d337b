"""The one markdown table renderer (report, diff and check use it)."""

from __future__ import annotations

from dtq.render.markdown import markdown_table


def test_a_table_has_a_header_a_separator_and_escaped_cells() -> None:
    assert markdown_table(("a", "b"), [("1", "x|y")]) == [
        "| a | b |",
        "| --- | --- |",
        "| 1 | x\\|y |",
    ]
