"""Version queries (``python3 -V``, ``node -v``) that are safe only when nothing reads the project.

Asking a toolchain for its version is harmless only when the program that answers
is the real binary. Version managers put wrapper scripts first on PATH (pyenv,
rbenv, nodenv, asdf, mise, volta, corepack, rustup proxies) that pick a toolchain from
files in the project (``.python-version``, ``rust-toolchain.toml``, ``.yarnrc.yml``'s
``yarnPath``, ``packageManager``) and some of those files can name a program in
the workspace to run. So a version query is safe when the name resolves to an ELF
binary outside the workspace, or to a pyenv shim whose ``.python-version`` files
(from the working directory up) name plain versions only. Programs whose version
query itself loads project code or configuration (cargo, rustc, yarn, pnpm, npx,
pytest, go, gradle) are never listed here.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VERSION_FLAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"-V", "--version", "-VV"}), "python3": frozenset({"-V", "--version", "-VV"}),
    "node": frozenset({"-v", "--version"}), "git": frozenset({"--version"}), "rg": frozenset({"-V", "--version"}),
    "bash": frozenset({"--version"}), "make": frozenset({"-v", "--version"}), "gcc": frozenset({"--version"}),
    "g++": frozenset({"--version"}), "clang": frozenset({"--version"}), "perl": frozenset({"-v", "--version"}),
    "jq": frozenset({"--version"}), "docker": frozenset({"-v", "--version"}), "gh": frozenset({"--version"}),
    "cmake": frozenset({"--version"}), "deno": frozenset({"-V", "--version"}), "uv": frozenset({"-V", "--version"}),
    "java": frozenset({"-version", "--version"}), "javac": frozenset({"-version", "--version"}),
}
_PLAIN_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _pyenv_files_problem(cwd: Path) -> str | None:
    for directory in (cwd, *cwd.parents):
        marker = directory / ".python-version"
        try:
            text = marker.read_text(encoding="utf-8", errors="replace")[:4096]
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{marker} cannot be read ({exc.strerror})"
        words = [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]
        if any(not _PLAIN_VERSION.fullmatch(w) or ".." in w for w in words):
            return f"{marker} names something other than a plain version"
    return None


def version_query_problem(name: str, args: list[str | None], cwd: Path | None, roots: list[Path]) -> str | None:
    """Why ``name ARGS`` is not a harmless version query, or None when it is one."""
    flags = VERSION_FLAGS.get(name)
    if flags is None or len(args) != 1 or args[0] not in flags:
        return f"{name} is not a known read-only command"
    found = shutil.which(name)
    if found is None:
        return None
    real = Path(os.path.realpath(found))
    if any(real == root or root in real.parents for root in roots):
        return f"{name} resolves to {real}, inside the workspace"
    try:
        with open(real, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        return f"{real} cannot be read ({exc.strerror})"
    if head.startswith(b"\x7fELF"):
        return None
    if b"pyenv" in head and name.startswith("python"):
        if cwd is None:
            return "pyenv picks the Python version from the working directory, which is not known here"
        return _pyenv_files_problem(cwd)
    return f"{name} is a wrapper script ({real}) that may choose a toolchain from project files"
