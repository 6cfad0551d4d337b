"""Thin entry point: `python run_scenario.py SCENARIO ...` is `dtq run SCENARIO ...`.

Run by a Python without dtq's dependencies (the system's, outside the virtualenv), it
starts again under the project's `.venv` when there is one, and otherwise says what to
run instead of failing with a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / ".venv" / "bin" / "python"
REQUIRED = ("yaml", "pydantic", "structlog", "rich", "orjson", "redis")


def missing_modules() -> list[str]:
    """The modules dtq needs that this Python cannot import."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def in_venv_python() -> bool:
    """Whether this interpreter is the project's .venv one already."""
    return Path(sys.prefix).resolve() == (HERE / ".venv").resolve()


def main() -> int:
    """Run `dtq run` with the arguments given, under a Python that has dtq's dependencies."""
    too_old = sys.version_info < (3, 11)
    missing = [] if too_old else missing_modules()
    if too_old or missing:
        if VENV_PYTHON.exists() and not in_venv_python():
            os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])
        why = (
            "Python 3.11 or newer"
            if too_old
            else f"modules this Python lacks: {', '.join(missing)}"
        )
        print(
            f"run_scenario.py: dtq needs {why}. Install once with `make install`, then run "
            f"`make run SCENARIO=...` or `.venv/bin/python run_scenario.py "
            f"{' '.join(sys.argv[1:]) or 'SCENARIO'}`",
            file=sys.stderr,
        )
        return 2
    from dtq.cli import main as dtq_main

    return dtq_main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
