"""`dtq report`: a stable JSON shape, GitHub markdown tables, and readable text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from dtq.cli import main
from dtq.fold.state import fold_events
from dtq.render.report import REAL_CLOCK_NOTE, build_report, render_markdown, render_text
from tests.eventlog_factory import LogBuilder, small_log
from tests.helpers import DOCS_DIR

DOC = DOCS_DIR / "report-json.md"

TOP_KEYS = [
    "report_schema",
    "run",
    "totals",
    "duplicate_runs",
    "throughput_per_s",
    "by_priority",
    "by_type",
    "workers",
    "failures_by_error",
    "attempts_to_succeed",
    "dlq",
    "overload",
    "dependencies",
    "notes",
]
GROUP_KEYS = [
    "submitted",
    "succeeded",
    "dead_lettered",
    "pending",
    "started",
    "failed",
    "retried",
    "redelivered",
    "wait",
]
WAIT_KEYS = ["count", "mean_s", "p50_s", "p95_s", "p99_s", "max_s"]


def small_report() -> dict[str, Any]:
    """The report of the small log."""
    return build_report(fold_events(small_log().events))


def test_the_json_keys_are_stable() -> None:
    report = small_report()
    assert list(report) == TOP_KEYS
    assert list(report["totals"]) == GROUP_KEYS[:-1]
    assert list(report["by_priority"][0]) == ["priority", *GROUP_KEYS, "end_to_end"]
    assert list(report["by_priority"][0]["end_to_end"]) == WAIT_KEYS
    assert list(report["by_type"][0]) == ["type", "priority", *GROUP_KEYS]
    assert list(report["by_priority"][0]["wait"]) == WAIT_KEYS
    worker_keys = ["worker", "tasks_done", "failures", "crashes", "busy_s", "utilisation"]
    assert list(report["workers"][0]) == worker_keys
    assert list(report["dlq"]) == ["count", "by_reason", "by_last_error", "by_priority", "by_type"]


def test_every_json_key_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_0-9.]+)`", DOC.read_text()))
    report = small_report()
    keys = set(report) | set(report["run"]) | set(report["workers"][0]) | set(report["dlq"])
    keys |= set(report["by_priority"][0]) | set(report["by_type"][0])
    keys |= {f"wait.{key}" for key in WAIT_KEYS} | set(report["overload"])
    keys |= {f"end_to_end.{key}" for key in WAIT_KEYS}
    assert keys - documented == set()


def test_the_numbers_of_the_small_log() -> None:
    report = small_report()
    assert report["totals"] == small_log().totals
    p2, p8 = report["by_priority"]
    assert (p2["priority"], p2["submitted"], p2["dead_lettered"], p2["retried"]) == (2, 3, 1, 1)
    assert p2["wait"] == {
        "count": 4,
        "mean_s": 0.125,
        "p50_s": 0.0,
        "p95_s": 0.5,
        "p99_s": 0.5,
        "max_s": 0.5,
    }
    assert (p8["priority"], p8["succeeded"], p8["retried"]) == (8, 1, 1)
    assert [t["type"] for t in report["by_type"]] == ["email", "report"]
    assert report["by_type"][1]["priority"] == 8
    assert report["throughput_per_s"] == 0.6
    w01, w02 = report["workers"]
    assert (w01["tasks_done"], w01["busy_s"], w01["utilisation"]) == (3, 2.25, 0.45)
    assert (w02["crashes"], w02["utilisation"]) == (1, 0.5)


def test_the_dlq_is_grouped_by_reason_and_last_error() -> None:
    b = small_log()
    b.events.pop()  # run_finished: add two more dead letters first
    for index, (error, reason) in enumerate((("network", "exhausted"), ("network", "exhausted"))):
        task_id = f"email-{10 + index:06d}"
        b.submit(5.0, task_id)
        b.start(5.0, task_id, "w01")
        b.fail(5.0, task_id, "w01", error=error, run_s=0.0, retry_at=None)
        b.dead_letter(5.0, task_id, reason=reason)
    dlq = build_report(fold_events(b.events))["dlq"]
    assert dlq["count"] == 3
    assert dlq["by_reason"] == {"exhausted": 2, "non_retryable": 1}
    assert list(dlq["by_reason"]) == ["exhausted", "non_retryable"]  # most frequent first
    assert dlq["by_last_error"] == {"network": 2, "bad_input": 1}
    assert dlq["by_priority"] == {"2": 3}


def test_a_real_clock_run_with_an_outage_gets_a_note() -> None:
    real = LogBuilder(clock="real", faults=[{"kind": "outage", "error": "network"}])
    real.run_started()
    real.run_finished(1.0)
    assert REAL_CLOCK_NOTE in build_report(fold_events(real.events))["notes"]
    assert REAL_CLOCK_NOTE not in small_report()["notes"]  # virtual clock: reproducible


def test_a_log_without_run_finished_says_so() -> None:
    notes = build_report(fold_events(small_log().events[:-1]))["notes"]
    assert any("no run_finished" in note for note in notes)


def test_markdown_has_github_tables_wait_per_priority_first() -> None:
    text = render_markdown(small_report())
    assert "| --- |" in text
    assert text.index("Queue wait per priority") < text.index("Tasks per priority")
    assert "| P2 | 4 | 125ms | 0ms | 500ms | 500ms | 500ms |" in text
    assert "| reason | non_retryable | 1 |" in text


def test_text_is_readable_without_colour() -> None:
    console = Console(record=True, width=80, color_system=None)
    console.print(render_text(small_report()))
    text = console.export_text()
    assert "Queue wait per priority" in text
    assert "non_retryable" in text and "w02" in text
    assert "…" not in text  # nothing cut off at 80 columns
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_command_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = small_log().write(tmp_path / "small.jsonl")
    assert main(["report", str(path), "--format", "json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report == orjson.loads(orjson.dumps(small_report()))


@pytest.mark.parametrize(("fmt", "marker"), [("text", "─"), ("markdown", "| --- |")])
def test_the_command_prints_text_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, marker: str
) -> None:
    path = small_log().write(tmp_path / "small.jsonl")
    assert main(["report", str(path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "Queue wait per priority" in out and "P8" in out and marker in out


def test_the_command_warns_about_a_cut_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = small_log().write(tmp_path / "small.jsonl")
    path.write_bytes(path.read_bytes()[:-10])
    assert main(["report", str(path), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "cut short" in captured.err
    assert any("cut short" in note for note in orjson.loads(captured.out)["notes"])


def test_an_unreadable_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


# -- what a newcomer met: titles, killed logs, missing events, end to end, attempts ---------


def test_end_to_end_time_and_attempts_needed() -> None:
    """Submission to final success per priority, backoff included; attempts per success."""
    report = small_report()
    p2, p8 = report["by_priority"]
    # email-000000: 1.0 -> 1.25; email-000002: 1.5 -> 3.0 (a retry between); report: 1.0 -> 4.5
    assert p2["end_to_end"]["count"] == 2 and p2["end_to_end"]["max_s"] == 1.5
    assert p8["end_to_end"]["p50_s"] == 3.5
    assert report["attempts_to_succeed"] == {"1": 1, "2": 2}
    text = render_markdown(report)
    assert "End to end per priority" in text and "Attempts needed" in text


def test_piped_at_80_columns_no_title_is_folded() -> None:
    console = Console(record=True, width=80, color_system=None)
    console.print(render_text(small_report()))
    lines = console.export_text().splitlines()
    assert lines[0].startswith("dtq report: small, completed after")
    for title in ("Queue wait per priority (compare fifo and priority runs here)", "Totals"):
        assert any(line.strip() == title for line in lines), title


def test_a_killed_log_is_unfinished_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = small_log()
    killed.events = killed.events[:20]
    path = killed.write(tmp_path / "killed.jsonl")
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unfinished after" in out and "running" not in out
    assert build_report(fold_events(killed.events))["run"]["status"] == "unfinished"


def test_a_log_with_a_missing_event_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A success without its submission: pending -1 is called out, on stderr and in notes."""
    events = [
        e
        for e in small_log().events
        if e.get("task_id") != "email-000000" or e["event"] != "task_submitted"
    ]
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
    path = tmp_path / "missing.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    assert main(["report", str(path), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "missing events" in captured.err and "dtq verify" in captured.err
    assert any("pending below 0" in note for note in orjson.loads(captured.out)["notes"])


def test_the_report_shows_goodput_first_time_and_eventual_against_attempts() -> None:
    """The small log: per second, 0.2 tasks first time, 0.4 after retries, 1.2 attempts."""
    report = small_report()
    overload = report["overload"]
    assert overload["goodput"] == {
        "start_t": 0.0,
        "end_t": 5.0,
        "first_time_per_s": 0.2,
        "eventual_per_s": 0.4,
        "attempts_per_s": 1.2,
    }
    assert [s["start_t"] for s in overload["goodput_over_time"]] == [0, 1, 2, 3, 4]
    text = render_markdown(report)
    assert "| 3.00s | 4.00s | 0.0/s | 1.0/s | 1.0/s |" in text
    assert "| whole run |  | 0.2/s | 0.4/s | 1.2/s |" in text
