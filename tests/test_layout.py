"""The layout's rules: what the reducer and the comparisons may import, and short functions."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import PACKAGE, imports_of, reached_modules

MAX_FUNCTION_LINES = 50


@pytest.mark.parametrize("folder", ["fold", "compare"])
def test_the_reducer_and_the_comparisons_reach_no_rendering(folder: str) -> None:
    """fold/ and compare/ (and every dtq module they reach) import neither rich nor
    dtq.render: numbers are made in one place and drawn in another."""
    reached = reached_modules(folder)
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in reached
        for name in imports_of(path)
        if name.split(".")[0] == "rich" or name.startswith("dtq.render")
    ]
    assert len(reached) >= 3
    assert offenders == []


def test_no_function_in_dtq_is_over_fifty_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []
