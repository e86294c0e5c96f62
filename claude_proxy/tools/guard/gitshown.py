"""Which files a patch-printing git command would show, asked of git itself.

``git show REV``, ``git log -p``, ``git diff A B`` print the content of every file the
commits or trees they compare touch: a ``.env`` committed once and deleted since is
still in ``git log -p``. Which files those are depends on the history, so the judge
asks git: the same command with ``--name-only`` (no patches, no textconv, no external
diff) lists them, and each name is judged like a read. Run only once the repository's
config is known to name no program (`gitcheck.repository_problem`), and bounded: a
command whose files cannot be listed in time, or at all, asks.
"""

from __future__ import annotations

import re
import subprocess

from claude_proxy.tools.guard.judgement import Env
from claude_proxy.tools.guard.shell import Word

ALWAYS_PATCHES = frozenset({"show", "diff", "range-diff"})
PATCH_WHEN_ASKED = frozenset({"log", "whatchanged", "diff-tree", "diff-index", "stash", "reflog"})
PATCH_OPTION = re.compile(r"-p|-u|--patch|--patch-with-raw|--patch-with-stat|--cc|-c|-m|-U\d*|--unified(=.*)?"
                          r"|--word-diff(=.*)?|--color-words(=.*)?|--full-diff|--diff-merges=.*|--remerge-diff")
HEADERS = frozenset({"show", "log", "whatchanged"})  # the commands that print commit headers too
TIMEOUT = 3.0
MAX_NAMES = 20_000


def shown_files_problem(sub: str, rest: list[Word], env: Env) -> str | None:
    """Why ``git SUB REST`` may print a file it should not (a secret, a file outside), or None."""
    values = [word.value or "" for word in rest]
    if sub not in ALWAYS_PATCHES and not (sub in PATCH_WHEN_ASKED and any(PATCH_OPTION.fullmatch(v) for v in values)):
        return None
    if sub == "reflog":
        return "git reflog with patches shows file contents from any commit it reaches"
    if env.cwd is None:
        return f"git {sub} shows file contents, and the directory it runs in is not known"
    names = _names(sub, values, env)
    if names is None:
        return f"git {sub} shows file contents, and git could not list which files (in time, or at all)"
    for name in names:
        problem = env.read_problem(Word(name, name))
        if problem:
            return f"git {sub} would show {name}: {problem}"
    return None


def _names(sub: str, values: list[str], env: Env) -> list[str] | None:
    """The files ``git SUB VALUES`` would show, or None when git cannot say in time."""
    dashes = values.index("--") if "--" in values else len(values)
    # Blob and tree operands (REV:path) were judged as paths; listing them would print their content.
    head = [v for v in values[:dashes] if ":" not in v or v.startswith("-")]
    listing = ["--no-ext-diff", "--no-textconv", "--name-only"] + (["--format="] if sub in HEADERS else [])
    command = ["git", "-c", "core.fsmonitor=false", "-c", "core.pager=cat", "--no-optional-locks", sub,
               *head, *listing, *values[dashes:]]
    try:
        done = subprocess.run(command, cwd=env.cwd, capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = sorted({line.strip() for line in done.stdout.splitlines() if line.strip()})
    return names if len(names) <= MAX_NAMES else None
