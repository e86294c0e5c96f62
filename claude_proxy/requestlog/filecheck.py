"""Checks on the request log's file: can it be written, and is it still the file we opened?

SQLite opens a file it may not write read-only without complaint, and then fails
every insert; so the writer checks at start that the file and its folder (where the
WAL lives) can really be written, and refuses to start otherwise. While it runs, it
keeps the file's identity (device and inode): a file deleted or replaced under it
would swallow every row in a file nobody can see, so the writer notices and stops,
and its supervisor starts a new one on the path.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def writable_problem(path: Path) -> str | None:
    """Why the log file (or its folder) cannot be written, or None when it can.

    Call it before SQLite opens the file: closing any descriptor of a file drops every
    POSIX lock this process holds on it, SQLite's included.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        pass  # SQLite creates it, in the folder checked below
    except IsADirectoryError:
        return "it is a directory"
    except OSError as exc:
        return f"the file is not writable ({_reason(exc)})"
    else:
        os.close(fd)
    try:
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".claude-proxy-probe-")
    except OSError as exc:
        return f"its folder {path.parent} is not writable ({_reason(exc)})"
    os.close(fd)
    os.unlink(probe)
    return None


class FileIdentity:
    """The device and inode a path named when it was opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = os.stat(path)
        self.key = (stat.st_dev, stat.st_ino)

    def change(self) -> str | None:
        """``deleted`` or ``replaced`` when the path no longer names the opened file, else None."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None  # cannot tell (a transient error): keep writing
        return None if (stat.st_dev, stat.st_ino) == self.key else "replaced"


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)
