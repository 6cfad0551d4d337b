"""The HTML shell every picture page shares: styles, the inlined plotly.js, the drawing script.

A page is one file that opens offline: no link leaves it. plotly.js (from the `plotly`
package) is 4.8 MB, so it is inlined gzip-compressed and base64-encoded (2.3 MB) and
unpacked by the browser's own `DecompressionStream` before the charts are drawn; the
reasons are in docs/pictures.md. The script records what it drew on each chart's element
(`data-drawn`, the number of marks) and any error on `<body>`, so a headless browser's
DOM tells a test whether every chart drew.
"""

from __future__ import annotations

import base64
import functools
import html
import zlib
from collections.abc import Sequence
from importlib import resources
from string import Template

import orjson

from dtq.errors import DtqError
from dtq.render.html.charts import Chart

LIBRARY = ("plotly", "package_data/plotly.min.js")
GZIP_WBITS = 31  # zlib's way to ask for a gzip container, which DecompressionStream reads


@functools.cache
def packed_library() -> str:
    """plotly.min.js, gzip-compressed and base64-encoded (computed once per process)."""
    package, name = LIBRARY
    try:
        source = resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DtqError(
            f"--format html needs plotly.js from the `plotly` package ({exc}); "
            "reinstall dtq (pip install -e .) to bring it"
        ) from None
    # Level 1: three times faster than the default for 15% more bytes (2.3 MB in all).
    packer = zlib.compressobj(1, zlib.DEFLATED, GZIP_WBITS)
    return base64.b64encode(packer.compress(source) + packer.flush()).decode("ascii")


def esc(text: object) -> str:
    """Text made safe to place in HTML."""
    return html.escape(str(text), quote=True)


def chart_section(chart: Chart) -> str:
    """A chart's frame: its title, the line that says what to look for, and its plot area."""
    return (
        f'<section class="chart" aria-label="{esc(chart.title)}">'
        f"<h3>{esc(chart.title)}</h3><p class=hint>{esc(chart.hint)}</p>"
        f'<div class=plot id="{esc(chart.key)}"></div></section>'
    )


def chart_grid(charts: Sequence[Chart]) -> str:
    """Charts two to a row on a laptop screen, one on a narrow one."""
    return f"<div class=grid>{''.join(chart_section(c) for c in charts)}</div>"


def page(*, title: str, body: str, charts: Sequence[Chart]) -> str:
    """The whole self-contained HTML document."""
    figures = orjson.dumps([chart.figure() for chart in charts]).decode()
    return _PAGE.substitute(
        title=esc(title),
        style=_STYLE,
        body=body,
        # "</" inside a script element would end it early.
        figures=figures.replace("</", "<\\/"),
        library=packed_library(),
        script=_SCRIPT,
    )


_PAGE = Template("""<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<meta name=color-scheme content="light dark">
<title>$title</title>
<style>$style</style>
</head>
<body data-state=loading>
<div id=dtq-problems class=problems role=alert hidden></div>
$body
<script id=dtq-charts type="application/json">$figures</script>
<script id=dtq-library type="application/octet-stream">$library</script>
<script>$script</script>
</body>
</html>
""")

_STYLE = """
:root { color-scheme: light dark; --bg: #ffffff; --ink: #1f2328; --muted: #59636e;
  --grid: rgba(31, 35, 40, 0.10); --card: #f6f8fa; --line: #d1d9e0; --ok: #1a7f37;
  --bad: #cf222e; --accent: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --ink: #e6edf3; --muted: #9198a1; --grid: rgba(230, 237, 243, 0.12);
    --card: #151b23; --line: #3d444d; --ok: #3fb950; --bad: #f85149; --accent: #4493f8; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1500px; padding: 14px 22px 40px; background: var(--bg);
  color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 21px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 22px 0 8px; }
.sub { color: var(--muted); margin: 0 0 10px; }
.story { margin: 6px 0 12px; max-width: 1100px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 12px; min-width: 110px; }
.card b { display: block; font-size: 19px; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: 12px; }
.checks { list-style: none; padding: 0; margin: 6px 0 10px; }
.checks li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.pass { color: var(--ok); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 14px; }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 10px 4px; min-width: 0; }
.chart h3 { margin: 0; font-size: 15px; }
.chart .hint { margin: 1px 0 0; color: var(--muted); font-size: 12.5px; }
.plot { height: 290px; }
table { border-collapse: collapse; margin: 4px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
.tables { display: flex; flex-wrap: wrap; gap: 0 32px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 12px; overflow: auto; font-size: 12.5px; max-height: 480px; }
.notes li { color: var(--muted); }
.problems { background: var(--bad); color: #fff; padding: 8px 12px; border-radius: 6px; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
"""

_SCRIPT = """
"use strict";
(function () {
  const body = document.body;
  const problems = [];
  function note(problem) {
    problems.push(String(problem && problem.message ? problem.message : problem));
    body.dataset.errors = String(problems.length);
    const box = document.getElementById("dtq-problems");
    box.hidden = false;
    box.textContent = "Some charts could not be drawn: " + problems.join("; ");
  }
  window.addEventListener("error", (e) => note(e.message));
  window.addEventListener("unhandledrejection", (e) => note(e.reason));

  async function loadLibrary() {
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot unpack the charting library " +
        "(DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or newer)");
    }
    const packed = atob(document.getElementById("dtq-library").textContent);
    const bytes = Uint8Array.from(packed, (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const script = document.createElement("script");
    script.textContent = await new Response(stream).text();
    document.head.appendChild(script);
  }

  function frame() {
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue("--ink").trim();
    const grid = css.getPropertyValue("--grid").trim();
    const line = css.getPropertyValue("--line").trim();
    return {
      "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
      "font.color": ink, "font.family": "system-ui, -apple-system, Segoe UI, sans-serif",
      "xaxis.gridcolor": grid, "yaxis.gridcolor": grid,
      "xaxis.linecolor": line, "yaxis.linecolor": line,
      "legend.bgcolor": "rgba(0,0,0,0)",
      "hoverlabel.bgcolor": css.getPropertyValue("--card").trim(),
      "hoverlabel.font.color": ink,
    };
  }

  function themed(layout) {
    const out = JSON.parse(JSON.stringify(layout));
    for (const [path, value] of Object.entries(frame())) {
      const keys = path.split(".");
      let node = out;
      for (const key of keys.slice(0, -1)) { node = node[key] = node[key] || {}; }
      node[keys[keys.length - 1]] = value;
    }
    return out;
  }

  function marks(element) {
    // Marks plotly drew for the data: line and bar paths of each trace, heat map images.
    const drawn = element.querySelectorAll("g.trace path, g.trace image, g.hm image");
    return Array.from(drawn).filter((mark) => mark.tagName === "image" ||
      (mark.getAttribute("d") || "").length > 2).length;
  }

  async function draw() {
    await loadLibrary();
    const charts = JSON.parse(document.getElementById("dtq-charts").textContent);
    const config = { responsive: true, displayModeBar: false };
    for (const chart of charts) {
      const element = document.getElementById(chart.id);
      await Plotly.newPlot(element, chart.data, themed(chart.layout), config);
      element.dataset.drawn = String(marks(element));
    }
    body.dataset.charts = String(charts.length);
    const scheme = window.matchMedia("(prefers-color-scheme: dark)");
    scheme.addEventListener("change", () => {
      for (const chart of charts) { Plotly.relayout(chart.id, frame()); }
    });
    body.dataset.state = "drawn";
  }

  draw().catch((problem) => { body.dataset.state = "failed"; note(problem); });
})();
"""
