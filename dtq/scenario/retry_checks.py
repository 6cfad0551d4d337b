"""Checks of retry blocks that need the whole scenario: a task type's block merged over the
scenario's."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from dtq.scenario.models import Scenario
from dtq.scenario.references import Problem


def type_retry_problems(scenario: Scenario) -> Iterator[Problem]:
    """A task type's retry block that does not fit with the scenario's, merged over it."""
    for name, spec in scenario.task_types.items():
        if spec.retry is None:
            continue
        try:
            scenario.retry_for(name)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                prefix = f"with the scenario's retry keys, {where}: " if where else ""
                yield Problem(("task_types", name, "retry"), f"{prefix}{message}", at="key")
