"""Helpers every file tool shares: opening through the guard, read-before-write, atomic writes.

A tool never opens a path by name. `opened` resolves and judges the model's path with
the guard (`guard.paths.located`) and keeps the directory that holds it open; the
tool then reads (`read_file`), lists (`list_dir`) or writes (`atomic_write`) through
that fd, so what was checked is what is used, even while someone swaps a directory
for a symlink. `resolve` is the verdict alone, for callers that need only the path.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import PathDenied, check_path
from claude_proxy.tools.guard.beneath import WALK_FLAGS, Located, WalkError, open_dir, open_file
from claude_proxy.tools.guard.paths import located


def resolve(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """The verdict alone: the resolved path, or `PathDenied` with the reason (nothing stays open)."""
    return check_path(path, context, write=write)


def display(path: Path) -> str:
    """How a path is shown to the model: absolute, so it can be passed back as is."""
    return str(path)


@contextmanager
def opened(path: str, context: ToolContext, *, write: bool = False) -> Iterator[Located]:
    """The checked, open location of a tool's path argument; `PathDenied` with the reason."""
    with located(path, context, write=write) as found:
        yield found


def read_file(found: Located, context: ToolContext) -> tuple[int, os.stat_result]:
    """An fd to read the regular file ``found`` names (the caller closes it); `PathDenied` otherwise."""
    try:
        return open_file(found)
    except WalkError as exc:
        raise PathDenied(str(exc)) from None
    except FileNotFoundError:
        raise PathDenied(f"File does not exist: {found.path}") from None
    except OSError as exc:
        raise PathDenied(f"cannot open {found.path}: {exc.strerror or exc}") from None


def list_dir(found: Located) -> int:
    """A readable fd of the directory ``found`` names (the caller closes it)."""
    try:
        return open_dir(found)
    except OSError as exc:
        raise PathDenied(f"cannot list {found.path}: {exc.strerror or exc}") from None


def current_stat(found: Located) -> os.stat_result | None:
    """The final entry as it is now (no symlink followed), or None when it is gone."""
    if found.missing:
        return None
    try:
        if not found.name:
            return os.fstat(found.dir_fd)
        return os.stat(found.name, dir_fd=found.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def record_read(path: Path, context: ToolContext, st: os.stat_result | None) -> None:
    """Remember that the model has seen this file as it is now (``st``: its stat, for read-before-write)."""
    if st is None:
        context.session.read_files.pop(str(path), None)
    else:
        context.session.read_files[str(path)] = st.st_mtime


def stale_reason(path: Path, context: ToolContext, st: os.stat_result) -> str | None:
    """Why an existing file may not be overwritten yet, or None when it was read and is unchanged."""
    seen = context.session.read_files.get(str(path))
    if seen is None:
        return f"{path} has not been read in this session; Read it first, then edit it"
    if st.st_mtime != seen:
        return f"{path} has changed since it was read (by the user or another program); Read it again before editing"
    return None


def atomic_write(found: Located, data: bytes, context: ToolContext) -> os.stat_result:
    """Replace the file ``found`` names with ``data``: a temp file in the same directory, then a rename.

    Everything happens relative to the checked directory fd: missing parent
    directories are made with ``mkdirat`` and entered with ``O_NOFOLLOW``, and the
    rename swaps the directory entry itself, so a symlink planted at the name after
    the check is replaced, never followed. Returns the new file's stat.
    """
    if not found.name:
        raise PathDenied(f"{found.path} is a directory")
    dir_fd, owned = found.dir_fd, False
    try:
        for part in found.missing:
            try:
                os.mkdir(part, 0o777, dir_fd=dir_fd)
            except FileExistsError:
                pass
            next_fd = os.open(part, WALK_FLAGS, dir_fd=dir_fd)
            if owned:
                os.close(dir_fd)
            dir_fd, owned = next_fd, True
        return _replace(dir_fd, found, data)
    except OSError as exc:
        raise PathDenied(f"cannot write {found.path}: {exc.strerror or exc}") from None
    finally:
        if owned:
            os.close(dir_fd)


def _replace(dir_fd: int, found: Located, data: bytes) -> os.stat_result:
    mode = None
    try:
        st = os.stat(found.name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            mode = stat.S_IMODE(st.st_mode)
        elif not stat.S_ISLNK(st.st_mode):
            raise PathDenied(f"{found.path} is not a regular file")
    except FileNotFoundError:
        pass
    tmp_name = f".{found.name[:200]}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp_name, flags, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode if mode is not None else 0o666 & ~_UMASK)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        os.replace(tmp_name, found.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp_name, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    return written


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
