"""Chart specifications for the HTML pages: Plotly figures as plain data, drawn by plotly.js.

Nothing here draws: each function returns a `Chart`, a Plotly figure (traces and layout,
as JSON-ready dicts) with the title and the one line that says what to look for. Colours
are decided here once, so a priority has the same colour in every chart of every page;
the page's script sets the light or dark colours of the frame when it draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dtq.render.html.series import FaultWindow

Trace = dict[str, Any]

# Tableau 10: distinct, colour-blind aware, legible on a white and on a near-black page.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
FAULT_FILL = "rgba(225, 87, 89, 0.14)"
DASH_B = "dot"
"""Run B's lines in a diff: the same colour as A's, dotted."""


def priority_colour(priority: int) -> str:
    """The colour of priority P`priority` (1..10) in every chart."""
    return PALETTE[(priority - 1) % len(PALETTE)]


def series_colour(index: int) -> str:
    """The colour of the `index`-th series of a chart that is not split by priority."""
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its title, what to look for, and the Plotly figure that draws it."""

    key: str
    title: str
    hint: str
    traces: list[Trace]
    layout: dict[str, Any] = field(default_factory=dict)

    def figure(self) -> dict[str, Any]:
        """The JSON the page script hands to `Plotly.newPlot`."""
        return {"id": self.key, "data": self.traces, "layout": self.layout}


def layout(
    *,
    x_title: str,
    y_title: str,
    windows: Sequence[FaultWindow] = (),
    x_type: str = "linear",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Axes with units, a legend above the plot, and fault windows shaded behind the data."""
    base: dict[str, Any] = {
        "xaxis": {"title": {"text": x_title}, "type": x_type, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "zeroline": False},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "margin": {"l": 60, "r": 16, "t": 36, "b": 48},
        "hovermode": "x unified",
        "shapes": [fault_shape(window) for window in windows],
    }
    return base | (extra or {})


def fault_shape(window: FaultWindow) -> dict[str, Any]:
    """A shaded band over the whole height of the plot for one fault window, labelled."""
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": round(window.start_s, 6),
        "x1": round(max(window.end_s, window.start_s), 6),
        "y0": 0,
        "y1": 1,
        "fillcolor": FAULT_FILL,
        "line": {"width": 1, "color": "rgba(225, 87, 89, 0.5)", "dash": "dot"},
        "layer": "below",
        "label": {
            "text": window.label,
            "textposition": "top left",
            "font": {"size": 10, "color": "#e15759"},
        },
    }


def line(
    x: Sequence[float],
    y: Sequence[float | None],
    *,
    name: str,
    colour: str,
    dash: str = "solid",
    step: bool = False,
    group: str | None = None,
    unit: str = "",
) -> Trace:
    """One line; `step` draws a counter per bucket as flat steps (the bucket's value)."""
    trace: Trace = {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": _rounded(x),
        "y": _rounded(y),
        "line": {"color": colour, "width": 1.6, "dash": dash, "shape": "hv" if step else "linear"},
        "hovertemplate": f"%{{y:.4~g}}{unit}<extra>{name}</extra>",
    }
    if group is not None:
        trace["legendgroup"] = group
    return trace


def band(
    x: Sequence[float],
    low: Sequence[float | None],
    high: Sequence[float | None],
    *,
    name: str,
    colour: str,
) -> list[Trace]:
    """A shaded band between `low` and `high` (a confidence interval), drawn as two traces."""
    fill = _translucent(colour)
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": _rounded(x),
            "y": _rounded(low),
            "line": {"width": 0, "color": colour},
            "showlegend": False,
            "hoverinfo": "skip",
            "legendgroup": name,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": _rounded(x),
            "y": _rounded(high),
            "fill": "tonexty",
            "fillcolor": fill,
            "line": {"width": 0, "color": colour},
            "name": f"{name} (95% CI)",
            "showlegend": False,  # the line's legend entry hides and shows its band too
            "hoverinfo": "skip",
            "legendgroup": name,
        },
    ]


def bars(
    x: Sequence[float | str], y: Sequence[float], *, name: str, colour: str, unit: str = ""
) -> Trace:
    """One bar series (stacked with the chart's others when the layout says so)."""
    return {
        "type": "bar",
        "name": name,
        "x": [round(v, 6) if isinstance(v, float) else v for v in x],
        "y": _rounded(y),
        "marker": {"color": colour, "line": {"width": 0}},
        "hovertemplate": f"%{{y:.4~g}}{unit}<extra>{name}</extra>",
    }


def heatmap(
    x: Sequence[Any],
    y: Sequence[Any],
    z: Sequence[Sequence[float | None]],
    *,
    name: str,
    x_title: str,
    y_title: str,
) -> Trace:
    """A grid map of one metric over two swept values, each cell labelled with its value."""
    return {
        "type": "heatmap",
        "name": name,
        "x": [str(v) for v in x],
        "y": [str(v) for v in y],
        "z": [[None if v is None else round(v, 6) for v in row] for row in z],
        "colorscale": "Viridis",
        "texttemplate": "%{z:.3~g}",
        "hovertemplate": (
            f"{x_title} %{{x}}<br>{y_title} %{{y}}<br>{name} %{{z:.4~g}}<extra></extra>"
        ),
        "colorbar": {"thickness": 12},
    }


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    """Six decimals: enough for any axis, and a third of the bytes of repr(); gaps stay None."""
    return [None if v is None else round(v, 6) for v in values]


def _translucent(colour: str, alpha: float = 0.22) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"
