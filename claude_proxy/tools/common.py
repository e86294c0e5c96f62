"""Helpers every file tool shares: path resolution, read-before-write, atomic writes.

Paths always go through the guard's `check_path`; on top of it `resolve` checks again
that the final, symlink-free path is inside a workspace root, so a gap in one check
still cannot let a tool touch a file outside the workspace (fail closed).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from claude_proxy.settings import ToolsSettings
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import PathDenied, check_path


def tool_settings(context: ToolContext) -> ToolsSettings:
    """The ``tools:`` settings section of the context, or the defaults."""
    section = getattr(context.settings, "tools", None)
    return section if isinstance(section, ToolsSettings) else ToolsSettings()


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
    after the check is replaced, never followed; the directory is re-checked after
    it is opened so a swapped parent cannot redirect the write.
    """
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    real_parent = Path(os.path.realpath(parent))
    if not inside_roots(real_parent, context):
        raise PathDenied(f"{parent} is outside the workspace")
    mode = None
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            mode = stat.S_IMODE(st.st_mode)
        elif not stat.S_ISLNK(st.st_mode):
            raise PathDenied(f"{path} is not a regular file")
    except FileNotFoundError:
        pass
    dir_fd = os.open(real_parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=real_parent)
        tmp_name = os.path.basename(tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if mode is not None:
                os.chmod(tmp_name, mode, dir_fd=dir_fd)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp_name, 0o666 & ~umask, dir_fd=dir_fd)
            os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp_name, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(dir_fd)
