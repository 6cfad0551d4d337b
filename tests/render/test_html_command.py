"""`--format html -o FILE` on report and diff: one self-contained file, errors that say why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dtq.cli import main
from dtq.compare.baseline import KIND_LOG, build_baseline, results_from_state, write_baseline
from dtq.log.reader import fold_log
from tests.eventlog_factory import small_log
from tests.helpers import ROOT

BUDGET_BYTES = 5_000_000


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A small log with a retry, a dead letter, an outage and a worker crash."""
    return small_log().write(tmp_path / "small.jsonl")


def test_report_html_needs_an_output_file(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without -o, --format html says to give one and exits 2 (it never floods a terminal)."""
    assert main(["report", str(log), "--format", "html"]) == 2
    assert "give -o FILE" in capsys.readouterr().err


def test_report_html_is_one_file_that_loads_nothing(log: Path, tmp_path: Path) -> None:
    """The page links no script, style or image: everything it needs is inside it."""
    out = tmp_path / "report.html"
    assert main(["report", str(log), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert out.stat().st_size < BUDGET_BYTES
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|\bhref=|@import|url\(", page)
    assert "fetch(" not in page and "XMLHttpRequest" not in page
    assert page.count('<div class=plot id="') >= 5
    assert "outage network 90% from 2s to 3s" in page  # the story names the fault window


def test_the_report_shows_the_scenario_expectations(tmp_path: Path) -> None:
    """A run whose scenario has `expect:` lists each threshold with ✓ or ✗."""
    log = tmp_path / "outage.jsonl"
    scenario = ROOT / "scenarios" / "outage.yaml"
    assert main(["run", str(scenario), "--clock", "virtual", "--quiet", "--log", str(log)]) == 0
    out = tmp_path / "report.html"
    assert main(["report", str(log), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Expectations: 2 of 2 held" in page
    assert "<span class=pass>✓</span> dlq_max" in page
    assert "max_attempts: 4" in page  # the scenario itself


def test_a_recovery_limit_does_not_hide_the_expectations(tmp_path: Path) -> None:
    """`recover_within` is a duration in seconds in the log like `wait_p95`: the page still
    judges every threshold (it once dropped them all when a recovery limit was set)."""
    log = tmp_path / "metastable.jsonl"
    scenario = str(ROOT / "scenarios" / "metastable.yaml")
    run = ["run", scenario, "--clock", "virtual", "--quiet", "--log", str(log)]
    assert main([*run, "--set", "expect.recover_within=5s"]) in (0, 1)
    out = tmp_path / "report.html"
    assert main(["report", str(log), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Expectations: 0 of 1 held" in page
    assert "recover_within: never recovered (limit &lt;= 5s)" in page


def test_an_unwritable_output_is_a_usage_error(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o into a missing folder names the file and the reason, exit 2."""
    out = tmp_path / "missing" / "report.html"
    assert main(["report", str(log), "--format", "html", "-o", str(out)]) == 2
    assert f"-o {out}: cannot write" in capsys.readouterr().err


def test_output_option_writes_the_other_formats_too(log: Path, tmp_path: Path) -> None:
    """-o is honoured by text, JSON and markdown as well: never silently ignored."""
    for fmt in ("text", "json", "markdown"):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", str(log), "--format", fmt, "-o", str(out)]) == 0
        assert "small" in out.read_text(encoding="utf-8")


def test_diff_html_with_a_baseline_side_says_it_has_no_series(log: Path, tmp_path: Path) -> None:
    """A baseline holds no time series: the page charts the log side and says so."""
    baseline = tmp_path / "small.json"
    state, _ = fold_log(log)
    outcome = results_from_state(state, source=str(log), kind=KIND_LOG)
    write_baseline(baseline, build_baseline(outcome, []))
    out = tmp_path / "diff.html"
    assert main(["diff", str(baseline), str(log), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "A is a baseline, which holds no time series: the charts show only B." in page
    assert "B: P2" in page  # B's lines are labelled B
