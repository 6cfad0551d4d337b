"""Checks of retry blocks that need the whole scenario: a task type's block merged over the
scenario's, and what the Redis backend cannot do yet."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from dtq.scenario.models import Scenario
from dtq.scenario.references import Loc, Problem


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


def redis_retry_problems(scenario: Scenario) -> Iterator[Problem]:
    """Retry keys the Redis backend does not support yet, each said with its fix."""
    if scenario.backend == "memory":
        return
    for name, spec in scenario.task_types.items():
        override = spec.retry
        if override is None:
            continue
        loc: Loc = ("task_types", name, "retry")
        attempts = scenario.retry_for(name).max_attempts if not _broken(scenario, name) else None
        if attempts is not None and attempts != scenario.retry.max_attempts:
            yield Problem(
                loc,
                f"gives {name} max_attempts {attempts} but the scenario's is "
                f"{scenario.retry.max_attempts}; with a redis backend every task type has the "
                "same max_attempts for now (Redis redelivers a lost lease up to it)",
                at="key",
            )


def _broken(scenario: Scenario, name: str) -> bool:
    try:
        scenario.retry_for(name)
    except ValidationError:
        return True
    return False
