"""Shared test helpers: scenarios built in code, engines run into memory."""

from __future__ import annotations

import ast
import io
import subprocess
from pathlib import Path
from typing import Any

import orjson

import dtq
from dtq.core.workload import iter_tasks
from dtq.engine.virtual import VirtualEngine
from dtq.log.sink import EventSink
from dtq.scenario.compile import compile_plan
from dtq.scenario.models import Scenario

Event = dict[str, Any]

# The repository root, so that tests pass from any working directory.
ROOT = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = ROOT / "scenarios"
DOCS_DIR = ROOT / "docs"
PACKAGE = Path(dtq.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def reached_modules(folder: str) -> list[Path]:
    """The files of dtq/`folder` and of every dtq module they import, directly or not."""
    todo = sorted(PACKAGE.joinpath(folder).glob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(
            target
            for name in imports_of(path)
            if name.startswith("dtq.") and (target := dtq_module_path(name)) is not None
        )
    return sorted(seen)


def dtq_module_path(name: str) -> Path | None:
    """The file of dtq module `name` (`dtq.fold.state`), or None for a name that is not one."""
    base = PACKAGE.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def scenario(**fields: Any) -> Scenario:
    """A valid scenario: one task type `job` (P5) and a burst of 10, unless overridden."""
    data: dict[str, Any] = {
        "seed": 1,
        "workers": 2,
        "task_types": {"job": {"priority": 5, "duration": {"dist": "constant", "value": "10ms"}}},
        "arrivals": [{"pattern": "burst", "task": "job", "count": 10}],
    }
    data.update(fields)
    return Scenario.model_validate(data)


class MemoryFile(io.BytesIO):
    """A BytesIO whose contents survive close()."""

    def close(self) -> None:
        self.saved = self.getvalue()
        super().close()


def run_virtual(
    model: Scenario, *, batch_size: int = 4096
) -> tuple[str, list[Event], dict[str, int]]:
    """Run `model` on the virtual engine; returns status, the events as read back, totals."""
    file = MemoryFile()
    sink = EventSink(file, batch_size=batch_size)
    plan = compile_plan(model)
    engine = VirtualEngine(plan, iter_tasks(plan), sink)
    status = engine.run()
    totals = engine.sched.totals()
    sink.close()
    events = [orjson.loads(line) for line in file.saved.splitlines()]
    return status, events, totals


def task_events(events: list[Event]) -> dict[str, list[Event]]:
    """Each task's events, in log order."""
    by_task: dict[str, list[Event]] = {}
    for event in events:
        task_id = event.get("task_id")
        if task_id is not None and event["event"].startswith("task_"):
            by_task.setdefault(task_id, []).append(event)
    return by_task


def finish_process(process: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, str]:
    """Wait for `process`: its exit code, stdout and stderr; a hang kills it and fails."""
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=5)
        raise AssertionError(f"{process.args!r} did not end: {err}") from None
    return process.returncode, out, err
