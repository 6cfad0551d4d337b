"""A sweep's result as one self-contained HTML file (`dtq sweep --format html -o FILE`).

`render_html(result)` is the hook the pictures take over: today it writes the table
and its caption as plain HTML that opens offline; charts of each metric against each
swept value, with their confidence bands, belong here too (SPEC "Pictures").
"""

from __future__ import annotations

from html import escape

from dtq.study.render import caption, footer, table_rows
from dtq.study.result import SweepResult

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em}"
    "table{border-collapse:collapse}td,th{padding:.3em .7em;border-bottom:1px solid #ddd}"
    "td{text-align:right;white-space:pre-line}tr.failed td{color:#b00}"
)


def render_html(result: SweepResult) -> str:
    """The whole page: title, table (failing points in red), caption and footer."""
    headers, rows = table_rows(result)
    head = "".join(f"<th>{escape(name)}</th>" for name in headers)
    body = []
    for point, cells in zip(result.points, rows, strict=True):
        kind = "" if point.passed else ' class="failed"'
        tds = "".join(f"<td>{escape(value)}</td>" for value in cells)
        body.append(f"<tr{kind}>{tds}</tr>")
    notes = "".join(f"<li>{escape(line)}</li>" for line in footer(result))
    title = escape(f"Sweep of {result.scenario_name}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<p><small>{escape(caption(result))}</small></p><ul>{notes}</ul></body></html>\n"
    )
