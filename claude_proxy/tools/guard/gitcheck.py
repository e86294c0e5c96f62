"""Which git invocations are read-only.

Only a fixed set of inspection subcommands qualifies, and only without the options
that let git write a file (``--output``), run a configured program (``--ext-diff``,
``grep -O``), read outside the repository (``diff --no-index``) or take settings
from the command line (``-c``, ``--config-env``, ``--exec-path``, ``-C``,
``--git-dir``, ``--work-tree``): ``git -c core.pager=sh`` is how a "read-only"
``git log`` runs anything. ``branch``, ``tag``, ``stash``, ``remote``,
``worktree`` and ``config`` are read-only only in their listing forms.

git also runs programs named in the repository's config (``diff.external``,
``core.fsmonitor``, ...). The real ``.git`` directory is protected from writes, but a
model could craft a bare-repository-shaped folder or a ``.git`` file pointing at one,
so git commands are safe only where git would find an ordinary ``.git`` directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_proxy.tools.guard.judgement import Env, Judgement, ask, long_matches, ok
from claude_proxy.tools.guard.shell import Word

SAFE_GLOBAL = frozenset({
    "--no-pager", "-P", "--no-optional-locks", "--literal-pathspecs", "--glob-pathspecs",
    "--noglob-pathspecs", "--icase-pathspecs", "--no-replace-objects", "--version",
})
READ_ONLY = frozenset({
    "status", "diff", "log", "show", "branch", "rev-parse", "ls-files", "ls-tree", "blame", "annotate",
    "describe", "shortlog", "grep", "cat-file", "tag", "stash", "worktree", "reflog", "remote", "config",
    "count-objects", "whatchanged", "name-rev", "merge-base", "rev-list", "show-ref", "for-each-ref",
    "version", "diff-tree", "diff-files", "diff-index", "cherry", "range-diff", "check-ignore", "check-attr",
})
BAD_LONG = frozenset({"--output", "--ext-diff", "--open-files-in-pager", "--no-index", "--exec", "--upload-pack",
                      "--receive-pack", "--output-directory", "--edit", "--textconv", "--untracked",
                      "--no-exclude-standard"})
BRANCH_LISTING = frozenset({
    "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose", "-l", "--list", "--show-current",
    "--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--sort", "--format",
    "--color", "--no-color", "--column", "--no-column", "-i", "--ignore-case", "--abbrev", "--no-abbrev",
    "-n", "--omit-empty",
})
WITH_COMMIT = frozenset({"--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--sort",
                         "--format"})
CONFIG_READ = frozenset({"--get", "--get-all", "--get-regexp", "--list", "-l", "get", "list"})
CONFIG_SCOPE = frozenset({"--global", "--local", "--system", "--worktree", "--show-origin", "--show-scope",
                          "--name-only", "-z", "--null", "--includes", "--no-includes", "--type", "--bool",
                          "--int", "--path", "--default", "--all", "--regexp"})


def _listing(sub: str, rest: list[Word]) -> Judgement | None:
    """branch/tag: fine when every word is a listing option (or a pattern after --list)."""
    listing = any(w.value in ("-l", "--list") for w in rest)
    expects_value = False
    for word in rest:
        value = word.value or ""
        name = value.split("=", 1)[0]
        if expects_value:
            expects_value = False
            continue
        if name in BRANCH_LISTING or (sub == "tag" and name.startswith("-n")):
            expects_value = name in WITH_COMMIT and "=" not in value
            continue
        if not value.startswith("-") and listing and word.value is not None:
            continue
        return ask(f"git {sub} {word.text} creates, renames or deletes a {sub}")
    return None


def _subcommand_form(sub: str, rest: list[Word]) -> Judgement | None:
    first = rest[0].value if rest else None
    if sub in ("branch", "tag"):
        return _listing(sub, rest)
    if sub == "stash" and first not in ("list", "show"):
        return ask("git stash changes the working tree unless it is 'list' or 'show'")
    if sub == "worktree" and first != "list":
        return ask("git worktree changes worktrees unless it is 'list'")
    if sub == "reflog" and first not in (None, "show") and not (first or "").startswith("-"):
        return ask(f"git reflog {first} rewrites the reflog")
    if sub == "remote":
        values = [w.value for w in rest]
        if values in ([], ["-v"], ["--verbose"]) or (first == "get-url" and len(rest) <= 4):
            return None
        return ask("git remote changes remotes or contacts them unless it is 'remote -v' or 'get-url'")
    if sub == "config":
        options = [w.value or "" for w in rest if (w.value or "").startswith("-")]
        reads = first in ("get", "list") or any(option in CONFIG_READ for option in options)
        if not reads or any(option not in CONFIG_READ | CONFIG_SCOPE for option in options):
            return ask("git config changes settings unless it only reads them (--get, --list)")
    return None


def _gitdir_is_internal(marker: Path) -> bool:
    """A worktree's or submodule's ``.git`` file pointing inside some ``.git`` directory."""
    try:
        text = marker.read_text(encoding="utf-8", errors="replace")[:4096].strip()
    except OSError:
        return False
    if not text.startswith("gitdir:"):
        return False
    target = Path(os.path.realpath(marker.parent / text[len("gitdir:"):].strip()))
    return target.is_dir() and ".git" in target.parts[:-1]


def repository_problem(cwd: Path | None) -> str | None:
    """Why the repository git would discover from ``cwd`` may carry a crafted config, or None."""
    if cwd is None:
        return "git runs in a directory not known after cd"
    for directory in (cwd, *cwd.parents):
        marker = directory / ".git"
        if marker.is_dir() and not marker.is_symlink():
            return None
        if marker.is_file() and not marker.is_symlink() and _gitdir_is_internal(marker):
            return None
        if os.path.lexists(marker):
            return f"{marker} is not a plain .git directory, so its config is not proven safe"
        if all((directory / name).exists() for name in ("HEAD", "objects", "refs")):
            return f"{directory} looks like a bare repository, whose config could run programs"
    return None


def judge_git(args: list[Word], env: Env) -> Judgement:
    """The verdict on ``git ARGS``: ``allow`` only for read-only inspection."""
    i = 0
    while i < len(args):
        option = args[i].value
        if option is None or not option.startswith("-"):
            break
        if option not in SAFE_GLOBAL:
            return ask(f"git {option} changes git's configuration, directory or the programs it runs")
        i += 1
    if i >= len(args):
        return ok("git with only informational options")
    sub_word = args[i]
    if sub_word.value is None:
        return ask("git subcommand comes from a variable or substitution")
    sub = sub_word.value
    if sub not in READ_ONLY:
        return ask(f"git {sub} is not a read-only git command")
    rest = args[i + 1:]
    for word in rest:
        value = word.value
        if value is None:
            continue
        if value.startswith("--") and long_matches(value, BAD_LONG):
            return ask(f"git {sub} {value} writes a file, runs a program or reads outside the repository")
        if sub == "grep" and value.startswith("-") and not value.startswith("--") and "O" in value:
            return ask("git grep -O opens files in a pager program")
    problem = _subcommand_form(sub, rest)
    if problem:
        return problem
    where = repository_problem(env.cwd)
    if where:
        return ask(where)
    return ok(f"git {sub} is read-only")
