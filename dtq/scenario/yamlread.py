"""Read YAML into plain data with a position for every key and value, or say why it cannot be.

The text is composed into nodes (which keep their marks) and read into dicts, lists and
scalars, so a problem found later at a data path can be pointed at in the file. Problems
YAML itself has (syntax, tabs, duplicate keys, unknown tags, files too big, too deep or
blown up by nested aliases) are found here, each located.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dtq.errors import ScenarioError, UsageError
from dtq.files import NotRegularFile, open_regular
from dtq.scenario.messages import dotted
from dtq.scenario.references import Loc, Problem

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 40
FILE_PATH = "(file)"
"""The path shown for a problem that belongs to the file rather than to a key."""

_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"
_SCALAR_TAGS = {_YAML_TAG + name for name in ("null", "bool", "int", "float", "str")}

Position = tuple[int, int]
"""A 1-based (line, column) in the file."""


@dataclass(frozen=True, order=True)
class Located:
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
class Spot:
    """Where a value starts, and where its key starts when it sits in a mapping."""

    value: Position
    key: Position | None


@dataclass(frozen=True)
class Document:
    """A YAML document read into plain data, with where each value is and what was wrong."""

    data: Any
    yaml_problems: list[Located]
    spots: dict[Loc, Spot]
    unreadable: set[Loc]
    """Values replaced by None after a problem: later complaints about them are noise."""

    def locate(self, problems: Sequence[Problem]) -> list[Located]:
        """The reading problems and `problems` placed in the file, sorted, without repeats."""
        kept = [p for p in problems if p.at == "key" or not self._is_unreadable(p.loc)]
        return sorted(set(self.yaml_problems + [self._place(problem) for problem in kept]))

    def _is_unreadable(self, loc: Loc) -> bool:
        return any(loc[: len(bad)] == bad for bad in self.unreadable)

    def _place(self, problem: Problem) -> Located:
        """At the nearest spot the data has for the problem's path (its key if asked)."""
        loc = problem.loc[:-1] if problem.at == "parent" else problem.loc
        while loc not in self.spots and loc:
            loc = loc[:-1]
        spot = self.spots.get(loc, Spot((1, 1), None))
        position = spot.key if problem.at == "key" and spot.key is not None else spot.value
        return Located(*position, dotted(problem.loc), problem.message)


def read_bytes(path: Path) -> bytes:
    """The file's bytes: UsageError if it cannot be read, ScenarioError if over the cap."""
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise UsageError(
            f"{path} is a directory; give a scenario file such as scenarios/burst.yaml"
        ) from None
    except NotRegularFile as exc:
        raise UsageError(
            f"{path} {exc.strerror}; give a scenario file such as scenarios/burst.yaml "
            "(to use a stream, save it to a file first)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError([Located(1, 1, FILE_PATH, _too_big_message()).render(str(path))])
    return raw


def decode(raw: bytes, source: str) -> str:
    """The file's text (a UTF-8 BOM dropped); ScenarioError at the first byte not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise ScenarioError([Located(line, column, FILE_PATH, message).render(source)]) from None


def read_yaml(text: str) -> Document | list[Located]:
    """The text as a Document, or the problems that keep it from being read at all."""
    if len(text) > MAX_FILE_BYTES:
        return [Located(1, 1, FILE_PATH, _too_big_message())]
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        return _syntax_problems(exc, text)
    try:
        return _read_root(loader, text)
    finally:
        loader.dispose()


def _read_root(loader: yaml.SafeLoader, text: str) -> Document | list[Located]:
    try:
        root = loader.get_single_node()
    except (yaml.YAMLError, RecursionError) as exc:
        return _syntax_problems(exc, text)
    if root is None or (isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null"):
        message = "file is empty; a scenario needs at least task_types and arrivals"
        return [Located(1, 1, FILE_PATH, message)]
    if not isinstance(root, MappingNode):
        message = (
            "the top level must be a mapping of keys such as task_types: and arrivals: "
            f"(got {_node_kind(root)})"
        )
        return [Located(*_position(root.start_mark), FILE_PATH, message)]
    reader = _Reader(loader)
    try:
        data = reader.read(root, ())
    except _Stop as stop:
        return [*reader.located, stop.located]
    return Document(data, reader.located, reader.spots, reader.unreadable)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_message(text: str) -> str:
    """Why text holding a lone surrogate (YAML's `"\\ud800"`) cannot be used, and the fix."""
    code = next(ord(c) for c in text if 0xD800 <= ord(c) <= 0xDFFF)
    return (
        f"the escape \\u{code:04x} is half of a UTF-16 surrogate pair, not a character, so "
        "this text cannot be written as UTF-8; remove it or write the character itself "
        "(\\U0001F600 for one beyond \\uffff)"
    )


def check_file_name(path: Path) -> None:
    """ScenarioError if the file's name is not UTF-8 text (it goes into the run's log)."""
    if not _is_utf8(str(path)):
        message = (
            "the file name is not UTF-8 text, and it goes into the event log; "
            "rename the file (letters, digits, - and _ are safe)"
        )
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise ScenarioError([Located(1, 1, FILE_PATH, message).render(shown)])


def _too_big_message() -> str:
    return (
        f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the cap; "
        "a scenario is a few kilobytes: is this the right file?"
    )


def _too_deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; a scenario needs only a few levels"


def _position(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def _at_node(node: Node, loc: Loc, message: str) -> Located:
    return Located(*_position(node.start_mark), dotted(loc), message)


def _node_kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"the single value {node.value[:40]!r}"
    return "a mapping"


def _short_tag(tag: str) -> str:
    return "the YAML tag " + tag.replace(_YAML_TAG, "!!")


def _syntax_problems(exc: BaseException, text: str) -> list[Located]:
    """Located problems for text YAML cannot read (syntax, characters, nesting)."""
    if isinstance(exc, RecursionError):
        return [Located(*_deepest_position(text), FILE_PATH, _too_deep_message())]
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"the character {character!r} is not allowed in YAML text; remove it"
        return [Located(line, column, FILE_PATH, message)]
    if not isinstance(exc, yaml.MarkedYAMLError):
        return [Located(1, 1, FILE_PATH, f"YAML cannot read this file: {exc}")]
    mark = exc.problem_mark or exc.context_mark
    line, column = _position(mark) if mark is not None else (1, 1)
    if "'\\t'" in (exc.problem or ""):
        return _tab_problems(text, line, column)
    message = f"YAML syntax error: {exc.problem or 'cannot parse'}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return [Located(line, column, FILE_PATH, message)]


def _tab_problems(text: str, line: int, column: int) -> list[Located]:
    """The tab YAML stopped at, and every line that starts with one, so all get fixed at once."""
    message = "a tab character: YAML indents and separates with spaces only; use spaces"
    lines = {line: column}
    for number, content in enumerate(text.splitlines(), start=1):
        if content.startswith("\t"):
            lines.setdefault(number, 1)
    return [Located(number, col, FILE_PATH, message) for number, col in sorted(lines.items())]


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


class _Stop(Exception):
    """Reading cannot go on (the document is too big or too deep)."""

    def __init__(self, located: Located) -> None:
        self.located = located
        super().__init__(located.message)


_Pair = tuple[Node, Node]
_BAD_KEY = object()


class _Reader:
    """Reads a composed YAML node tree into plain data and records where every value is."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._nodes = 0
        self.spots: dict[Loc, Spot] = {}
        self.located: list[Located] = []
        self.unreadable: set[Loc] = set()

    def read(self, node: Node, loc: Loc, key_node: Node | None = None) -> Any:
        """The plain value of `node`, found at `loc` in the data."""
        self._count(node, loc)
        key = None if key_node is None else _position(key_node.start_mark)
        self.spots[loc] = Spot(_position(node.start_mark), key)
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in (_YAML_TAG + "map", _YAML_TAG + "seq"):
            return self._fail(node, loc, f"{_short_tag(node.tag)} is not used in scenarios")
        if isinstance(node, MappingNode):
            return self._mapping(node, loc)
        return [self.read(item, (*loc, index)) for index, item in enumerate(node.value)]

    def _count(self, node: Node, loc: Loc) -> None:
        """Stop at MAX_NODES values (aliases re-read each time) or MAX_DEPTH levels."""
        self._nodes += 1
        if self._nodes > MAX_NODES:
            message = (
                f"more than {MAX_NODES:,} values once aliases are expanded; "
                "a scenario needs far fewer (aliases nested in aliases multiply)"
            )
            raise _Stop(_at_node(node, loc, message))
        if len(loc) > MAX_DEPTH:
            raise _Stop(_at_node(node, loc, _too_deep_message()))

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
            value = self._loader.construct_object(node)
        except (ValueError, OverflowError, KeyError, yaml.YAMLError):
            if len(node.value) > 1000:
                return None, "this number has too many digits to read"
            return None, f"{node.value[:40]!r} cannot be read as {_short_tag(node.tag)}"
        if isinstance(value, str) and not _is_utf8(value):
            return None, _surrogate_message(value)
        return value, ""

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

    def _report(self, node: Node, loc: Loc, message: str) -> None:
        self.located.append(_at_node(node, loc, message))

    def _fail(self, node: Node, loc: Loc, message: str) -> None:
        self._report(node, loc, message)
        self.unreadable.add(loc)
