"""The console every command draws on: rich's, except that a reader going away is not an
error. `dtq run ... | head -1` closes the pipe after one line; the command then carries on
without printing and ends with its own exit code (rich would exit 1 at once)."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console


class PipeTolerantConsole(Console):
    """A rich Console that goes quiet, instead of exiting 1, when its pipe is closed."""

    def on_broken_pipe(self) -> None:
        """Print nothing more; stdout goes to /dev/null so no later flush complains."""
        self.quiet = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass  # stdout is not a file descriptor (a test's capture): nothing to redirect


def make_console(**options: Any) -> Console:
    """A console for a command's output (`options` as rich's `Console` takes them)."""
    return PipeTolerantConsole(**options)
