"""Resolving a path beneath the workspace roots without a check-then-use race.

A name is never handed to the kernel whole. The walk starts from a directory fd of a
workspace root and opens one component at a time with ``O_NOFOLLOW`` relative to the
fd of the directory before it, so a directory swapped for a symlink between two
steps is seen as the symlink it now is. Symlinks are followed by reading their text
and walking it the same way: a relative target continues from the directory that
holds the link, an absolute one must land exactly on a workspace root, and ``..``
never climbs above a root without starting over from the roots. The result is a
`Located`: an open fd of the directory that holds the final name, the name, and the
path the walk took, so a tool does its I/O through the fd that was checked.

Once the final directory is open, where it really is (``/proc/self/fd``) is checked
against the roots again, which catches a directory renamed out of the workspace
during the walk. Limits (``PATH_MAX``, ``NAME_MAX``, 40 symlinks) are `WalkError`s
with a reason, never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PATH_MAX = 4096
NAME_MAX = 255
MAX_LINKS = 40
O_PATH = getattr(os, "O_PATH", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
WALK_FLAGS = (O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC
LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC


class WalkError(Exception):
    """A path that cannot be resolved safely; the message says why."""


class Escape(WalkError):
    """The path leads outside every workspace root."""


@dataclass
class Located:
    """Where a path lives: an open directory beneath a root, and the name inside it.

    ``name`` is empty when the path is that directory itself. ``missing`` lists the
    directories between ``dir_fd`` and ``name`` that do not exist yet (a write creates
    them); ``st`` is the final entry's ``lstat``, None when it does not exist.
    """

    dir_fd: int
    name: str
    path: Path
    root: Path
    st: os.stat_result | None
    links: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def fd_inside(fd: int, roots: list[Path]) -> bool:
    """Whether an open file or directory really lies beneath a root (Linux: /proc/self/fd)."""
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True  # no /proc: the walk itself is the guarantee
    return where.startswith("/") and _inside(Path(where), roots)


def _prefixes(parts: tuple[str, ...]) -> list[str]:
    """``("/", "a", "b")`` -> ``["/", "/a", "/a/b"]``, built in one pass."""
    out, current = [], ""
    for part in parts:
        current = part if not current else (current + part if current.endswith("/") else f"{current}/{part}")
        out.append(current)
    return out


def _start(path: str, roots: list[Path]) -> tuple[Path, list[str]]:
    """The root an absolute path enters through and the components after it.

    The shortest prefix whose real path *is* a root wins: the directories above a root
    are outside the workspace, so nothing the agent can write decides this step.
    """
    parts = PurePosixPath(path).parts
    prefixes = _prefixes(parts)
    names = {str(root): root for root in roots}
    for cut, prefix in enumerate(prefixes, start=1):
        # a root is a real path, so a prefix spelled exactly like one (no '..' before it) is that root
        if parts[cut - 1] == "..":
            break
        if prefix in names:
            return names[prefix], list(parts[cut:])
    for cut, prefix in enumerate(prefixes, start=1):
        if not os.path.lexists(prefix):
            break  # as the kernel: nothing below a missing directory exists, not even its '..'
        real = Path(os.path.realpath(prefix))
        if real in roots:
            return real, list(parts[cut:])
    raise Escape(path)


class _Walker:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.links: list[Path] = []
        self.fds: list[int] = []
        self.root = roots[0]
        self.here = roots[0]

    def _close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def _enter(self, path: str) -> list[str]:
        self._close()
        self.root, rest = _start(path, self.roots)
        self.here = self.root
        self.fds = [os.open(self.root, WALK_FLAGS)]
        return rest

    def _follow(self, name: str, pending: list[str]) -> list[str]:
        self.links.append(self.here / name)
        if len(self.links) > MAX_LINKS:
            raise WalkError(f"{self.here / name} is a symlink loop (more than {MAX_LINKS} links)")
        target = os.readlink(name, dir_fd=self.fds[-1])
        if os.path.isabs(target):
            return self._enter(os.path.join(target, *pending))
        return [part for part in PurePosixPath(target).parts] + pending

    def walk(self, path: str, follow_last: bool) -> Located:
        pending = self._enter(path)
        try:
            while pending:
                name = pending.pop(0)
                if name in ("", "."):
                    continue
                if name == "..":
                    if len(self.fds) > 1:
                        os.close(self.fds.pop())
                        self.here = self.here.parent
                    else:
                        pending = self._enter(os.path.join(self.root.parent, *pending))
                    continue
                if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
                    raise WalkError(f"the path component {name[:40]}... is longer than {NAME_MAX} bytes")
                if not pending:
                    found = self._last(name, pending, follow_last)
                    if found is not None:
                        return found
                    continue
                self._step(name, pending)
            # the path is a directory we hold: hand out the directory itself
            return self._located("", None)
        except _Missing as gone:
            # a directory on the way does not exist: the deepest existing one holds the rest
            *dirs, name = gone.parts
            located = self._located(name, None)
            located.missing = dirs
            located.path = self.here.joinpath(*dirs, name)
            return located
        except BaseException:
            self._close()
            raise

    def _step(self, name: str, pending: list[str]) -> None:
        try:
            fd = os.open(name, WALK_FLAGS, dir_fd=self.fds[-1])
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                if ".." in pending:
                    raise WalkError(f"{self.here / name} does not exist, so '..' after it cannot be "
                                    "resolved") from None
                rest = [name, *(part for part in pending if part not in ("", "."))]
                for part in rest:
                    if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
                        raise WalkError(f"the path component {part[:40]}... is longer than {NAME_MAX} bytes") from None
                raise _Missing(rest) from None
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(name, dir_fd=self.fds[-1], follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                raise WalkError(f"{self.here / name} is not a directory") from None
            pending[:0] = self._follow(name, [])
            return
        self.fds.append(fd)
        self.here = self.here / name

    def _last(self, name: str, pending: list[str], follow_last: bool) -> Located | None:
        try:
            st = os.stat(name, dir_fd=self.fds[-1], follow_symlinks=False)
        except FileNotFoundError:
            return self._located(name, None)
        if stat.S_ISLNK(st.st_mode) and follow_last:
            pending[:] = self._follow(name, pending)
            return None
        if stat.S_ISDIR(st.st_mode):
            self._step(name, pending)
            return None
        return self._located(name, st)

    def _located(self, name: str, st: os.stat_result | None) -> Located:
        dir_fd = self.fds.pop()
        self._close()
        if not fd_inside(dir_fd, self.roots):
            os.close(dir_fd)
            raise WalkError(f"{self.here} moved out of the workspace while it was being opened")
        if not name:
            st = os.fstat(dir_fd)
        path = self.here / name if name else self.here
        return Located(dir_fd, name, path, self.root, st, self.links, roots=self.roots)


class _Missing(Exception):
    def __init__(self, parts: list[str]) -> None:
        super().__init__(parts)
        self.parts = parts


def locate(path: str, roots: list[Path], *, follow_last: bool = True) -> Located:
    """Walk the absolute ``path`` beneath ``roots``; the caller closes the `Located`.

    Raises `Escape` when it leads outside, `WalkError` with a reason for anything else
    that cannot be resolved safely, and `OSError` for a failing system call.
    """
    if len(path.encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise WalkError(f"the path is longer than {PATH_MAX - 1} bytes (PATH_MAX)")
    return _Walker(roots).walk(path, follow_last)


def open_dir(located: Located) -> int:
    """A readable fd (for listing) of the directory ``located`` names; ENOTDIR otherwise."""
    if located.missing:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(located.path))
    name = located.name or "."
    return os.open(name, LIST_FLAGS, dir_fd=located.dir_fd)


def open_file(located: Located) -> tuple[int, os.stat_result]:
    """An fd for reading the regular file ``located`` names, and its ``fstat``.

    Opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` (a FIFO swapped in cannot hang the
    call), then checked: it must be a regular file beneath a root.
    """
    if located.missing or not located.name:
        raise FileNotFoundError(errno.ENOENT, "No such file", str(located.path))
    fd = os.open(located.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | O_CLOEXEC, dir_fd=located.dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WalkError(f"{located.path} is not a regular file")
        if not fd_inside(fd, located.roots):
            raise WalkError(f"{located.path} moved out of the workspace while it was being opened")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_below(dir_fd: int, relative: str) -> tuple[int, os.stat_result]:
    """Open the regular file ``relative`` (``a/b/c``) under ``dir_fd``, every step ``O_NOFOLLOW``.

    For files a search found inside a directory it already holds: no symlink is
    followed at all, so the file is the one found beneath that directory.
    """
    *dirs, name = PurePosixPath(relative).parts
    fds: list[int] = []
    try:
        current = dir_fd
        for part in dirs:
            if part in ("..", "/"):
                raise WalkError(f"{relative} climbs out of the directory searched")
            current = os.open(part, WALK_FLAGS, dir_fd=current)
            fds.append(current)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | O_CLOEXEC, dir_fd=current)
    finally:
        for opened in fds:
            os.close(opened)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WalkError(f"{relative} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st
