"""A validator for the part of JSON Schema that `DIFF_JSON_SCHEMA` uses (no new dependency).

Keywords: type (a name or a list), properties, required, additionalProperties (false),
items, enum, const, minimum, and `$ref` to `#/$defs/<name>`. Any other keyword is an error,
so the schema cannot grow a rule this validator would silently skip.
"""

from __future__ import annotations

from typing import Any

KNOWN = {
    "$schema",
    "title",
    "description",
    "$defs",
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
}
TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: object, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def validate(
    instance: object, schema: dict[str, Any], root: dict[str, Any] | None = None, where: str = "$"
) -> list[str]:
    """Every violation of `schema` by `instance`, as `path: problem` lines."""
    root = root if root is not None else schema
    unknown = set(schema) - KNOWN
    if unknown:
        return [f"{where}: schema uses unsupported keywords {sorted(unknown)}"]
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(instance, root["$defs"][name], root, where)
    problems: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(instance, name) for name in names):
            return [f"{where}: expected {'/'.join(names)}, got {type(instance).__name__}"]
    if "const" in schema and instance != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}, got {instance!r}")
    if "enum" in schema and instance not in schema["enum"]:
        problems.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    if "minimum" in schema and isinstance(instance, int | float) and instance < schema["minimum"]:
        problems.append(f"{where}: {instance!r} is below {schema['minimum']}")
    if isinstance(instance, dict):
        problems += _object(instance, schema, root, where)
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            problems += validate(item, schema["items"], root, f"{where}[{index}]")
    return problems


def _object(
    instance: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], where: str
) -> list[str]:
    problems = [
        f"{where}: missing {key!r}" for key in schema.get("required", ()) if key not in instance
    ]
    properties = schema.get("properties", {})
    for key, value in instance.items():
        if key in properties:
            problems += validate(value, properties[key], root, f"{where}.{key}")
        elif schema.get("additionalProperties") is False:
            problems.append(f"{where}: unexpected key {key!r}")
    return problems
