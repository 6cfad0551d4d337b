"""Small HTML pieces around the charts: key-number cards, ✓/✗ lists and tables."""

from __future__ import annotations

from collections.abc import Sequence

from dtq.fold.expect import Check
from dtq.render.html.page import esc

Row = tuple[Sequence[str], Sequence[str], str | None]
"""A table row: its label cells, its value cells, and a colour swatch for the label."""


def cards(numbers: Sequence[tuple[str, str]]) -> str:
    """Key numbers in a row of cards, value above its name."""
    items = "".join(
        f"<div class=card><b>{esc(v)}</b><span>{esc(k)}</span></div>" for k, v in numbers
    )
    return f"<div class=cards>{items}</div>"


def checks_list(checks: Sequence[Check]) -> str:
    """The scenario's expectations, one ✓ or ✗ line each with the observed value and limit."""
    items = "".join(
        f"<li><span class={'pass' if c.passed else 'fail'}>{'✓' if c.passed else '✗'}</span> "
        f"{esc(c.name)}: {esc(c.observed)} (limit {esc(c.limit)})</li>"
        for c in checks
    )
    passed = sum(c.passed for c in checks)
    return f"<h2>Expectations: {passed} of {len(checks)} held</h2><ul class=checks>{items}</ul>"


def table(caption: str, heads: Sequence[str], rows: Sequence[Row]) -> str:
    """A table with a caption; a row's swatch shows the colour its label has in the charts."""
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    body = "".join(_row(row) for row in rows)
    return (
        f"<table><caption class=sub>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _row(row: Row) -> str:
    labels, values, colour = row
    swatch = f'<span class=swatch style="background:{esc(colour)}"></span>' if colour else ""
    first, *rest = labels
    cells = [f"<td>{swatch}{esc(first)}</td>", *(f"<td>{esc(v)}</td>" for v in (*rest, *values))]
    return f"<tr>{''.join(cells)}</tr>"
