"""The scheduling core imports no threads, clocks, logging, rendering or pydantic."""

from __future__ import annotations

import ast
from pathlib import Path

import dtq

BANNED = {
    "threading",
    "time",
    "structlog",
    "rich",
    "asyncio",
    "multiprocessing",
    "signal",
    "os",
    "pydantic",
    "yaml",
}
PACKAGE = Path(dtq.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _module_path(name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_core_and_what_it_imports_use_no_threads_clock_io_or_pydantic() -> None:
    """Walk every dtq module the core reaches: none imports a banned module (the scenario
    reaches the core compiled into a plan by dtq.scenario, never as pydantic models)."""
    todo = sorted(PACKAGE.joinpath("core").glob("*.py"))
    seen: set[Path] = set()
    offenders: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            if name.split(".")[0] in BANNED or name.startswith("dtq.scenario"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if name.startswith("dtq.") and (target := _module_path(name)) is not None:
                todo.append(target)
    assert len(seen) >= 8, "the walk should reach every core module"
    assert offenders == []
