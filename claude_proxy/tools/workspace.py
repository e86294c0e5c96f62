"""Helpers every file tool shares: path resolution, read-before-write, atomic writes.

Paths always go through the guard's `check_path`; on top of it `resolve` checks again
that the final, symlink-free path is inside a workspace root, so a gap in one check
still cannot let a tool touch a file outside the workspace (fail closed).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from pathlib import Path

from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import PathDenied, check_path


def roots(context: ToolContext) -> list[Path]:
    """The workspace roots with their symlinks resolved."""
    return [Path(os.path.realpath(r)) for r in context.roots]


def inside_roots(path: Path, context: ToolContext) -> bool:
    """Whether an already resolved ``path`` lies inside one of the workspace roots."""
    return any(path == root or root in path.parents for root in roots(context))


def resolve(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """Resolve a tool's path argument through the guard; raise `PathDenied` with the reason."""
    checked = check_path(path, context, write=write)
    real = Path(os.path.realpath(checked))
    if not inside_roots(real, context):
        raise PathDenied(f"{path} is outside the workspace ({', '.join(str(r) for r in roots(context))})")
    return real


async def resolve_async(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """`resolve` in a worker thread: it touches the filesystem, so it stays off the event loop."""
    return await asyncio.to_thread(resolve, path, context, write=write)


def display(path: Path) -> str:
    """How a path is shown to the model: absolute, so it can be passed back as is."""
    return str(path)


def record_read(path: Path, context: ToolContext) -> None:
    """Remember that the model has seen this file as it is now (for read-before-write)."""
    try:
        context.session.read_files[str(path)] = path.stat().st_mtime
    except OSError:
        context.session.read_files.pop(str(path), None)


def stale_reason(path: Path, context: ToolContext) -> str | None:
    """Why an existing file may not be overwritten yet, or None when it was read and is unchanged."""
    seen = context.session.read_files.get(str(path))
    if seen is None:
        return f"{path} has not been read in this session; Read it first, then edit it"
    if path.stat().st_mtime != seen:
        return f"{path} has changed since it was read (by the user or another program); Read it again before editing"
    return None


def atomic_write(path: Path, data: bytes, context: ToolContext) -> None:
    """Replace ``path`` with ``data`` via a temp file in the same directory and a rename.

    The rename swaps the directory entry itself, so a symlink planted at ``path``
    after the check is replaced, never followed; the directory is opened without
    following a symlink and checked again once open, so a swapped parent cannot
    redirect the write.
    """
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    mode = None
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            mode = stat.S_IMODE(st.st_mode)
        elif not stat.S_ISLNK(st.st_mode):
            raise PathDenied(f"{path} is not a regular file")
    except FileNotFoundError:
        pass
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if not inside_roots(_fd_path(dir_fd, parent), context):
            raise PathDenied(f"{parent} is outside the workspace")
        tmp_name = f".{path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp_name, flags, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), mode if mode is not None else 0o666 & ~_UMASK)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp_name, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(dir_fd)


def _fd_path(fd: int, fallback: Path) -> Path:
    """Where an open directory really is (Linux: /proc/self/fd), to check it after opening."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(fallback))


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
