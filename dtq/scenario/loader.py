"""Turn a scenario file into a validated `Scenario`, or into every problem it has, located.

The YAML is composed into nodes (which keep their positions) and read into plain data
with a position for every key and value. Pydantic then validates the data strictly (`true`
is not a number), `references` checks the names, and each problem becomes one line
`file:line:col: dotted.path: message`, all of them in one pass, sorted by position.
"""

from __future__ import annotations

import difflib
import hashlib
import types
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dtq.errors import ScenarioError, UsageError
from dtq.scenario.durations import DURATION_PATTERN, SECONDS_CONTEXT, format_duration
from dtq.scenario.models import KIND_PATTERN, NAME_PATTERN, Scenario
from dtq.scenario.references import Loc, Problem, check_references

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 40
FILE_PATH = "(file)"
"""The path shown for a problem that belongs to the file rather than to a key."""

_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"
_SCALAR_TAGS = {_YAML_TAG + name for name in ("null", "bool", "int", "float", "str")}
_OVERRIDE_FLAGS = {
    "seed": "--seed",
    "clock": "--clock",
    "time_scale": "--time-scale",
    "workers": "--workers",
    "backend": "--backend",
}

Position = tuple[int, int]
"""A 1-based (line, column) in the file."""


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
        try:
            model = Scenario.model_validate(data, strict=True, context=SECONDS_CONTEXT)
        except ValidationError as exc:
            lines = [
                f"{_OVERRIDE_FLAGS.get(str(problem.loc[0]), dotted(problem.loc))}: "
                f"{problem.message}"
                for problem in describe_errors(exc.errors(), data)
            ]
            raise UsageError("; ".join(lines)) from None
        problems = check_references(model)
        if problems:
            raise UsageError("; ".join(_override_problem(problem, changes) for problem in problems))
        return replace(self, model=model)


def _override_problem(problem: Problem, changes: Collection[str]) -> str:
    """A problem an override caused, named by its flag (and by its path if elsewhere)."""
    if problem.loc and problem.loc[0] in changes:
        return f"{_OVERRIDE_FLAGS[str(problem.loc[0])]}: {problem.message}"
    flags = ", ".join(_OVERRIDE_FLAGS[key] for key in changes)
    return f"{flags}: {dotted(problem.loc)}: {problem.message}"


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read and validate a scenario file: ScenarioError lists every problem, located."""
    file_path = Path(path)
    raw = _read_bytes(file_path)
    source = str(path)
    model = validate_text(_decode(raw, source), source=source)
    return LoadedScenario(
        path=file_path,
        name=model.name or file_path.stem,
        model=model,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def validate_text(text: str, *, source: str) -> Scenario:
    """Validate scenario text; `source` names the file in messages. Raises ScenarioError."""
    model, located = _check_text(text)
    if located or model is None:
        raise ScenarioError([item.render(source) for item in located])
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


@dataclass(frozen=True, order=True)
class _Located:
    """One problem at a place in the file; sorts by position."""

    line: int
    column: int
    path: str
    message: str

    def render(self, source: str) -> str:
        """The problem as `file:line:col: path: message`."""
        message = " ".join(self.message.splitlines())
        return f"{source}:{self.line}:{self.column}: {self.path}: {message}"


@dataclass(frozen=True)
class _Spot:
    """Where a value starts, and where its key starts when it sits in a mapping."""

    value: Position
    key: Position | None


class _Stop(Exception):
    """Reading cannot go on (the document is too big or too deep)."""

    def __init__(self, located: _Located) -> None:
        self.located = located
        super().__init__(located.message)


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise UsageError(
            f"{path} is a directory; give a scenario file such as scenarios/burst.yaml"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such scenario file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        message = _too_big_message()
        raise ScenarioError([_Located(1, 1, FILE_PATH, message).render(str(path))])
    return raw


def _too_big_message() -> str:
    return (
        f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the cap; "
        "a scenario is a few kilobytes: is this the right file?"
    )


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise ScenarioError([_Located(line, column, FILE_PATH, message).render(source)]) from None


def _check_text(text: str) -> tuple[Scenario | None, list[_Located]]:
    """The model (None if it did not validate) and every problem of a scenario text."""
    if len(text) > MAX_FILE_BYTES:
        return None, [_Located(1, 1, FILE_PATH, _too_big_message())]
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        return None, _syntax_problems(exc, text)
    try:
        return _check_document(loader, text)
    finally:
        loader.dispose()


def _check_document(loader: yaml.SafeLoader, text: str) -> tuple[Scenario | None, list[_Located]]:
    try:
        root = loader.get_single_node()
    except (yaml.YAMLError, RecursionError) as exc:
        return None, _syntax_problems(exc, text)
    if root is None or (isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null"):
        message = "file is empty; a scenario needs at least task_types and arrivals"
        return None, [_Located(1, 1, FILE_PATH, message)]
    if not isinstance(root, MappingNode):
        line, column = _position(root.start_mark)
        message = (
            "the top level must be a mapping of keys such as task_types: and arrivals: "
            f"(got {_node_kind(root)})"
        )
        return None, [_Located(line, column, FILE_PATH, message)]
    reader = _Reader(loader)
    try:
        data = reader.read(root, ())
    except _Stop as stop:
        return None, [*reader.located, stop.located]
    return _check_data(data, reader)


def _check_data(data: Any, reader: _Reader) -> tuple[Scenario | None, list[_Located]]:
    model: Scenario | None
    try:
        model = Scenario.model_validate(data, strict=True)
    except ValidationError as exc:
        model = None
        problems = describe_errors(exc.errors(), data)
    else:
        problems = check_references(model)
    kept = [p for p in problems if p.at == "key" or not reader.is_unreadable(p.loc)]
    located = reader.located + [_locate(problem, reader.spots) for problem in kept]
    return model, sorted(set(located))


def _locate(problem: Problem, spots: dict[Loc, _Spot]) -> _Located:
    loc = problem.loc[:-1] if problem.at == "parent" else problem.loc
    while loc not in spots and loc:
        loc = loc[:-1]
    spot = spots.get(loc, _Spot((1, 1), None))
    position = spot.key if problem.at == "key" and spot.key is not None else spot.value
    return _Located(*position, dotted(problem.loc), problem.message)


def _position(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def _node_kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"the single value {node.value[:40]!r}"
    return "a mapping"


def _syntax_problems(exc: BaseException, text: str) -> list[_Located]:
    """Located problems for text YAML cannot read (syntax, characters, nesting)."""
    if isinstance(exc, RecursionError):
        return [_Located(*_deepest_position(text), FILE_PATH, _too_deep_message())]
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"the character {character!r} is not allowed in YAML text; remove it"
        return [_Located(line, column, FILE_PATH, message)]
    if not isinstance(exc, yaml.MarkedYAMLError):
        return [_Located(1, 1, FILE_PATH, f"YAML cannot read this file: {exc}")]
    mark = exc.problem_mark or exc.context_mark
    line, column = _position(mark) if mark is not None else (1, 1)
    if "'\\t'" in (exc.problem or ""):
        return _tab_problems(text, line, column)
    message = f"YAML syntax error: {exc.problem or 'cannot parse'}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return [_Located(line, column, FILE_PATH, message)]


def _tab_problems(text: str, line: int, column: int) -> list[_Located]:
    message = "a tab character: YAML indents and separates with spaces only; use spaces"
    lines = {line: column}
    for number, content in enumerate(text.splitlines(), start=1):
        if content.startswith("\t"):
            lines.setdefault(number, 1)
    return [_Located(number, col, FILE_PATH, message) for number, col in sorted(lines.items())]


def _too_deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; a scenario needs only a few levels"


def _deepest_position(text: str) -> Position:
    """Where flow brackets first nest deeper than MAX_DEPTH (else the start of the file)."""
    depth, line, column = 0, 1, 0
    for character in text:
        column += 1
        if character == "\n":
            line, column = line + 1, 0
        elif character in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line, column
        elif character in "]}":
            depth -= 1
    return 1, 1


class _Reader:
    """Reads a composed YAML node tree into plain data and records where every value is."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._nodes = 0
        self.spots: dict[Loc, _Spot] = {}
        self.located: list[_Located] = []
        # Values replaced by None after a problem: pydantic's complaints about them are noise.
        self.unreadable: set[Loc] = set()

    def read(self, node: Node, loc: Loc, key_node: Node | None = None) -> Any:
        """The plain value of `node`, found at `loc` in the data."""
        self._count(node, loc)
        key = None if key_node is None else _position(key_node.start_mark)
        self.spots[loc] = _Spot(_position(node.start_mark), key)
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in (_YAML_TAG + "map", _YAML_TAG + "seq"):
            return self._fail(node, loc, f"{_short_tag(node.tag)} is not used in scenarios")
        if isinstance(node, MappingNode):
            return self._mapping(node, loc)
        return [self.read(item, (*loc, index)) for index, item in enumerate(node.value)]

    def _count(self, node: Node, loc: Loc) -> None:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            message = (
                f"more than {MAX_NODES:,} values once aliases are expanded; "
                "a scenario needs far fewer (aliases nested in aliases multiply)"
            )
            raise _Stop(_Located(*_position(node.start_mark), dotted(loc), message))
        if len(loc) > MAX_DEPTH:
            raise _Stop(_Located(*_position(node.start_mark), dotted(loc), _too_deep_message()))

    def _scalar(self, node: ScalarNode, loc: Loc) -> Any:
        value, problem = self._construct(node)
        if problem:
            self._fail(node, loc, problem)
            return None
        return value

    def _construct(self, node: ScalarNode) -> tuple[Any, str]:
        """The scalar's value, or a problem saying why it cannot be read."""
        if node.tag not in _SCALAR_TAGS:
            return None, f"{_short_tag(node.tag)} is not used in scenarios; quote it for text"
        try:
            return self._loader.construct_object(node), ""
        except (ValueError, OverflowError, KeyError, yaml.YAMLError):
            if len(node.value) > 1000:
                return None, "this number has too many digits to read"
            return None, f"{node.value[:40]!r} cannot be read as {_short_tag(node.tag)}"

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit, merged = self._split_merges(node, loc)
        for key_node, value_node in explicit:
            key = self._key(key_node, loc)
            if key is _BAD_KEY:
                continue
            if key in result:
                self._duplicate(key_node, (*loc, key))
            result[key] = self.read(value_node, (*loc, key), key_node)
        for key_node, value_node in merged:
            key = self._key(key_node, loc)
            if key is not _BAD_KEY and key not in result:
                result[key] = self.read(value_node, (*loc, key), key_node)
        return result

    def _split_merges(self, node: MappingNode, loc: Loc) -> tuple[list[_Pair], list[_Pair]]:
        """The mapping's own entries, and those `<<: *alias` merges in (earlier ones win)."""
        explicit: list[_Pair] = []
        merged: list[_Pair] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                self._count(source, loc)
                if not isinstance(source, MappingNode):
                    message = "<< merges a mapping (an alias such as *defaults) or a list of them"
                    self._fail(source, loc, message)
                    continue
                inner_explicit, inner_merged = self._split_merges(source, loc)
                merged += inner_explicit + inner_merged
        return explicit, merged

    def _key(self, node: Node, loc: Loc) -> Any:
        """The key's value, or _BAD_KEY (reported) when it is not a readable scalar."""
        if not isinstance(node, ScalarNode):
            self._report(node, loc, "a key must be a single name, not a list or a mapping")
            return _BAD_KEY
        key, problem = self._construct(node)
        if problem:
            self._report(node, loc, f"this key: {problem}")
            return _BAD_KEY
        return key

    def _duplicate(self, key_node: Node, loc: Loc) -> None:
        first = self.spots[loc].key
        where = f" (first set on line {first[0]})" if first is not None else ""
        self._report(key_node, loc, f"duplicate key{where}; a mapping names each key once")
        for stale in [spot for spot in self.spots if spot[: len(loc)] == loc]:
            del self.spots[stale]

    def is_unreadable(self, loc: Loc) -> bool:
        """Whether `loc` is, or is inside, a value that could not be read."""
        return any(loc[: len(bad)] == bad for bad in self.unreadable)

    def _report(self, node: Node, loc: Loc, message: str) -> None:
        self.located.append(_Located(*_position(node.start_mark), dotted(loc), message))

    def _fail(self, node: Node, loc: Loc, message: str) -> None:
        self._report(node, loc, message)
        self.unreadable.add(loc)


_Pair = tuple[Node, Node]
_BAD_KEY = object()


def _short_tag(tag: str) -> str:
    return "the YAML tag " + tag.replace(_YAML_TAG, "!!")


# Pydantic's errors, rewritten: each says the rule and the fix, at a path in the file's data.

_DISCRIMINATORS = ("dist", "pattern", "kind")
_MAX_SHOWN_DEPTH = 8
_BACKEND_PATTERN = r"^(memory|redis://.+)$"
_GOT = " (got {got})"
_TEMPLATES = {
    "greater_than_equal": "must be at least {ge}" + _GOT,
    "greater_than": "must be more than {gt}" + _GOT,
    "less_than_equal": "must be at most {le}" + _GOT,
    "less_than": "must be less than {lt}" + _GOT,
    "int_type": "must be a whole number" + _GOT,
    "int_parsing": "must be a whole number" + _GOT,
    "int_from_float": "must be a whole number" + _GOT,
    "float_type": "must be a number" + _GOT,
    "float_parsing": "must be a number" + _GOT,
    "finite_number": "must be a finite number" + _GOT,
    "string_type": "must be text" + _GOT,
    "dict_type": "must be a mapping of keys to values" + _GOT,
    "model_type": "must be a mapping of keys to values" + _GOT,
    "model_attributes_type": "must be a mapping of keys to values" + _GOT,
    "list_type": "must be a list" + _GOT,
    "too_short": "must have at least {min_length} entries (got {actual_length})",
    "too_long": "must have at most {max_length} entries (got {actual_length})",
    "string_too_long": "must be at most {max_length} characters long",
}
_PATTERN_RULES = {
    NAME_PATTERN: "must start with a letter or digit and use only letters, digits, _ . and -",
    KIND_PATTERN: "must be lower_snake_case: a lowercase letter, then a-z, 0-9 or _",
    _BACKEND_PATTERN: "must be memory or a redis URL such as redis://127.0.0.1:6379/0",
}


def describe_errors(errors: Sequence[ErrorDetails], data: Any) -> list[Problem]:
    """Pydantic's errors as plain problems, each at the path of the data it is about."""
    problems = [_problem(error, data) for error in errors]
    return [problem for problem in problems if problem is not None]


def dotted(loc: Loc) -> str:
    """A data path as written in messages: `arrivals.0.task` (`(top level)` for the root)."""
    shown = [_segment(item) for item in loc[:_MAX_SHOWN_DEPTH]]
    if len(loc) > _MAX_SHOWN_DEPTH:
        shown.append("…")
    return ".".join(shown) or "(top level)"


def _segment(item: object) -> str:
    text = str(item)
    if isinstance(item, str) and text.isprintable() and not set(text) & set(" :.'\"") and text:
        return text
    if isinstance(item, int) and not isinstance(item, bool):
        return text
    # Quoted, and never with a colon, so the `file:line:col: path: message` shape holds.
    return _show(item).replace(":", "\\x3a")


def _problem(error: ErrorDetails, data: Any) -> Problem | None:
    loc, is_key = _data_loc(error["loc"], data)
    kind = error["type"]
    if is_key:
        return Problem(loc, "the key " + _describe(error), at="key")
    if kind in ("extra_forbidden", "invalid_key"):
        return Problem(loc, _unknown_key(error["loc"], loc[-1]), at="key")
    if kind == "missing":
        if _is_suggested(error["loc"], _value_at(data, loc[:-1])):
            return None  # the misspelt key's message already names this one
        return Problem(loc, f"missing required key '{loc[-1]}'", at="parent")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_problem(error, loc)
    if kind == "value_error" and isinstance(error["input"], dict):
        return _rule_problem(_describe(error), loc, error["input"])
    return Problem(loc, _describe(error))


def _describe(error: ErrorDetails) -> str:
    kind, value = error["type"], error["input"]
    ctx = {key: _show_number(item) for key, item in error.get("ctx", {}).items()}
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"].removeprefix("Value error, ")))
    if kind == "literal_error":
        return _choice_message(str(ctx["expected"]), value)
    if kind == "string_pattern_mismatch":
        rule = _PATTERN_RULES.get(str(ctx["pattern"]), f"must match {ctx['pattern']}")
        return f"{rule} (got {_show(value)})"
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return f"is too large a number (got {_show(value)})"
    if kind == "too_short" and ctx.get("min_length") == "1":
        return "must not be empty"
    try:
        return _TEMPLATES[kind].format(got=_show(value), **ctx)
    except KeyError:  # a rule without a plain wording yet: pydantic's own, lower-cased
        return f"{error['msg'][:1].lower()}{error['msg'][1:]} (got {_show(value)})"


def _choice_message(expected: str, value: object) -> str:
    choices = [choice.strip("'") for choice in expected.replace(" or ", ", ").split(", ")]
    message = f"must be one of {', '.join(choices)} (got {_show(value)})"
    if isinstance(value, bool):
        return message + "; YAML reads unquoted yes/no/on/off as true/false: quote the word"
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    return message + (f"; did you mean '{close[0]}'?" if close else "")


def _unknown_key(model_loc: tuple[int | str, ...], key: object) -> str:
    allowed = _allowed_keys(model_loc[:-1])
    if not isinstance(key, str):
        return f"a key here must be a name (got {_show(key)}); allowed keys: {', '.join(allowed)}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return f"unknown key; allowed keys: {', '.join(allowed)}"


def _is_suggested(model_loc: tuple[int | str, ...], mapping: Any) -> bool:
    """Whether a key of `mapping` is a misspelling whose suggestion is the missing key."""
    allowed = _allowed_keys(model_loc[:-1])
    if not isinstance(mapping, dict):
        return False
    extras = [key for key in mapping if isinstance(key, str) and key not in allowed]
    return any(difflib.get_close_matches(key, allowed, n=1) == [model_loc[-1]] for key in extras)


def _tag_problem(error: ErrorDetails, loc: Loc) -> Problem:
    """A missing or unknown `dist`/`pattern`/`kind`: say which values are allowed."""
    ctx = error.get("ctx", {})
    discriminator = str(ctx.get("discriminator", "kind")).strip("'")
    tags = ", ".join(_union_tags(error["loc"], discriminator))
    value = error["input"]
    if not isinstance(value, dict):
        return Problem(loc, f"must be a mapping with a {discriminator}: key (got {_show(value)})")
    if discriminator not in value:
        message = f"missing required key '{discriminator}'; one of {tags}"
        return Problem((*loc, discriminator), message, at="parent")
    got = value[discriminator]
    if not isinstance(got, str):
        return Problem((*loc, discriminator), f"must be one of {tags} (got {_show(got)})")
    close = difflib.get_close_matches(got, tags.split(", "), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    message = f"unknown {discriminator} {_show(got)}; use one of {tags}{hint}"
    return Problem((*loc, discriminator), message)


def _rule_problem(message: str, loc: Loc, mapping: dict[Any, Any]) -> Problem:
    """A rule across a mapping's keys: point at the key the message starts with, if present."""
    first_word = message.split(" ", 1)[0]
    if first_word in mapping:
        return Problem((*loc, first_word), message)
    return Problem(loc, message)


def _data_loc(model_loc: tuple[int | str, ...], data: Any) -> tuple[Loc, bool]:
    """Pydantic's loc as a path into the data (union tags dropped), and whether it is a key."""
    path: list[object] = []
    node = data
    for item in model_loc:
        if item == "[key]":
            return tuple(path), True
        if isinstance(node, dict):
            key = _find_key(node, item)
            if key is _MISSING and any(node.get(name) == item for name in _DISCRIMINATORS):
                continue
            path.append(item if key is _MISSING else key)
            node = node.get(key) if key is not _MISSING else None
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path.append(item)
            node = node[item]
        else:
            path.append(item)
            node = None
    return tuple(path), False


def _find_key(mapping: dict[Any, Any], item: int | str) -> object:
    if item in mapping:
        return item
    # Pydantic writes keys that are not str or int as str(key).
    return next((key for key in mapping if str(key) == str(item)), _MISSING)


def _value_at(data: Any, loc: Loc) -> Any:
    for item in loc:
        is_index = isinstance(data, list) and isinstance(item, int) and 0 <= item < len(data)
        if not (is_index or (isinstance(data, dict) and item in data)):
            return None
        data = data[item]
    return data


_MISSING = object()


def _show(value: object) -> str:
    """A value as the file would write it, short enough for one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= 30 else f"a {digits}-digit number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _show_number(value: object) -> object:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value


def _allowed_keys(model_loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `model_loc` accepts (aliases such as `from` included)."""
    model = _type_at(model_loc)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _union_tags(model_loc: tuple[int | str, ...], discriminator: str) -> list[str]:
    """The values `discriminator` may take in the union validated at `model_loc`."""
    tags: list[str] = []
    for member in get_args(_type_at(model_loc)):
        field = getattr(member, "model_fields", {}).get(discriminator)
        if field is not None and get_origin(field.annotation) is Literal:
            tags += [str(tag) for tag in get_args(field.annotation)]
    return tags


def _type_at(model_loc: tuple[int | str, ...]) -> Any:
    """The type pydantic validated at `model_loc`: fields by name, union members by tag."""
    current: Any = Scenario
    for item in model_loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            name = next((n for n, f in fields.items() if item in (n, f.alias)), None)
            current = None if name is None else fields[name].annotation
        elif get_origin(current) is dict:
            current = None if item == "[key]" else get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        elif _is_union(current):
            current = next((m for m in get_args(current) if _has_tag(m, item)), None)
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """`annotation` without Annotated[...] and without `| None`."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif _is_union(annotation) and type(None) in get_args(annotation):
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) > 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _has_tag(member: Any, tag: object) -> bool:
    fields = getattr(member, "model_fields", {})
    return any(
        get_origin(field.annotation) is Literal and tag in get_args(field.annotation)
        for field in fields.values()
    )
