"""A dtq command on an 80x24 pseudo-terminal, for tests of what a person would see."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


@dataclass
class Terminal:
    """The pty's master side, the process on it, what it printed, its settings at start."""

    master: int
    slave: int
    proc: subprocess.Popen[bytes]
    before: list[object]
    output: bytearray = field(default_factory=bytearray)

    def read_until(self, marker: bytes, timeout_s: float) -> bool:
        """Read the output until `marker` shows up or `timeout_s` passes."""
        return read_until(self.master, self.output, marker, time.monotonic() + timeout_s)

    def settings_unchanged(self) -> bool:
        """The terminal's settings are as they were before the command started."""
        return termios.tcgetattr(self.slave) == self.before


def read_until(master: int, buffer: bytearray, marker: bytes, deadline: float) -> bool:
    """Read the terminal's output into `buffer` until `marker` shows up or time runs out."""
    while marker not in buffer and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
    return marker in buffer


@contextmanager
def dtq_on_terminal(args: list[str]) -> Iterator[Terminal]:
    """Run `python -m dtq ARGS` on a fresh 80x24 pty; killed and closed on the way out."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    before = termios.tcgetattr(slave)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtq", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=PROJECT,
        env=env,
        start_new_session=True,
    )
    try:
        yield Terminal(master, slave, proc, before)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        os.close(master)
        os.close(slave)
