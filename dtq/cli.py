"""The `dtq` command line: one subcommand per module in `dtq.commands`.

Start-up is kept short and safe. `main` first takes over SIGINT and SIGTERM, then builds
the parser from command modules that import nothing heavy at their top: each command
imports what it needs (pydantic, rich, the engines) only once it runs, so `dtq --help`,
`dtq validate` and `dtq schema` never pay for the dashboard or the engines. A signal
that lands while a module is being imported is held until the import is over (an
interrupted import leaves half-built modules, and pydantic wraps the interruption in
its own errors): the command then stops as Ctrl-C always does, with exit 130 and no
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from dtq import __version__
from dtq.errors import DtqError

# Each module defines `register(subparsers)`, which adds its parser and sets
# `handler=<callable(args) -> int>` as a default. Only the module of the command given is
# imported; the others are listed by name and help line alone, so a command whose module
# is heavy never slows down another one or `dtq --help` (a test holds these lines equal to
# the modules' own).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("dtq.commands.run", "run a scenario and write its event log"),
    "validate": ("dtq.commands.validate", "check scenario files without running them"),
    "schema": ("dtq.commands.schema", "print the JSON Schema of scenario files"),
    "replay": ("dtq.commands.replay", "replay an event log as the dashboard"),
    "report": (
        "dtq.commands.report",
        "metrics of one run: waits per priority and type, retries, DLQ, workers",
    ),
    "diff": (
        "dtq.commands.diff",
        "compare the DLQ and metrics of two runs (logs, baselines or scenarios)",
    ),
    "check": (
        "dtq.commands.check",
        "run scenarios on the virtual clock; compare DLQ and expectations with baselines",
    ),
    "verify": ("dtq.commands.verify", "check an event log's invariants"),
    "worker": ("dtq.commands.worker", "join a running distributed scenario as workers"),
    "retries": (
        "dtq.commands.retries",
        "print a retry schedule: each delay and the time to the dead-letter queue",
    ),
    "sweep": (
        "dtq.commands.sweep",
        "run a scenario over a grid of values and many seeds; means with 95%% intervals",
    ),
}
INTERRUPTED_EXIT = 130
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_IMPORT_FRAMES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_RETRY_S = 0.02
_PYDANTIC_DIR = f"{os.sep}pydantic{os.sep}"


class StartupSignals:
    """SIGINT/SIGTERM as KeyboardInterrupt, but never in the middle of an import.

    A signal that arrives inside an import is held, and the handler looks again every
    `_RETRY_S` (SIGALRM) until the import is over; then it raises KeyboardInterrupt, which
    every command turns into exit 130. Commands with their own handlers (`dtq run`,
    `dtq worker`) install them over this one and put it back when done.
    """

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self.held = 0

    def install_if_main_thread(self) -> StartupSignals | None:
        """Route SIGINT, SIGTERM (and the retry alarm) here; None off the main thread,
        where Python allows no handler (and `threading` is not worth importing to ask)."""
        try:
            for sig in (*_STOP_SIGNALS, signal.SIGALRM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:
            self.restore()
            return None
        return self

    def restore(self, *, exiting: bool = False) -> None:
        """Cancel a pending retry and give the previous handlers back; `exiting`: the
        process is about to exit with the command's code, so ignore stop signals instead
        (a SIGTERM in its last moments must not turn a finished command into a death by
        signal: the default handler would)."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in self._previous.items():
            # A command may have chosen otherwise on its way out (`dtq run` ignores late
            # signals once stopped): only a handler that is still ours is replaced.
            if signal.getsignal(sig) == self._handle:
                late = signal.SIG_IGN if exiting and sig in _STOP_SIGNALS else handler
                signal.signal(sig, late)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGALRM:
            self.held += 1
        if not self.held:
            return
        if _in_import(frame):
            signal.setitimer(signal.ITIMER_REAL, _RETRY_S)
            return
        self.held = 0
        raise KeyboardInterrupt


def _in_import(frame: FrameType | None) -> bool:
    """Whether the interrupted code runs inside an import, or inside pydantic (a validator
    or serializer of ours that pydantic called: pydantic turns an exception raised there,
    KeyboardInterrupt included, into its own error, which would end in a traceback)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename in _IMPORT_FRAMES or _PYDANTIC_DIR in filename:
            return True
        frame = frame.f_back
    return False


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand in full (None), or only `command` in full and
    the others by name and help line (what `dtq --help` lists)."""
    parser = argparse.ArgumentParser(
        prog="dtq",
        description="Run job-queue scenarios on a priority scheduler and see what the queue does.",
    )
    parser.add_argument("--version", action="version", version=f"dtq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_line) in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def command_of(argv: Sequence[str]) -> str:
    """The subcommand named on a command line ("" if none): the first word not an option
    (dtq's own options, --help and --version, take no value)."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn user errors into messages and exit codes (never a traceback)."""
    signals = StartupSignals().install_if_main_thread()
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("dtq: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    finally:
        if signals is not None:
            # argv None: dtq runs as its own process (the console script, python -m dtq).
            signals.restore(exiting=argv is None)
        _quiet_closed_stdout()


def _dispatch(argv: Sequence[str] | None) -> int:
    try:
        words = sys.argv[1:] if argv is None else argv
        args = build_parser(command_of(words)).parse_args(words)
        code: int = args.handler(args)
    except DtqError as exc:
        print(f"dtq: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0  # the reader went away (`dtq ... | head`): not an error
    return code


def _quiet_closed_stdout() -> None:
    """Flush stdout now; if its reader has gone, point it at /dev/null so the interpreter's
    own flush at exit does not complain about a closed pipe."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _stdout_to_devnull()
    except OSError:
        pass


def _stdout_to_devnull() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
