"""The error hierarchy: every message names the thing, the rule it broke and the fix."""

from __future__ import annotations


class DtqError(Exception):
    """Base of every error dtq reports to a user; the CLI prints it without a traceback."""

    exit_code = 2


class UsageError(DtqError):
    """A command line that cannot be carried out (missing file, bad flag value)."""


class ScenarioError(DtqError):
    """A scenario file that does not load or does not validate; holds every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class LogFormatError(DtqError):
    """An event log that cannot be read: names the file and line."""


class MalformedEvent(LogFormatError):
    """An event whose name is known but whose fields the reducer cannot read.

    The reducer raises it without a position, holding the `event` it could not read (a
    reader that hands out events in batches finds its line by it); the log readers add
    `path:line:`.
    """

    def __init__(self, message: str, event: object = None) -> None:
        super().__init__(message)
        self.event = event


class BackendError(DtqError):
    """A queue backend (Redis) that failed or cannot be reached."""


class Interrupted(DtqError):
    """Ctrl-C or SIGTERM stopped a command that runs scenarios (check, diff): exit 130."""

    exit_code = 130


class SchedulerFault(DtqError):
    """A bug inside dtq's scheduler: the run stops with status `failed`."""

    exit_code = 1


class RunStalled(DtqError):
    """Work is left but every worker is down for good: the run cannot finish."""

    exit_code = 1
