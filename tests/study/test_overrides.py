"""`--set PATH=VALUE`: checked like the file, problems named by their flag or their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtq.cli import main
from dtq.errors import ScenarioError, UsageError
from dtq.scenario import load_scenario
from dtq.scenario.overrides import parse_override, parse_overrides
from tests.helpers import SCENARIOS_DIR

OUTAGE = SCENARIOS_DIR / "outage.yaml"


def _problems(*sets: str, path: Path = OUTAGE) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides=parse_overrides(list(sets)))
    return caught.value.problems


def test_values_are_read_as_yaml_and_replace_the_file_s() -> None:
    loaded = load_scenario(
        OUTAGE,
        overrides=parse_overrides(
            ["workers=16", "retry.max_attempts=8", "retry.base_delay=50ms", "arrivals.1.rate=40"]
        ),
    )
    model = loaded.model
    assert (model.workers, model.retry.max_attempts) == (16, 8)
    assert model.retry.base_delay == pytest.approx(0.05)
    assert model.arrivals[1].rate == 40  # type: ignore[union-attr]


def test_a_path_the_file_lacks_is_created_and_digit_keys_are_numbers() -> None:
    loaded = load_scenario(OUTAGE, overrides=parse_overrides(["expect.wait_p95.1=20ms"]))
    assert loaded.model.expect.wait_p95 is not None
    assert loaded.model.expect.wait_p95[1] == pytest.approx(0.02)


def test_a_misspelt_key_names_the_flag_and_suggests_the_right_one() -> None:
    assert _problems("retry.max_atempts=8") == [
        "--set retry.max_atempts=8: unknown key; did you mean 'max_attempts'?"
    ]


def test_a_misspelt_section_is_blamed_on_the_flag_that_created_it() -> None:
    assert _problems("retyr.max_attempts=8") == [
        "--set retyr.max_attempts=8: retyr: unknown key; did you mean 'retry'?"
    ]


def test_a_bad_value_says_the_rule() -> None:
    assert _problems("workers=many") == ["--set workers=many: must be a whole number (got 'many')"]


def test_problems_inside_a_mapping_value_name_their_path() -> None:
    problems = _problems("arrivals.0={pattern: poisson, rate: 5}")
    flag = "--set arrivals.0={pattern: poisson, rate: 5}"
    assert f"{flag}: arrivals.0.task: missing required key 'task'" in problems


def test_the_file_s_own_problems_keep_their_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(OUTAGE.read_text().replace("max_delay: 2s", "max_delay: 2 parsecs"))
    problems = _problems("workers=0", path=broken)
    assert problems[0].startswith(f"{broken}:15:14: retry.max_delay: ")
    assert problems[1].startswith("--set workers=0: must be at least 1")


def test_an_index_past_the_end_of_a_list_is_refused() -> None:
    assert _problems("arrivals.7.rate=3") == [
        "--set arrivals.7.rate=3: arrivals is a list of 3; use an index below 3 (got '7')"
    ]


def test_a_path_through_a_single_value_is_refused() -> None:
    assert _problems("workers.count=3") == [
        "--set workers.count=3: workers is a single value, not a mapping"
    ]


@pytest.mark.parametrize("text", ["workers", "=3", "retry..max_attempts=3"])
def test_a_malformed_assignment_shows_the_form(text: str) -> None:
    with pytest.raises(UsageError, match="expected PATH=VALUE"):
        parse_override(text)


def test_yaml_tags_in_a_value_are_refused_as_in_a_file() -> None:
    with pytest.raises(UsageError, match=r"!!python/name:os\.system is not used in scenarios"):
        parse_override("name=!!python/name:os.system")


def test_overrides_change_the_scenario_digest_and_nothing_else_does() -> None:
    plain = load_scenario(OUTAGE)
    again = load_scenario(OUTAGE, overrides=[])
    changed = load_scenario(OUTAGE, overrides=parse_overrides(["workers=6"]))
    assert plain.sha256 == again.sha256 != changed.sha256
    assert plain.model == changed.model


def test_dtq_run_rejects_a_bad_override_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(OUTAGE), "--clock", "virtual", "--set", "retry.max_atempts=8"])
    assert code == 2
    assert "--set retry.max_atempts=8: unknown key; did you mean 'max_attempts'?" in (
        capsys.readouterr().err
    )


def test_dtq_run_logs_the_overridden_scenario(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    args = ["run", str(OUTAGE), "--clock", "virtual", "--quiet", "--log", str(log)]
    assert main([*args, "--set", "workers=9", "--set", "retry.max_attempts=6"]) == 0
    first = log.read_text().splitlines()[0]
    assert '"workers":9' in first and '"max_attempts":6' in first


def test_dtq_validate_takes_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(OUTAGE), "--set", "workers=0"]) == 2
    assert "--set workers=0: must be at least 1" in capsys.readouterr().err
    assert main(["validate", str(OUTAGE), "--set", "workers=3"]) == 0


def test_dtq_check_refuses_set_with_update(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(OUTAGE), "--set", "workers=3", "--update"]) == 2
    assert "--set with --update" in capsys.readouterr().err


def test_dtq_diff_applies_set_to_the_scenario_side(capsys: pytest.CaptureFixture[str]) -> None:
    baseline = SCENARIOS_DIR.parent / "baselines" / "outage.json"
    args = ["diff", str(baseline), str(OUTAGE), "--format", "json"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--set", "retry.max_attempts=6"]) == 1
    assert '"retry.max_attempts"' in capsys.readouterr().out
