"""Checks across a parsed scenario: names that must refer to something, budgets and URLs.

Each check returns `Problem`s that carry the data path of the offending key or value,
so the loader can point at it in the file. Most run only on a model that parsed; the
names that refer to task types are checked on the file's data as soon as `task_types`
itself parses, so they are reported in the same pass as any other problem.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, TypeAdapter, ValidationError

from dtq.events import ERROR_CRASH, ERROR_TIMEOUT
from dtq.scenario.models import (
    KIND_PATTERN,
    MAX_TASKS,
    BurstArrival,
    CallStep,
    ConstantArrival,
    Outage,
    PoissonArrival,
    RampArrival,
    Scenario,
    Slowdown,
    TaskType,
    WorkerCrash,
)

Loc = tuple[object, ...]
"""A path into the scenario data: mapping keys and list indexes, as written in the file."""

RESERVED_KINDS = {
    ERROR_TIMEOUT: "timeout is raised by dtq itself when an attempt runs too long; "
    "use the task type's timeout: instead",
    ERROR_CRASH: "crash is what dtq records when a worker dies; use a worker_crash fault",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: the data path it is about and what is wrong."""

    loc: Loc
    message: str
    at: Literal["key", "value", "parent"] = "value"
    """Point at the key, at the value, or at the mapping that holds `loc` (a missing key)."""


def check_references(scenario: Scenario) -> list[Problem]:
    """Every cross-reference problem of a scenario whose model already validated."""
    priorities = {name: task_type.priority for name, task_type in scenario.task_types.items()}
    data = scenario.model_dump(by_alias=True, include={"arrivals", "faults", "expect"})
    checks = (
        _reserved_kinds,
        _retry_on,
        _crash_sizes,
        _task_budget,
        _backend,
        _dependency_names,
    )
    # Imported here: the retry checks use this module's Problem.
    from dtq.scenario.retry_checks import type_retry_problems

    every = (*checks, type_retry_problems)
    problems = list(_name_problems(priorities, data))
    return problems + [problem for check in every for problem in check(scenario)]


def check_names(data: Any) -> list[Problem]:
    """The task type names and priorities the file refers to, checked on its data (not a
    model) whenever its `task_types` section parses, however broken the rest is."""
    priorities = _parsed_priorities(data)
    if priorities is None:
        return []
    return list(_name_problems(priorities, data))


def estimate_tasks(scenario: Scenario) -> int:
    """About how many tasks the arrivals submit (burst counts, rate x window for the rest)."""
    return sum(_arrival_tasks_estimate(arrival) for arrival in scenario.arrivals)


def known_error_kinds(scenario: Scenario) -> list[str]:
    """Error kinds an attempt of this scenario can fail with, sorted."""
    kinds = {kind for task_type in scenario.task_types.values() for kind in task_type.failures}
    kinds |= {fault.error for fault in scenario.faults if isinstance(fault, Outage)}
    kinds.add(ERROR_CRASH)
    if scenario.dependencies:
        kinds |= _dependency_error_kinds(scenario)
    if any(task_type.timeout is not None for task_type in scenario.task_types.values()):
        kinds.add(ERROR_TIMEOUT)
    return sorted(kinds)


def _arrival_tasks_estimate(
    arrival: PoissonArrival | ConstantArrival | RampArrival | BurstArrival,
) -> int:
    if isinstance(arrival, BurstArrival):
        return arrival.count
    window_s = arrival.until - arrival.start
    if isinstance(arrival, RampArrival):
        return math.ceil((arrival.start_rate + arrival.end_rate) / 2 * window_s)
    return math.ceil(arrival.rate * window_s)


@functools.cache
def _task_types_adapter() -> TypeAdapter[dict[str, TaskType]]:
    # The same rules as Scenario.task_types: a lower_snake_case name to a TaskType.
    return TypeAdapter(dict[Annotated[str, Field(pattern=KIND_PATTERN)], TaskType])


def _parsed_priorities(data: Any) -> dict[str, int] | None:
    """Each task type's priority, or None unless the `task_types` section parses alone."""
    raw = data.get("task_types") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        parsed = _task_types_adapter().validate_python(raw, strict=True)
    except ValidationError:
        return None
    return {name: task_type.priority for name, task_type in parsed.items()}


def _name_problems(priorities: Mapping[str, int], data: Any) -> Iterator[Problem]:
    """Arrivals and outages naming no task type; wait_p95 for a priority no type has."""
    for loc, name in _task_names(data):
        if name not in priorities:
            yield Problem(loc, _unknown_task(name, priorities))
    yield from _wait_priorities(set(priorities.values()), data)


def _task_names(data: Any) -> Iterator[tuple[Loc, str]]:
    """Where the data names a task type (as text: other values are schema problems)."""
    for index, arrival in _entries(data, "arrivals"):
        if isinstance(arrival.get("task"), str):
            yield ("arrivals", index, "task"), arrival["task"]
    for index, fault in _entries(data, "faults"):
        names = fault.get("tasks")
        for position, name in enumerate(names if isinstance(names, list) else ()):
            if isinstance(name, str):
                yield ("faults", index, "tasks", position), name


def _entries(data: Any, key: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """The mappings listed under `key` in the data, with their indexes."""
    entries = data.get(key) if isinstance(data, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        if isinstance(entry, dict):
            yield index, entry


def _unknown_task(name: str, priorities: Mapping[str, int]) -> str:
    known = sorted(priorities)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown task type '{name}'{hint}; known: {', '.join(known)}"


def _wait_priorities(priorities: set[int], data: Any) -> Iterator[Problem]:
    expect = data.get("expect") if isinstance(data, dict) else None
    waits = expect.get("wait_p95") if isinstance(expect, dict) else None
    known = ", ".join(str(priority) for priority in sorted(priorities))
    for priority in waits if isinstance(waits, dict) else ():
        is_number = isinstance(priority, int) and not isinstance(priority, bool)
        if is_number and 1 <= priority <= 10 and priority not in priorities:
            loc = ("expect", "wait_p95", priority)
            yield Problem(loc, f"no task type has priority {priority}; known: {known}", at="key")


def _reserved_kinds(scenario: Scenario) -> Iterator[Problem]:
    for type_name, task_type in scenario.task_types.items():
        for kind in task_type.failures:
            if kind in RESERVED_KINDS:
                loc = ("task_types", type_name, "failures", kind)
                yield Problem(loc, RESERVED_KINDS[kind], at="key")
    for index, fault in enumerate(scenario.faults):
        if isinstance(fault, Outage) and fault.error in RESERVED_KINDS:
            yield Problem(("faults", index, "error"), RESERVED_KINDS[fault.error])


def _retry_on(scenario: Scenario) -> Iterator[Problem]:
    known = known_error_kinds(scenario)
    lists: list[tuple[Loc, list[str]]] = [(("retry",), scenario.retry.retry_on or [])]
    for name, spec in scenario.task_types.items():
        if spec.retry is not None and "retry_on" in spec.retry.model_fields_set:
            lists.append((("task_types", name, "retry"), spec.retry.retry_on or []))
    for where, kinds in lists:
        yield from _retry_on_kinds(where, kinds, known)


def _retry_on_kinds(where: Loc, kinds: list[str], known: list[str]) -> Iterator[Problem]:
    for index, kind in enumerate(kinds):
        loc = (*where, "retry_on", index)
        if kind in known:
            continue
        if kind == "timeout":
            yield Problem(
                loc,
                "no task type has a timeout, so no attempt can fail with timeout; "
                "add timeout: to a task type or remove timeout from retry_on",
            )
            continue
        close = difflib.get_close_matches(kind, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        yield Problem(loc, f"unknown error kind '{kind}'{hint}; known: {', '.join(known)}")


def _crash_sizes(scenario: Scenario) -> Iterator[Problem]:
    for index, fault in enumerate(scenario.faults):
        # With Redis, workers that join with `dtq worker` count too: no local limit.
        if scenario.backend != "memory":
            return
        if isinstance(fault, WorkerCrash) and fault.workers > scenario.workers:
            yield Problem(
                ("faults", index, "workers"),
                f"crashes {fault.workers} workers but the scenario has only "
                f"workers: {scenario.workers}; lower it or raise workers",
            )


def _task_budget(scenario: Scenario) -> Iterator[Problem]:
    total = estimate_tasks(scenario)
    if total > MAX_TASKS:
        yield Problem(
            ("arrivals",),
            f"these arrivals submit about {total:,} tasks; the cap is {MAX_TASKS:,}: "
            "lower a rate, a count or a window",
            at="key",
        )


def _backend(scenario: Scenario) -> Iterator[Problem]:
    if scenario.backend != "memory" and not is_redis_url(scenario.backend):
        yield Problem(
            ("backend",),
            f"must be memory or a redis URL like redis://127.0.0.1:6379/0, "
            f"with the database a number (got '{scenario.backend}')",
        )


def is_redis_url(url: str) -> bool:
    """Whether `url` reads as redis://HOST[:PORT][/DB] with a numeric port and database."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    database = parts.path.removeprefix("/")
    return (
        parts.scheme == "redis"
        and bool(parts.hostname)
        and (port is None or port > 0)
        and (database == "" or (database.isascii() and database.isdigit()))
        and not parts.query
        and not parts.fragment
    )


def _dependency_error_kinds(scenario: Scenario) -> set[str]:
    """The error kinds calls to the scenario's dependencies can fail with."""
    kinds = set()
    for dependency in scenario.dependencies.values():
        if dependency.queue_limit is not None:
            kinds.add("overloaded")
        if dependency.rate_limit is not None:
            kinds.add("throttled")
        if dependency.mode == "optimistic":
            kinds.add("conflict")
    return kinds


def _unknown_dependency(name: str, scenario: Scenario) -> str:
    known = sorted(scenario.dependencies)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    listed = ", ".join(known) if known else "none; declare it under dependencies:"
    return f"unknown dependency '{name}'{hint}; known: {listed}"


def _dependency_names(scenario: Scenario) -> Iterator[Problem]:
    for type_name, task_type in scenario.task_types.items():
        for position, step in enumerate(task_type.steps or ()):
            if isinstance(step, CallStep) and step.call not in scenario.dependencies:
                loc = ("task_types", type_name, "steps", position, "call")
                yield Problem(loc, _unknown_dependency(step.call, scenario))
    for index, fault in enumerate(scenario.faults):
        named = fault.dependency if isinstance(fault, Outage | Slowdown) else None
        if named is not None and named not in scenario.dependencies:
            yield Problem(("faults", index, "dependency"), _unknown_dependency(named, scenario))
