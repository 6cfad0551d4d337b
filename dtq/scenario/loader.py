"""Turn a scenario file into a validated `Scenario`, or into every problem it has, located.

`yamlread` reads the YAML into plain data with a position for every key and value.
Pydantic then validates the data strictly (`true` is not a number), `references` checks
the names (those of task types even when the rest fails), `messages` rewords what
pydantic found, and each problem becomes one line `file:line:col: dotted.path: message`,
all of them in one pass, sorted by position.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dtq.durations import DURATION_PATTERN, format_duration
from dtq.errors import ScenarioError, UsageError
from dtq.scenario.durations import SECONDS_CONTEXT
from dtq.scenario.messages import describe_errors, dotted
from dtq.scenario.models import Scenario
from dtq.scenario.overrides import Override, apply_overrides, digest
from dtq.scenario.references import Problem, check_names, check_references
from dtq.scenario.yamlread import Document, check_file_name, decode, read_bytes, read_yaml

_OVERRIDE_FLAGS = {
    "seed": "--seed",
    "clock": "--clock",
    "time_scale": "--time-scale",
    "workers": "--workers",
    "backend": "--backend",
}


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario file that validated: the model, and what identifies the file it came from."""

    path: Path
    name: str
    model: Scenario
    sha256: str

    def resolved(self) -> dict[str, Any]:
        """The whole scenario with every default filled in, JSON-safe (durations in seconds)."""
        data: dict[str, Any] = self.model.model_dump(mode="json", by_alias=True)
        data["name"] = self.name
        return data

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        clock: str | None = None,
        time_scale: float | None = None,
        workers: int | None = None,
        backend: str | None = None,
    ) -> LoadedScenario:
        """A copy with command-line overrides applied and validated again (UsageError if bad)."""
        given = {
            "seed": seed,
            "clock": clock,
            "time_scale": time_scale,
            "workers": workers,
            "backend": backend,
        }
        changes = {key: value for key, value in given.items() if value is not None}
        if not changes:
            return self
        data = self.model.model_dump(by_alias=True) | changes
        return replace(self, model=_validate_overrides(data, changes))


def _validate_overrides(data: dict[str, Any], changes: Collection[str]) -> Scenario:
    """The model of `data` with overrides applied, or UsageError naming the flags at fault."""
    try:
        model = Scenario.model_validate(data, strict=True, context=SECONDS_CONTEXT)
    except ValidationError as exc:
        lines = [
            f"{_OVERRIDE_FLAGS.get(str(problem.loc[0]), dotted(problem.loc))}: {problem.message}"
            for problem in describe_errors(exc.errors(), data)
        ]
        raise UsageError("; ".join(lines)) from None
    problems = check_references(model)
    if problems:
        raise UsageError("; ".join(_override_problem(problem, changes) for problem in problems))
    return model


def _override_problem(problem: Problem, changes: Collection[str]) -> str:
    """A problem an override caused, named by its flag (and by its path if elsewhere)."""
    if problem.loc and problem.loc[0] in changes:
        return f"{_OVERRIDE_FLAGS[str(problem.loc[0])]}: {problem.message}"
    flags = ", ".join(_OVERRIDE_FLAGS[key] for key in changes)
    return f"{flags}: {dotted(problem.loc)}: {problem.message}"


def load_scenario(path: str | Path, *, overrides: Sequence[Override] = ()) -> LoadedScenario:
    """Read and validate a scenario file: ScenarioError lists every problem, located.

    `overrides` (`--set PATH=VALUE`) are written into the file's data first and checked
    with it; a problem under one of them names its `--set` instead of a line.
    """
    return ScenarioSource.read(path).load(overrides)


@dataclass(frozen=True)
class ScenarioSource:
    """A scenario file read once, to be validated with one set of overrides or many."""

    path: Path
    raw: bytes

    @classmethod
    def read(cls, path: str | Path) -> ScenarioSource:
        """The file's bytes (UsageError if unreadable, ScenarioError if over the cap)."""
        check_file_name(Path(path))
        return cls(Path(path), read_bytes(Path(path)))

    def load(self, overrides: Sequence[Override] = ()) -> LoadedScenario:
        """The scenario with `overrides` applied, validated (ScenarioError lists problems)."""
        source = str(self.path)
        text = decode(self.raw, source)
        model = validate_text(text, source=source, overrides=overrides)
        return LoadedScenario(
            path=self.path,
            name=model.name or self.path.stem,
            model=model,
            sha256=digest(self.raw, overrides),
        )


def validate_text(text: str, *, source: str, overrides: Sequence[Override] = ()) -> Scenario:
    """Validate scenario text; `source` names the file in messages. Raises ScenarioError."""
    document = read_yaml(text)
    if not isinstance(document, Document):
        raise ScenarioError([item.render(source) for item in document])
    overridden = apply_overrides(document, overrides)
    model, problems = _check_data(overridden.data)
    rendered = overridden.render(problems, source)
    if rendered or model is None:
        raise ScenarioError(rendered)
    return model


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editor completion and checks."""
    schema = Scenario.model_json_schema(by_alias=True)
    _write_duration_defaults(schema)
    schema.pop("title", None)
    schema.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dtq scenario",
        "description": "A dtq scenario file: task types, arrivals, faults, retry policy and "
        "expectations. Durations are written with a unit (250ms, 2s, 1.5m).",
        **schema,
    }


def _check_data(data: Any) -> tuple[Scenario | None, list[Problem]]:
    """The model (None if it did not validate) and every problem of a scenario's data."""
    try:
        model = Scenario.model_validate(data, strict=True)
    except ValidationError as exc:
        # Names are checked even so: a typo in a task name comes out in this same pass.
        return None, describe_errors(exc.errors(), data) + check_names(data)
    return model, check_references(model)


def _write_duration_defaults(schema: Any) -> None:
    """Show duration defaults as a file writes them (`100ms`), not as seconds."""
    if isinstance(schema, dict):
        default = schema.get("default")
        if _is_duration_schema(schema) and isinstance(default, int | float):
            schema["default"] = format_duration(default)
        for value in schema.values():
            _write_duration_defaults(value)
    elif isinstance(schema, list):
        for item in schema:
            _write_duration_defaults(item)


def _is_duration_schema(schema: dict[str, Any]) -> bool:
    options = [schema, *schema.get("anyOf", [])]
    return any(isinstance(o, dict) and o.get("pattern") == DURATION_PATTERN for o in options)
