"""Pydantic's validation errors, reworded: each says the rule and the fix, at a data path.

Pydantic's `loc` names model fields and union tags; the path here names what the file
wrote (keys and list indexes), so the loader can find its position. Values are shown as
the file would write them (`true`, `null`, `'text'`), kept short enough for one line.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag
from pydantic_core import ErrorDetails

from dtq.scenario.models import KIND_PATTERN, NAME_PATTERN, STRUCTURAL_TAGS, Scenario
from dtq.scenario.references import Loc, Problem

ModelLoc = tuple[int | str, ...]
"""Pydantic's path: field names, list indexes, union tags and `[key]` for a mapping key."""

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
_MISSING = object()
_NUMBER_KINDS = {"int_type", "int_parsing", "float_type", "float_parsing"}
_WHOLE_KINDS = {"int_type", "int_parsing"}
# What YAML 1.1 leaves as text although it reads as a number: an exponent without a dot
# or without a sign (`1e9`, `1.0e9`), or a number someone quoted.
_NUMBER_TEXT = re.compile(r"^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?)(\d+))?$")


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
        return _TEMPLATES[kind].format(got=_show(value), **ctx) + _number_hint(kind, value)
    except KeyError:  # a rule without a plain wording yet: pydantic's own, lower-cased
        return f"{error['msg'][:1].lower()}{error['msg'][1:]} (got {_show(value)})"


def _number_hint(kind: str, value: object) -> str:
    """How to write a number that YAML read as text (`1e9` is text to YAML 1.1)."""
    match = _NUMBER_TEXT.match(value.strip()) if isinstance(value, str) else None
    if kind not in _NUMBER_KINDS or match is None or not (match.group(2) or match.group(3)):
        return ""
    sign, whole, fraction, exponent_sign, exponent = match.groups()
    number = Decimal(match.group(0))
    if kind in _WHOLE_KINDS and number != number.to_integral_value():
        return ""
    if exponent is None:
        return f"; numbers are written without quotes: {match.group(0)}"
    forms = (
        []
        if kind in _WHOLE_KINDS
        else [f"{sign}{whole or 0}.{fraction or 0}e{exponent_sign or '+'}{exponent}"]
    )
    plain = format(number.to_integral_value() if kind in _WHOLE_KINDS else number, "f")
    if len(plain) <= 24:
        forms.append(plain)
    if not forms:
        return ""
    return f"; YAML reads {value} as text, not a number: write {' or '.join(forms)}"


def _did_you_mean(word: object, choices: Sequence[str]) -> str:
    """`; did you mean 'x'?` for the choice closest to a misspelt `word`, else nothing."""
    close = difflib.get_close_matches(word, choices, n=1) if isinstance(word, str) else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _choice_message(expected: str, value: object) -> str:
    choices = [choice.strip("'") for choice in expected.replace(" or ", ", ").split(", ")]
    message = f"must be one of {', '.join(choices)} (got {_show(value)})"
    if isinstance(value, bool):
        return message + "; YAML reads unquoted yes/no/on/off as true/false: quote the word"
    return message + _did_you_mean(value, choices)


def _unknown_key(model_loc: ModelLoc, key: object) -> str:
    allowed = _allowed_keys(model_loc[:-1])
    if not isinstance(key, str):
        return f"a key here must be a name (got {_show(key)}); allowed keys: {', '.join(allowed)}"
    hint = _did_you_mean(key, allowed)
    return "unknown key" + (hint or f"; allowed keys: {', '.join(allowed)}")


def _is_suggested(model_loc: ModelLoc, mapping: Any) -> bool:
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
    tag_loc = (*loc, discriminator)
    if discriminator not in value:
        message = f"missing required key '{discriminator}'; one of {tags}"
        return Problem(tag_loc, message, at="parent")
    got = value[discriminator]
    if not isinstance(got, str):
        return Problem(tag_loc, f"must be one of {tags} (got {_show(got)})")
    hint = _did_you_mean(got, tags.split(", "))
    return Problem(tag_loc, f"unknown {discriminator} {_show(got)}; use one of {tags}{hint}")


def _rule_problem(message: str, loc: Loc, mapping: dict[Any, Any]) -> Problem:
    """A rule across a mapping's keys: point at the key the message starts with, if present."""
    first_word = message.split(" ", 1)[0]
    if first_word in mapping:
        return Problem((*loc, first_word), message)
    return Problem(loc, message)


def _data_loc(model_loc: ModelLoc, data: Any) -> tuple[Loc, bool]:
    """Pydantic's loc as a path into the data (union tags dropped), and whether it is a key."""
    path: list[object] = []
    node = data
    for item in model_loc:
        if item == "[key]":
            return tuple(path), True
        if item in STRUCTURAL_TAGS:
            continue
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


# Which keys and tags are allowed where: read from the models, so messages follow them.


def _allowed_keys(model_loc: ModelLoc) -> list[str]:
    """The keys the model at `model_loc` accepts (aliases such as `from` included)."""
    model = _type_at(model_loc)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _union_tags(model_loc: ModelLoc, discriminator: str) -> list[str]:
    """The values `discriminator` may take in the union validated at `model_loc`."""
    tags: list[str] = []
    for member in get_args(_type_at(model_loc)):
        field = getattr(member, "model_fields", {}).get(discriminator)
        if field is not None and get_origin(field.annotation) is Literal:
            tags += [str(tag) for tag in get_args(field.annotation)]
    return tags


def _type_at(model_loc: ModelLoc) -> Any:
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
    if get_origin(member) is Annotated:
        if any(isinstance(meta, Tag) and meta.tag == tag for meta in get_args(member)[1:]):
            return True
        member = get_args(member)[0]
    fields = getattr(member, "model_fields", {})
    return any(
        get_origin(field.annotation) is Literal and tag in get_args(field.annotation)
        for field in fields.values()
    )
