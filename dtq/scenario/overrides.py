"""`--set PATH=VALUE`: change one value of a scenario from the command line.

The path is dotted (`retry.max_attempts`, `arrivals.0.rate`, `expect.wait_p95.1`), the
value is read as YAML (`8`, `250ms`, `[network, timeout]`, `{dist: constant, value: 5ms}`).
An override is written into the file's data before validation, so it is checked exactly
like the file. Each problem is then told where it belongs: under a path an override set
(or created), it names the `--set`; anywhere else it keeps the file's line and column.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dtq.errors import ScenarioError, UsageError
from dtq.scenario.messages import dotted
from dtq.scenario.references import Loc, Problem
from dtq.scenario.yamlread import Document, _Reader

_FLAG = "--set"


@dataclass(frozen=True)
class Override:
    """One `--set PATH=VALUE`: the text as given, the path's segments and the value read."""

    text: str
    path: tuple[str, ...]
    value: Any

    @property
    def flag(self) -> str:
        """How messages name it: `--set retry.max_attempts=8`."""
        return f"{_FLAG} {self.text}"


def parse_override(text: str) -> Override:
    """`PATH=VALUE` with the value read as YAML; UsageError saying the form if it is not."""
    path, value_text = split_assignment(text)
    return Override(text, path, read_value(value_text, flag=f"{_FLAG} {text}"))


def parse_overrides(texts: Sequence[str] | None) -> list[Override]:
    """Every `--set` of a command line, in order (a later one wins on the same path)."""
    return [parse_override(text) for text in texts or ()]


def split_assignment(text: str) -> tuple[tuple[str, ...], str]:
    """The dotted path's segments and the value's text of `PATH=VALUE`."""
    path_text, equals, value_text = text.partition("=")
    path = tuple(path_text.strip().split("."))
    if not equals or not all(path):
        raise UsageError(
            f"{_FLAG} {text}: expected PATH=VALUE with a dotted path into the scenario, "
            "for example --set retry.max_attempts=8 or --set arrivals.0.rate=300"
        )
    return path, value_text


def read_value(text: str, *, flag: str) -> Any:
    """A value written as YAML, read as strictly as a scenario file's values are."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{flag}: the value is not readable YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        reader = _Reader(loader)
        value = reader.read(node, ())
    except (yaml.YAMLError, RecursionError) as exc:
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise UsageError(f"{flag}: the value is not readable YAML: {problem}") from None
    finally:
        loader.dispose()
    if reader.located:
        raise UsageError(f"{flag}: {reader.located[0].message}")
    return value


def digest(raw: bytes, overrides: Sequence[Override]) -> str:
    """The sha256 that names a scenario: its file's bytes, then each override's text."""
    hasher = hashlib.sha256(raw)
    for override in overrides:
        hasher.update(f"\n# {override.flag}".encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class Overridden:
    """A document's data with overrides written in, and which paths each override owns."""

    document: Document
    data: Any
    owned: tuple[tuple[Override, tuple[Loc, ...]], ...]
    """Each override with the paths it created, the path it set last."""

    def render(self, problems: Sequence[Problem], source: str) -> list[str]:
        """Each problem as `file:line:col: path: message`, or naming the `--set` it is under."""
        from_file: list[Problem] = []
        from_flags: list[str] = []
        for problem in problems:
            owner = self._owner(problem.loc)
            if owner is None:
                from_file.append(problem)
                continue
            override, target = owner
            where = "" if problem.loc == target else f"{dotted(problem.loc)}: "
            from_flags.append(f"{override.flag}: {where}{problem.message}")
        located = self.document.locate(from_file)
        return [item.render(source) for item in located] + from_flags

    def _owner(self, loc: Loc) -> tuple[Override, Loc] | None:
        """The last override that set or created a prefix of `loc`, and the path it set."""
        for override, locs in reversed(self.owned):
            if any(loc[: len(owned)] == owned for owned in locs):
                return override, locs[-1]
        return None


def apply_overrides(document: Document, overrides: Sequence[Override]) -> Overridden:
    """The document's data with every override written in; ScenarioError for a bad path."""
    if not overrides:
        return Overridden(document, document.data, ())
    data = copy.deepcopy(document.data)
    owned = tuple((override, _write(data, override)) for override in overrides)
    return Overridden(document, data, owned)


def _write(data: Any, override: Override) -> tuple[Loc, ...]:
    """Write the override's value at its path; the paths it created or replaced."""
    created: list[Loc] = []
    node = data
    loc: Loc = ()
    *parents, last = override.path
    for segment in parents:
        key = _key(node, segment, loc, override)
        loc = (*loc, key)
        if isinstance(node, dict) and key not in node:
            node[key] = {}
            created.append(loc)
        node = node[key]
        if not isinstance(node, dict | list):
            raise _path_error(override, f"{dotted(loc)} is a single value, not a mapping")
    key = _key(node, last, loc, override)
    node[key] = copy.deepcopy(override.value)
    return (*created, (*loc, key))


def _key(node: Any, segment: str, loc: Loc, override: Override) -> Any:
    """The key or index `segment` names in `node`: digits index a list or a numeric key."""
    if isinstance(node, list):
        if not segment.isdigit() or int(segment) >= len(node):
            message = f"{dotted(loc)} is a list of {len(node)}; use an index below {len(node)}"
            raise _path_error(override, f"{message} (got {segment!r})")
        return int(segment)
    if not isinstance(node, dict):
        raise _path_error(override, f"{dotted(loc)} is a single value, not a mapping")
    if segment.isdigit() and segment not in node:
        return int(segment)  # YAML reads `1:` as a number: priorities in wait_p95
    return segment


def _path_error(override: Override, message: str) -> ScenarioError:
    return ScenarioError([f"{override.flag}: {message}"])


SET_HELP = (
    "change one value of the scenario: a dotted path and a YAML value, "
    "e.g. --set retry.max_attempts=8 --set arrivals.0.rate=300 (repeatable)"
)
"""The help text of `--set` on every command that takes it."""
