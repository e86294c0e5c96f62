"""Real file-system faults for the request-log tests: a file nobody may write, a full disk.

- ``unwritable(path)``: the file cannot be opened for writing, even by root (``chattr +i``
  as root, else mode 0444); restored on exit. Skips the test when neither works.
- ``small_tmpfs(size)``: a command prefix that runs a process in its own mount namespace
  with a tmpfs of ``size`` bytes at a given folder (``unshare``), and the path by which
  the test reaches that folder from outside (``/proc/PID/root/...``). Skips without
  ``unshare`` or user namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                            capture_output=True).returncode != 0:
            pytest.skip("root ignores file modes and chattr +i is not available here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        return
    mode = path.stat().st_mode
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(mode)


def tmpfs_prefix(folder: Path, size: int) -> list[str]:
    """Run the command after this prefix with a ``size``-byte tmpfs mounted on ``folder``."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("nsenter") is None or \
            subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare with user and mount namespaces")
    folder.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size={size} tmpfs "{folder}" && exec "$@"'
    return [unshare, "-rm", "sh", "-c", script, "sh"]


def inside(pid: int, path: Path) -> Path:
    """``path`` as the process ``pid`` sees it (through its mount namespace)."""
    return Path(f"/proc/{pid}/root") / str(path).lstrip("/")


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def ids_inside(pid: int, db: Path) -> set[str]:
    """The request-log row ids of ``db`` as the process ``pid`` sees it (SQLite resolves
    ``/proc/PID/root`` to our own file system, so the reading runs in its namespaces)."""
    code = ("import sqlite3, sys\n"
            "try:\n"
            f"    rows = sqlite3.connect('file:{db}?mode=ro', uri=True, timeout=5).execute('SELECT id FROM requests')\n"
            "    print('\\n'.join(r[0] for r in rows))\n"
            "except sqlite3.Error:\n"
            "    pass\n")
    done = subprocess.run(["nsenter", "-t", str(pid), "-U", "-m", "--preserve-credentials", "python3", "-c", code],
                          capture_output=True, text=True, timeout=30)
    return {line for line in done.stdout.splitlines() if line}
