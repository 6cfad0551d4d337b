"""Opening the files a user names: regular files only, so a named pipe never hangs a command.

Opening a named pipe for reading waits until something writes to it, which may be never;
a device or a socket is no file to parse either. The file is opened without waiting and
looked at before anything is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """A path that names a pipe, a device or a socket rather than a file."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", str(path))


def file_kind(mode: int) -> str:
    """What a `st_mode` names, in words (`a named pipe`)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file; IsADirectoryError for a folder,
    NotRegularFile for a pipe, device or socket, and never a wait for a writer."""
    # The file object owns the descriptor from the start, and only it closes it: closing
    # the bare descriptor on an interrupt after fdopen would close it twice, and the
    # second close could hit a file opened since under the same number.
    file = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    try:
        mode = os.fstat(file.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        os.set_blocking(file.fileno(), True)
        return file
    except BaseException:
        file.close()
        raise
