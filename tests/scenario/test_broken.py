"""Broken scenarios: each gives exit 2 and one located, plain message, never a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from dtq.cli import main

GOOD_TAIL = """\
task_types:
  email: {priority: 2, timeout: 1s, failures: {network: 0.1}}
  report: {priority: 8}
arrivals:
  - {task: email, pattern: burst, count: 10}
"""

ONE_ARRIVAL = "arrivals:\n  - {task: email, pattern: burst, count: 1}\n"

# (id, file text, expected "line:col: dotted.path", a keyword of the message)
CASES = [
    (
        "typo_key_suggests",
        "task_types:\n  email:\n    prioity: 2\n" + ONE_ARRIVAL,
        "3:5: task_types.email.prioity",
        "did you mean 'priority'?",
    ),
    ("wrong_type", "workers: many\n" + GOOD_TAIL, "1:10: workers", "must be a whole number"),
    ("bool_for_number", "workers: true\n" + GOOD_TAIL, "1:10: workers", "(got true)"),
    (
        "priority_zero",
        "task_types:\n  email: {priority: 0}\n" + ONE_ARRIVAL,
        "2:21: task_types.email.priority",
        "must be at least 1 (got 0)",
    ),
    (
        "priority_eleven",
        "task_types:\n  email: {priority: 11}\n" + ONE_ARRIVAL,
        "2:21: task_types.email.priority",
        "must be at most 10 (got 11)",
    ),
    (
        "negative_rate",
        GOOD_TAIL + "  - {task: email, pattern: poisson, rate: -5, until: 10s}\n",
        "6:43: arrivals.1.rate",
        "must be more than 0 (got -5)",
    ),
    (
        "unknown_task_type",
        GOOD_TAIL + "  - {task: emial, pattern: constant, rate: 5, until: 10s}\n",
        "6:12: arrivals.1.task",
        "unknown task type 'emial' (did you mean 'email'?); known: email, report",
    ),
    (
        "duration_unit",
        "retry: {base_delay: 5sec}\n" + GOOD_TAIL,
        "1:21: retry.base_delay",
        "is not a duration",
    ),
    (
        "bare_number_duration",
        "retry: {max_delay: 5}\n" + GOOD_TAIL,
        "1:20: retry.max_delay",
        "needs a unit",
    ),
    ("empty_file", "", "1:1: (file)", "file is empty"),
    ("comments_only", "# nothing yet\n", "1:1: (file)", "file is empty"),
    ("list_at_top", "- email\n- report\n", "1:1: (file)", "must be a mapping"),
    ("yaml_syntax", "workers: [1, 2\n" + GOOD_TAIL, "2:11: (file)", "YAML syntax error"),
    (
        "duplicate_key",
        "workers: 2\n" + GOOD_TAIL + "workers: 3\n",
        "7:1: workers",
        "duplicate key (first set on line 1)",
    ),
    (
        "until_before_from",
        GOOD_TAIL + "  - {task: email, pattern: poisson, rate: 5, from: 9s, until: 2s}\n",
        "6:63: arrivals.1.until",
        "until must be later than from",
    ),
    (
        "failures_over_one",
        "task_types:\n  email: {failures: {network: 0.7, bad_input: 0.5}}\n" + ONE_ARRIVAL,
        "2:21: task_types.email.failures",
        "add up to 1.2",
    ),
    (
        "retry_on_typo",
        "retry: {retry_on: [netwrk]}\n" + GOOD_TAIL,
        "1:20: retry.retry_on.0",
        "unknown error kind 'netwrk' (did you mean 'network'?); known: crash, network, timeout",
    ),
    (
        "aging_without_interval",
        "scheduler: {policy: aging}\n" + GOOD_TAIL,
        "1:21: scheduler.policy",
        "needs aging_interval",
    ),
    (
        "wait_p95_unknown_priority",
        GOOD_TAIL + "expect:\n  wait_p95: {3: 50ms}\n",
        "7:14: expect.wait_p95.3",
        "no task type has priority 3; known: 2, 8",
    ),
    (
        "reserved_timeout_in_failures",
        "task_types:\n  email: {timeout: 1s, failures: {timeout: 0.1}}\n" + ONE_ARRIVAL,
        "2:35: task_types.email.failures.timeout",
        "use the task type's timeout: instead",
    ),
    (
        "tabs",
        "task_types:\n\temail: {priority: 2}\n" + ONE_ARRIVAL,
        "2:1: (file)",
        "tab character",
    ),
    (
        "unknown_pattern",
        GOOD_TAIL + "  - {task: email, pattern: pois, rate: 5, until: 1s}\n",
        "6:28: arrivals.1.pattern",
        "use one of poisson, constant, ramp, burst; did you mean 'poisson'?",
    ),
    (
        "nan_rate",
        GOOD_TAIL + "  - {task: email, pattern: poisson, rate: .nan, until: 1s}\n",
        "6:43: arrivals.1.rate",
        "must be a finite number (got nan)",
    ),
    ("huge_integer", "seed: " + "9" * 5000 + "\n" + GOOD_TAIL, "1:7: seed", "too many digits"),
    ("too_many_workers", "workers: 10000000000000\n" + GOOD_TAIL, "1:10: workers", "at most 4,096"),
    ("unicode_key", "tâches: 1\n" + GOOD_TAIL, "1:1: tâches", "unknown key; allowed keys: name"),
    ("date_value", "seed: 2024-01-01\n" + GOOD_TAIL, "1:7: seed", "!!timestamp is not used"),
    (
        "missing_required_key",
        GOOD_TAIL + "  - {task: email, pattern: poisson, rate: 5}\n",
        "6:5: arrivals.1.until",
        "missing required key 'until'",
    ),
    (
        "crash_more_workers_than_exist",
        "workers: 2\n" + GOOD_TAIL + "faults:\n  - {kind: worker_crash, at: 1s, workers: 3}\n",
        "8:43: faults.0.workers",
        "only workers: 2",
    ),
    (
        "bad_redis_url",
        "backend: redis://localhost:6379/zero\n" + GOOD_TAIL,
        "1:10: backend",
        "redis URL",
    ),
    (
        "too_many_tasks",
        GOOD_TAIL + "  - {task: email, pattern: constant, rate: 100000, until: 1h}\n",
        "4:1: arrivals",
        "the cap is 50,000,000",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "keyword"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_broken_scenario_is_located(
    text: str, where: str, keyword: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken file exits 2 with `file:line:col: path: message` naming the rule."""
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")

    code = main(["validate", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith(f"{path}:{where}: "))
    assert keyword in line


WORKERS_HINT = (
    "; workers: 0 is only for a redis backend, where `dtq worker` processes serve the queue"
)


def test_all_problems_in_position_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three independent mistakes are all reported, one line each, sorted by position."""
    path = tmp_path / "three.yaml"
    text = """\
        workers: 0
        task_types:
          email: {priority: 12}
        arrivals:
          - {task: email, pattern: burst, count: 1, at: 2sec}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")

    code = main(["validate", str(path)])

    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert lines == [
        f"{path}:1:10: workers: must be at least 1 (got 0){WORKERS_HINT}",
        f"{path}:3:21: task_types.email.priority: must be at most 10 (got 12)",
        f"{path}:5:49: arrivals.0.at: '2sec' is not a duration: write a number and one of "
        "the units us, ms, s, m, h (for example 250ms, 2s, 1.5m)",
    ]


def test_non_utf8_bytes_are_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not UTF-8 are reported at their line and column."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"workers: 2\nname: caf\xe9\n")

    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:2:10: (file): not UTF-8 text (byte 0xe9)")


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist exits 2 with a one-line message."""
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "no such scenario file" in capsys.readouterr().err


def test_every_file_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file does not stop the good one after it from being checked."""
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("workers: 0\n" + GOOD_TAIL, encoding="utf-8")
    good.write_text(GOOD_TAIL, encoding="utf-8")

    assert main(["validate", str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    assert captured.out == f"ok  {good} (2 task types, 1 arrival, ~10 tasks)\n"
    assert captured.err.startswith(f"{bad}:1:10: workers:")


# Every numeric field of a scenario, with `%s` where the number goes; all others valid.
NUMERIC_FIELDS = [
    ("seed", "seed: %s\n" + GOOD_TAIL, "whole"),
    ("time_scale", "time_scale: %s\n" + GOOD_TAIL, "number"),
    ("workers", "workers: %s\n" + GOOD_TAIL, "whole"),
    ("retry.max_attempts", "retry: {max_attempts: %s}\n" + GOOD_TAIL, "whole"),
    ("task_types.email.priority", "task_types:\n  email: {priority: %s}\n" + ONE_ARRIVAL, "whole"),
    (
        "task_types.email.failures.network",
        "task_types:\n  email: {failures: {network: %s}}\n" + ONE_ARRIVAL,
        "number",
    ),
    (
        "task_types.email.duration.sigma",
        "task_types:\n  email: {duration: {dist: lognormal, median: 1s, sigma: %s}}\n"
        + ONE_ARRIVAL,
        "number",
    ),
    (
        "arrivals.1.rate",
        GOOD_TAIL + "  - {task: email, pattern: poisson, rate: %s, until: 1s}\n",
        "number",
    ),
    (
        "arrivals.1.start_rate",
        GOOD_TAIL + "  - {task: email, pattern: ramp, start_rate: %s, end_rate: 1, until: 1s}\n",
        "number",
    ),
    (
        "arrivals.1.end_rate",
        GOOD_TAIL + "  - {task: email, pattern: ramp, start_rate: 1, end_rate: %s, until: 1s}\n",
        "number",
    ),
    ("arrivals.1.count", GOOD_TAIL + "  - {task: email, pattern: burst, count: %s}\n", "whole"),
    (
        "faults.0.rate",
        GOOD_TAIL + "faults:\n  - {kind: outage, error: network, rate: %s, until: 1s}\n",
        "number",
    ),
    (
        "faults.0.workers",
        GOOD_TAIL + "faults:\n  - {kind: worker_crash, at: 1s, workers: %s}\n",
        "whole",
    ),
    ("expect.completed_min", GOOD_TAIL + "expect: {completed_min: %s}\n", "number"),
]


@pytest.mark.parametrize(
    ("path", "template", "kind"), NUMERIC_FIELDS, ids=[field[0] for field in NUMERIC_FIELDS]
)
def test_a_number_yaml_reads_as_text_says_how_to_write_it(
    path: str, template: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`1e3` is text to YAML 1.1: every numeric field says how to write it so it is a number."""
    file = tmp_path / "x.yaml"
    file.write_text(template % "1e3", encoding="utf-8")

    assert main(["validate", str(file)]) == 2

    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if f": {path}: " in line)
    forms = "1000" if kind == "whole" else "1.0e+3 or 1000"
    assert line.endswith(f"(got '1e3'); YAML reads 1e3 as text, not a number: write {forms}")


@pytest.mark.parametrize("value", ["1.0e+3", "1000"])
def test_the_suggested_forms_are_numbers_to_yaml(value: str) -> None:
    """What the hint suggests does read as a number."""
    assert yaml.safe_load(f"a: {value}")["a"] == 1000


def test_a_quoted_number_says_to_drop_the_quotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`workers: '3'` is text: the message says numbers are written without quotes."""
    file = tmp_path / "x.yaml"
    file.write_text("workers: '3'\n" + GOOD_TAIL, encoding="utf-8")

    assert main(["validate", str(file)]) == 2
    assert capsys.readouterr().err.startswith(
        f"{file}:1:10: workers: must be a whole number (got '3'); "
        "numbers are written without quotes: 3"
    )


def test_unknown_task_names_come_in_the_same_pass_as_schema_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema error elsewhere does not hide a misspelt task name in arrivals, faults or
    expectations: all come in one pass, with did-you-mean."""
    path = tmp_path / "x.yaml"
    text = """\
        workers: many
        task_types:
          email: {priority: 2}
          report: {priority: 8}
        arrivals:
          - {task: emial, pattern: burst, count: 1}
          - {task: report, pattern: pois, rate: 5, until: 1s}
        faults:
          - {kind: outage, until: 1s, error: network, rate: 0.5, tasks: [reprot]}
        expect:
          wait_p95: {3: 50ms}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")

    assert main(["validate", str(path)]) == 2

    assert capsys.readouterr().err.splitlines() == [
        f"{path}:1:10: workers: must be a whole number (got 'many')",
        f"{path}:6:12: arrivals.0.task: unknown task type 'emial' (did you mean 'email'?); "
        "known: email, report",
        f"{path}:7:29: arrivals.1.pattern: unknown pattern 'pois'; use one of poisson, "
        "constant, ramp, burst; did you mean 'poisson'?",
        f"{path}:9:66: faults.0.tasks.0: unknown task type 'reprot' (did you mean 'report'?); "
        "known: email, report",
        f"{path}:11:14: expect.wait_p95.3: no task type has priority 3; known: 2, 8",
    ]


def test_task_names_wait_for_task_types_to_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While task_types itself is broken, names that refer to it are not judged against it."""
    path = tmp_path / "x.yaml"
    path.write_text(
        "task_types:\n  email: {priority: 0}\n"
        "arrivals:\n  - {task: emial, pattern: burst, count: 1}\n",
        encoding="utf-8",
    )

    assert main(["validate", str(path)]) == 2

    assert capsys.readouterr().err.splitlines() == [
        f"{path}:2:21: task_types.email.priority: must be at least 1 (got 0)"
    ]
