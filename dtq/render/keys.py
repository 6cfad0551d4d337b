"""Key presses for the replay: a terminal in cbreak mode, or no keyboard at all.

The terminal's settings always come back on the way out, and keys typed but not read by
then are thrown away: they belong to the replay, never to the shell that runs next.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import time
import tty
from types import TracebackType
from typing import IO, Any, Protocol

LEFT = "left"
RIGHT = "right"
# What terminals send for the arrow keys, in normal and in application cursor mode.
_SEQUENCES = {"\x1b[D": LEFT, "\x1bOD": LEFT, "\x1b[C": RIGHT, "\x1bOC": RIGHT}
_READ_BYTES = 64


class Keys(Protocol):
    """A source of key presses that also serves as the replay's sleep."""

    interactive: bool

    def wait(self, timeout_s: float) -> str:
        """Wait up to `timeout_s` for keys; return those pressed ("" if none)."""


class NoKeys:
    """No keyboard (not a terminal): waiting is plain sleeping."""

    interactive = False

    def __enter__(self) -> NoKeys:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def wait(self, timeout_s: float) -> str:
        """Sleep `timeout_s` and report no key."""
        if timeout_s > 0:
            time.sleep(timeout_s)
        return ""


class TerminalKeys:
    """Reads single key presses from a terminal in cbreak mode; restores it on exit."""

    interactive = True

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> TerminalKeys:
        self._saved = termios.tcgetattr(self.fd)
        # TCSANOW keeps keys typed before the replay started (TCSAFLUSH would drop them).
        tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            # TCSAFLUSH drops keys typed while the replay ran and not read: they were
            # meant for it, and must not run as a command in the shell afterwards.
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, self._saved)
            self._saved = None

    def wait(self, timeout_s: float) -> str:
        """Wait up to `timeout_s` for keys; return those pressed ("" if none)."""
        readable, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
        if not readable:
            return ""
        data = os.read(self.fd, _READ_BYTES)
        return data.decode("utf-8", errors="ignore")


class NoEcho:
    """Keys typed on the terminal are not echoed while the dashboard draws, and dropped at
    the end. An echoed `^C` at the end of a full last line makes the terminal scroll, which
    strands a stale frame above the live one; and typed keys belong to no later command."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> NoEcho:
        if self.fd is not None:
            try:
                self._saved = termios.tcgetattr(self.fd)
                quiet = termios.tcgetattr(self.fd)
                quiet[3] &= ~termios.ECHO
                termios.tcsetattr(self.fd, termios.TCSANOW, quiet)
            except termios.error:
                self._saved = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is not None and self.fd is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSAFLUSH, self._saved)
            self._saved = None


def terminal_fd(stream: IO[str] | None) -> int | None:
    """The file descriptor of `stream` if it is a terminal, else None."""
    try:
        if stream is not None and stream.isatty():
            return stream.fileno()
    except (AttributeError, OSError, ValueError):
        pass
    return None


def split_keys(data: str) -> list[str]:
    """Key presses from what a terminal sent: one character each, arrows as LEFT/RIGHT."""
    keys: list[str] = []
    index = 0
    while index < len(data):
        name = _SEQUENCES.get(data[index : index + 3])
        if name is not None:
            keys.append(name)
            index += 3
            continue
        keys.append(data[index])
        index += 1
    return keys
