"""The scheduling core imports no threads, clocks, logging, rendering or pydantic."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import PACKAGE, dtq_module_path, imports_of

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
        for name in imports_of(path):
            if name.split(".")[0] in BANNED or name.startswith("dtq.scenario"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if name.startswith("dtq.") and (target := dtq_module_path(name)) is not None:
                todo.append(target)
    assert len(seen) >= 8, "the walk should reach every core module"
    assert offenders == []
