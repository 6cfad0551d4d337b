"""Loading a good scenario file: the model, its identity, overrides and the schema."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from dtq.cli import main
from dtq.errors import ScenarioError, UsageError
from dtq.scenario import LoadedScenario, Scenario, load_scenario, validate_text
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.models import BurstArrival, Exponential, PoissonArrival

GOOD = """\
seed: 42
workers: 8
scheduler: {policy: aging, aging_interval: 2s}
retry:
  max_attempts: 4
  base_delay: 100ms
  max_delay: 5s
  retry_on: [network, timeout]
task_types:
  email:  {priority: 2, duration: {dist: exponential, mean: 20ms}, timeout: 1s,
           failures: {network: 0.10, bad_input: 0.01}}
  report: {priority: 8, duration: {dist: uniform, low: 100ms, high: 400ms}}
arrivals:
  - {task: email,  pattern: poisson, rate: 200, from: 0s, until: 10s}
  - {task: report, pattern: burst, count: 2000, at: 2s}
  - {task: email,  pattern: ramp, start_rate: 10, end_rate: 500, from: 10s, until: 20s}
faults:
  - {kind: outage, from: 5s, until: 8s, error: network, rate: 0.9}
  - {kind: worker_crash, at: 4s, workers: 2, restart_after: 1s}
expect:
  dlq_max: 10
  wait_p95: {2: 50ms, 8: 1.5m}
"""


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    """A valid scenario written to `burst.yaml`."""
    path = tmp_path / "burst.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


@pytest.fixture
def loaded(good_file: Path) -> LoadedScenario:
    """The valid scenario, loaded."""
    return load_scenario(good_file)


def test_valid_file_loads(loaded: LoadedScenario) -> None:
    """Every section of a valid file ends up in the model."""
    model = loaded.model
    assert model.seed == 42
    assert model.workers == 8
    assert list(model.task_types) == ["email", "report"]
    assert isinstance(model.arrivals[0], PoissonArrival)
    assert isinstance(model.arrivals[1], BurstArrival)
    assert model.retry.retry_on == ["network", "timeout"]


def test_durations_are_seconds(loaded: LoadedScenario) -> None:
    """Durations written with units are stored in seconds."""
    model = loaded.model
    assert model.retry.base_delay == pytest.approx(0.1)
    assert model.scheduler.aging_interval == 2.0
    assert isinstance(model.task_types["email"].duration, Exponential)
    assert model.task_types["email"].duration.mean == pytest.approx(0.02)
    assert model.expect.wait_p95 == {2: pytest.approx(0.05), 8: 90.0}


def test_sha256_is_of_the_file_bytes(loaded: LoadedScenario, good_file: Path) -> None:
    """The digest identifies the exact bytes that were loaded."""
    assert loaded.sha256 == hashlib.sha256(good_file.read_bytes()).hexdigest()


def test_name_defaults_to_file_stem(loaded: LoadedScenario, tmp_path: Path) -> None:
    """Without `name:` the file stem names the scenario; with it, the key wins."""
    assert loaded.model.name is None
    assert loaded.name == "burst"
    named = tmp_path / "other.yaml"
    named.write_text("name: spike\n" + GOOD, encoding="utf-8")
    assert load_scenario(named).name == "spike"


def test_path_is_kept_as_given(good_file: Path) -> None:
    """The path is the one the caller gave, a str turned into a Path."""
    assert load_scenario(str(good_file)).path == good_file


def test_resolved_is_json_and_validates_again(loaded: LoadedScenario) -> None:
    """resolved() is JSON-safe, fills in name and defaults, and validates (as seconds)."""
    resolved = loaded.resolved()
    again = json.loads(json.dumps(resolved, allow_nan=False))
    assert again["name"] == "burst"
    assert again["arrivals"][0]["from"] == 0.0
    assert again["retry"]["jitter"] == "none"
    named = loaded.model.model_copy(update={"name": "burst"})
    assert Scenario.model_validate(again, context=SECONDS_CONTEXT) == named


def test_with_overrides_applies_and_validates(loaded: LoadedScenario) -> None:
    """Overrides give a validated copy and leave the original alone."""
    copy = loaded.with_overrides(seed=7, clock="virtual", time_scale=10.0, workers=3)
    assert (copy.model.seed, copy.model.clock, copy.model.workers) == (7, "virtual", 3)
    assert copy.model.time_scale == 10.0
    assert copy.model.task_types == loaded.model.task_types
    assert (copy.name, copy.sha256) == (loaded.name, loaded.sha256)
    assert loaded.model.seed == 42
    assert loaded.with_overrides() is loaded


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workers": 0}, "--workers: must be at least 1 (got 0)"),
        ({"clock": "wall"}, "--clock: must be one of real, virtual (got 'wall')"),
        ({"time_scale": -1.0}, "--time-scale: must be more than 0 (got -1.0)"),
        ({"seed": -3}, "--seed: must be at least 0 (got -3)"),
        ({"backend": "redis://localhost:6379/zero"}, "--backend: must be memory or a redis URL"),
        ({"workers": 1}, "--workers: faults.1.workers: crashes 2 workers"),
    ],
)
def test_bad_overrides_name_the_flag(
    loaded: LoadedScenario, overrides: dict[str, object], message: str
) -> None:
    """A bad override is a UsageError that names the flag and the rule."""
    with pytest.raises(UsageError) as caught:
        loaded.with_overrides(**overrides)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_redis_backend_override_is_accepted(loaded: LoadedScenario) -> None:
    """A well-formed redis URL is a valid backend."""
    copy = loaded.with_overrides(backend="redis://127.0.0.1:6379/0")
    assert copy.model.backend == "redis://127.0.0.1:6379/0"


def test_validate_text_reports_with_source_name() -> None:
    """validate_text checks a string and names the given source in messages."""
    with pytest.raises(ScenarioError) as caught:
        validate_text("workers: 0\n" + GOOD.replace("workers: 8\n", ""), source="inline.yaml")
    assert caught.value.problems == [
        "inline.yaml:1:10: workers: must be at least 1 (got 0); workers: 0 is only for a "
        "redis backend, where `dtq worker` processes serve the queue"
    ]


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    """YAML anchors, aliases and `<<` merges are read as YAML defines them."""
    text = """\
        task_types:
          email: &base {priority: 3, timeout: 1s}
          report:
            <<: *base
            priority: 7
        arrivals:
          - {task: report, pattern: burst, count: 5}
        """
    model = validate_text(textwrap.dedent(text), source="m.yaml")
    assert model.task_types["report"].priority == 7
    assert model.task_types["report"].timeout == 1.0


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_paths_are_usage_errors(tmp_path: Path, make: str) -> None:
    """A missing file or a directory is a UsageError, not a ScenarioError."""
    path = tmp_path / "scenario.yaml"
    if make == "directory":
        path.mkdir()
    with pytest.raises(UsageError):
        load_scenario(path)


def test_huge_file_is_refused(tmp_path: Path) -> None:
    """A file over the size cap is refused with a located message, without parsing it."""
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (6 * 1024 * 1024) + b"\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.problems[0].startswith(f"{path}:1:1: (file): file is larger than 5 MB")


def test_alias_bomb_is_capped() -> None:
    """Aliases that expand exponentially (billion laughs) stop at the node cap."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(ScenarioError) as caught:
        validate_text("\n".join(lines) + "\n", source="lol.yaml")
    assert "more than 100,000 values once aliases are expanded" in str(caught.value)


@pytest.mark.parametrize("depth", [60, 1000])
def test_deep_nesting_is_located(depth: int) -> None:
    """Nesting deeper than the cap (or than YAML's own recursion) is a located problem."""
    text = "a: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ScenarioError) as caught:
        validate_text(text, source="deep.yaml")
    assert caught.value.problems[0].startswith("deep.yaml:1:44: ")
    assert "nested more than 40 levels deep" in caught.value.problems[0]


def test_validate_good_file_exits_0(good_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dtq validate` on a good file prints a one-line summary and exits 0."""
    assert main(["validate", str(good_file)]) == 0
    assert capsys.readouterr().out == (
        f"ok  {good_file} (2 task types, 3 arrivals, ~6,550 tasks)\n"
    )


def test_schema_command_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`dtq schema` prints a JSON Schema whose properties include task_types."""
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "task_types" in schema["properties"]
    assert schema["additionalProperties"] is False
    assert schema["$schema"].startswith("https://json-schema.org/")
    retry = schema["$defs"]["Retry"]["properties"]
    assert retry["base_delay"]["default"] == "100ms"
