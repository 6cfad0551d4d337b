"""A sweep's result as one self-contained HTML file (`dtq sweep --format html -o FILE`).

`render_html(result)` is the hook between the study and the pictures: the page itself
(each metric against each swept value with its 95% band, a grid map for two swept
values) is drawn by `dtq.render.html.sweep`, from the numbers of the result alone.
"""

from __future__ import annotations

from dtq.study.result import SweepResult


def render_html(result: SweepResult) -> str:
    """The whole page, charts and table, opening offline."""
    from dtq.render.html.sweep import render_sweep_html  # plotly is loaded only for a page

    return render_sweep_html(result)
