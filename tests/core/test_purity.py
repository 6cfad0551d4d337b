"""The scheduling core imports no threads, clocks, logging, rendering or pydantic."""

from __future__ import annotations

from tests.helpers import PACKAGE, imports_of, reached_modules

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
    reached = reached_modules("core")
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in reached
        for name in imports_of(path)
        if name.split(".")[0] in BANNED or name.startswith("dtq.scenario")
    ]
    assert len(reached) >= 8, "the walk should reach every core module"
    assert offenders == []
