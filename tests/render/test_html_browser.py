"""The HTML pages in a real browser: headless Chromium with the network off.

Each page (a run's report, a diff, a sweep) is written by its command, opened offline,
and must draw every chart (each chart's element holds an SVG with marks on it) with no
message at all on the browser's console; a screenshot at 1280x800 is taken too. Without
Chromium these tests skip, except under CI=true, where they fail: CI must run them
(.ci/run installs Debian's `chromium` when it is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dtq.render.html.sweep import render_sweep_html
from tests.helpers import ROOT, SCENARIOS_DIR
from tests.render.test_html_sweep import make_result

# Each test starts a headless chromium: ten to twenty seconds apiece.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Offline: every request goes to a proxy that is not there, every host name fails.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def _chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail(
                "CI runs the browser tests, but chromium is missing (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


@dataclass
class Page:
    """What the browser made of a page: body attributes, each chart, console lines."""

    body: dict[str, str] = field(default_factory=dict)
    charts: dict[str, dict[str, str]] = field(default_factory=dict)
    svgs: dict[str, int] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)


class _DomReader(HTMLParser):
    """Collects <body>'s attributes, each chart's <div class=plot> and the SVGs inside it."""

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self.inside: list[str | None] = []  # the chart id each open <div> belongs to

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        current = next((c for c in reversed(self.inside) if c), None)
        if tag == "body":
            self.page.body = found
        elif tag == "div":
            is_plot = "plot" in found.get("class", "").split()
            chart = found.get("id") if is_plot else None
            if chart:
                self.page.charts[chart] = found
                self.page.svgs[chart] = 0
            self.inside.append(chart)
        elif tag == "svg" and current and "main-svg" in found.get("class", ""):
            self.page.svgs[current] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self.inside:
            self.inside.pop()


def browse(html: Path, tmp: Path, *, screenshot: Path | None = None, dark: bool = False) -> Page:
    """Open `html` in headless Chromium offline: its DOM after drawing, or a screenshot."""
    profile = tmp / f"chromium-{'shot' if screenshot else 'dom'}-{'dark' if dark else 'light'}"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        *OFFLINE,
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=20000",
        "--window-size=1280,800",
        *(["--blink-settings=preferredColorScheme=0"] if dark else []),
        f"--screenshot={screenshot}" if screenshot else "--dump-dom",
        html.resolve().as_uri(),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = Page(console=[line for line in proc.stderr.splitlines() if ":CONSOLE" in line])
    if screenshot is None:
        _DomReader(page).feed(proc.stdout)
    return page


def dtq(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the dtq command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "dtq", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report of outage.yaml, its diff against a variant of it, and a sweep's page."""
    _chromium()
    folder = tmp_path_factory.mktemp("pages")
    log = folder / "outage.jsonl"
    ran = dtq("run", SCENARIOS_DIR / "outage.yaml", "--clock", "virtual", "--quiet", "--log", log)
    assert ran.returncode == 0, ran.stderr
    variant = folder / "outage6.yaml"
    text = (SCENARIOS_DIR / "outage.yaml").read_text(encoding="utf-8")
    variant.write_text(text.replace("max_attempts: 4", "max_attempts: 6"), encoding="utf-8")
    made = {"report": folder / "report.html", "diff": folder / "diff.html"}
    report = dtq("report", log, "--format", "html", "-o", made["report"])
    assert report.returncode == 0, report.stderr
    diff = dtq("diff", log, variant, "--format", "html", "-o", made["diff"])
    assert diff.returncode == 1, diff.stderr  # the DLQ differs: exit 1, as in text
    made["sweep"] = folder / "sweep.html"
    made["sweep"].write_text(render_sweep_html(make_result(two_axes=True)), encoding="utf-8")
    return made


def _assert_drawn(page: Page, *, at_least: int) -> None:
    assert page.body.get("data-state") == "drawn", page.body
    assert "data-errors" not in page.body, page.body
    assert int(page.body["data-charts"]) == len(page.charts) >= at_least
    for chart, attrs in page.charts.items():
        assert page.svgs[chart] >= 1, f"{chart}: no plotly SVG"
        assert int(attrs.get("data-drawn", "0")) > 0, f"{chart}: an empty chart"
    assert page.console == []


@pytest.mark.parametrize(("kind", "at_least"), [("report", 6), ("diff", 5), ("sweep", 6)])
def test_every_chart_draws_offline_with_a_silent_console(
    pages: dict[str, Path], tmp_path: Path, kind: str, at_least: int
) -> None:
    """Every chart of the page holds a drawn SVG, and the console shows nothing."""
    _assert_drawn(browse(pages[kind], tmp_path), at_least=at_least)


def test_the_report_draws_in_dark_mode_too(pages: dict[str, Path], tmp_path: Path) -> None:
    """With prefers-color-scheme: dark the charts draw and take the page's light ink."""
    _assert_drawn(browse(pages["report"], tmp_path, dark=True), at_least=6)


@pytest.mark.parametrize("kind", ["report", "diff", "sweep"])
def test_a_screenshot_at_laptop_size(pages: dict[str, Path], tmp_path: Path, kind: str) -> None:
    """The page renders to a 1280x800 PNG (to look at: docs/pictures.md)."""
    png = tmp_path / f"{kind}.png"
    page = browse(pages[kind], tmp_path, screenshot=png)
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 800)
    assert len(data) > 50_000  # charts, not a blank page
    assert page.console == []
