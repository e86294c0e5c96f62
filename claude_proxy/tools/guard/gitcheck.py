"""Which git invocations are read-only.

Only a fixed set of inspection subcommands qualifies, each with an option allow-list
(`gitoptions`), and only without the global options that take settings from the
command line or move git elsewhere (``-c``, ``--config-env``, ``--exec-path``, ``-C``,
``--git-dir``, ``--work-tree``, ``-p``/``--paginate``): ``git -c core.pager=sh`` is how
a "read-only" ``git log`` runs anything. ``branch``, ``tag``, ``stash``, ``remote``,
``worktree`` and ``config`` are read-only only in their listing forms. Every operand
is checked as a path (``git diff /etc/passwd x`` is an implicit no-index diff), the
path in ``REV:path`` too (``git show HEAD:.env``), and ``git grep`` over a revision
asks because it reads every file of that revision, secrets included.

git also runs programs named in the repository's config (``core.fsmonitor``,
``diff.external``, textconv and filter drivers, ``core.pager``) even for ``git
status``, and a model could craft a bare-repository-shaped folder or a ``.git``
file pointing at one. So git commands are safe only where git would find an
ordinary ``.git`` directory whose config names no program.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from claude_proxy.tools.guard.gitoptions import SUBCOMMANDS
from claude_proxy.tools.guard.gitshown import shown_files_problem
from claude_proxy.tools.guard.judgement import Env, Judgement, ask, deny, ok, scan
from claude_proxy.tools.guard.paths import DeniedReach
from claude_proxy.tools.guard.shell import Word

SAFE_GLOBAL = frozenset({
    "--no-pager", "-P", "--no-optional-locks", "--literal-pathspecs", "--glob-pathspecs",
    "--noglob-pathspecs", "--icase-pathspecs", "--no-replace-objects", "--version",
})
LISTING = frozenset({"branch", "tag", "remote", "config"})
BRANCH_LISTING = frozenset({
    "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose", "-l", "--list", "--show-current",
    "--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--sort", "--format",
    "--color", "--no-color", "--column", "--no-column", "-i", "--ignore-case", "--abbrev", "--no-abbrev",
    "-n", "--omit-empty",
})
WITH_COMMIT = frozenset({"--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--sort",
                         "--format"})
CONFIG_READ = frozenset({"--get", "--get-all"})
# The settings read without asking: an allow-list, since credentials hide under many names
# (sendemail.smtpPass, imap.pass, http.proxy with user:pass in it, any remote's url).
_HARMLESS_KEY = re.compile(
    r"(?i)user\.(name|email)|init\.defaultbranch|core\.(editor|autocrlf|eol|filemode|ignorecase|bare|"
    r"repositoryformatversion|logallrefupdates|symlinks|whitespace|quotepath|precomposeunicode|abbrev|"
    r"sparsecheckout|hookspath|excludesfile|attributesfile)|branch\.[^.\s]+\.(remote|merge|rebase|pushremote)|"
    r"pull\.(rebase|ff)|push\.(default|autosetupremote|followtags)|merge\.(ff|conflictstyle)|fetch\.prune|"
    r"rebase\.(autosquash|autostash)|commit\.gpgsign|tag\.gpgsign|gpg\.format|color\.[a-z.]+|"
    r"diff\.(renames|algorithm|colormoved|mnemonicprefix)|log\.(date|decorate)|status\.(short|showuntrackedfiles)|"
    r"submodule\.recurse|remote\.[^.\s]+\.fetch")
CONFIG_SCOPE = frozenset({"--global", "--local", "--system", "--worktree", "--show-origin", "--show-scope",
                          "--name-only", "-z", "--null", "--includes", "--no-includes", "--type", "--bool",
                          "--int", "--path", "--default", "--all", "--regexp"})
# Repository config keys and sections that make git run a program (or look elsewhere for config).
PROGRAM_KEYS = frozenset({"fsmonitor", "pager", "external", "textconv", "command", "driver", "clean", "smudge",
                          "process", "sshcommand", "editor", "askpass", "hookspath", "program", "worktree",
                          "gitproxy", "cmd", "tool", "helper"})
PROGRAM_SECTIONS = frozenset({"pager", "include", "includeif", "filter", "alias"})
_SECTION = re.compile(r"\s*\[\s*([A-Za-z0-9.-]+)")
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")
_OFF = frozenset({"false", "no", "off", "0", ""})
BLOB_PRINTERS = frozenset({"show", "cat-file", "diff", "diff-tree", "diff-index", "range-diff", "log", "whatchanged"})
_STAGE = re.compile(r":[0-3]?:")
_PATHSPEC_GLOB = re.compile(r"[*?\[]")
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{4,64}")


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
    if sub == "remote":
        values = [w.value for w in rest]
        if values in ([], ["-v"], ["--verbose"]) or (first == "get-url" and len(rest) <= 4):
            return None
        return ask("git remote changes remotes or contacts them unless it is 'remote -v' or 'get-url'")
    if sub == "config":
        options = [w.value or "" for w in rest if (w.value or "").startswith("-")]
        single = len(rest) == 1 and not (first or "-").startswith("-")
        reads = first == "get" or single or any(option in CONFIG_READ for option in options)
        if not reads or any(option not in CONFIG_READ | CONFIG_SCOPE for option in options):
            return ask("git config changes settings unless it only reads one (--get)")
        keys = [w.value or "" for w in rest if not (w.value or "-").startswith("-") and w.value != "get"]
        if not keys or not all(_HARMLESS_KEY.fullmatch(key) for key in keys):
            return ask("git config prints settings that may hold credentials (tokens in URLs, passwords); "
                       "only well-known harmless ones (user.name, core.editor, ...) are read without asking")
    return None


def _gitdir_is_internal(marker: Path) -> Path | None:
    """The git directory a worktree's or submodule's ``.git`` file points to, inside some ``.git``."""
    try:
        text = marker.read_text(encoding="utf-8", errors="replace")[:4096].strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(os.path.realpath(marker.parent / text[len("gitdir:"):].strip()))
    if not target.is_dir() or ".git" not in target.parts[:-1]:
        return None
    return target


def config_problem(gitdir: Path) -> str | None:
    """Why the repository's own config could make a read-only git command run a program, or None.

    The repository config is data any earlier command may have written; git runs what
    ``core.fsmonitor``, ``core.pager``, ``diff.external``, textconv and filter drivers
    name even for ``git status``, and ``include`` pulls in other files.
    """
    common = gitdir
    if ".git" in gitdir.parts[:-1]:
        common = Path(*gitdir.parts[:gitdir.parts.index(".git") + 1])
    for path in {common / "config", gitdir / "config", gitdir / "config.worktree", common / "config.worktree"}:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror}), so it is not proven safe"
        for line in text.splitlines():
            line = line.split("#", 1)[0].split(";", 1)[0]
            section = _SECTION.match(line)
            if section:
                if section.group(1).lower().split(".")[0] in PROGRAM_SECTIONS:
                    return f"{path} has a [{section.group(1)}] section, which can run programs"
                line = line[line.find("]") + 1:]
            key = _KEY.match(line)
            if key and key.group(1).lower() in PROGRAM_KEYS and (key.group(2) or "").strip().lower() not in _OFF:
                return f"{path} sets {key.group(1)}, which makes git run a program"
    return None


def repository_problem(cwd: Path | None) -> str | None:
    """Why the repository git would discover from ``cwd`` may carry a crafted config, or None."""
    if cwd is None:
        return "git runs in a directory not known after cd"
    for directory in (cwd, *cwd.parents):
        marker = directory / ".git"
        if marker.is_dir() and not marker.is_symlink():
            return config_problem(marker)
        if marker.is_file() and not marker.is_symlink():
            gitdir = _gitdir_is_internal(marker)
            if gitdir is not None:
                return config_problem(gitdir)
        if os.path.lexists(marker):
            return f"{marker} is not a plain .git directory, so its config is not proven safe"
        if all((directory / name).exists() for name in ("HEAD", "objects", "refs")):
            return f"{directory} looks like a bare repository, whose config could run programs"
    return None


def _object_type(name: str, cwd: Path | None) -> str | None:
    """What git calls the object ``name`` (commit, tree, blob, tag), or None when unknown."""
    if cwd is None:
        return None
    try:
        done = subprocess.run(["git", "-c", "core.fsmonitor=false", "--no-optional-locks", "cat-file", "-t", name],
                              cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _operand_problem(word: Word, env: Env, shows_blobs: bool) -> str | None:
    """A revision, path, pathspec or ``REV:path``: every path it names is checked like a read.

    ``:N:path`` and ``:path`` name index entries, a pathspec glob (``'*.env'``) reaches
    every file it matches, and an object id may name a blob (a secret's content, seen
    by id in ``git ls-tree``), so ids are looked up before a command that prints blobs.
    """
    value = word.value or ""
    stage = _STAGE.match(value)
    if stage or (":" in value and not value.startswith(":(")):
        path = value[stage.end():] if stage else value.split(":", 1)[1]
        return env.read_problem(Word(path, path)) if path else None
    if value.startswith(":("):
        value = value.split(")", 1)[1] if ")" in value else value
    if _PATHSPEC_GLOB.search(value):
        return env.matching_secret_problem(Word(".", "."), [value.lstrip("/")])
    if shows_blobs and _OBJECT_ID.fullmatch(value) and _object_type(value, env.cwd) not in ("commit", "tag", "tree"):
        return f"{value} may be a blob (file content) whose path is not known here"
    return env.read_problem(Word(value, value)) if value != word.value else env.read_problem(word)


def _grep_problem(found_positionals: list[Word], after_dashes: int | None, explicit: bool, env: Env) -> str | None:
    operands = found_positionals if explicit else found_positionals[1:]
    split = len(operands) if after_dashes is None else after_dashes - (0 if explicit else 1)
    for index, word in enumerate(operands):
        target = env.cwd / (word.value or "") if env.cwd is not None else None
        if index < split and (target is None or not os.path.lexists(target)):
            return f"git grep {word.text} searches a revision's files, secrets included"
        problem = env.read_problem(word)
        if problem:
            return problem
    for word in [w for w in operands] or [Word(".", ".")]:
        problem = env.secret_problem(word, True, True)
        if problem:
            return problem
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
    rest = args[i + 1:]
    if sub in LISTING:
        form = _subcommand_form(sub, rest)
        if form:
            return form
    elif sub in SUBCOMMANDS:
        problem = _judge_options(sub, rest, env)
        if isinstance(problem, DeniedReach):  # git grep over files a deny rule closes
            return deny(problem)
        if problem:
            return ask(problem)
    else:
        return ask(f"git {sub} is not a read-only git command")
    where = repository_problem(env.cwd)
    if where:
        return ask(where)
    shown = shown_files_problem(sub, rest, env)  # only now: git runs here, on a config that names no program
    if shown:
        return ask(shown)
    return ok(f"git {sub} is read-only")


def _judge_options(sub: str, rest: list[Word], env: Env) -> str | None:
    first = rest[0].value if rest else None
    if sub in ("stash", "worktree"):
        if first not in (("list", "show") if sub == "stash" else ("list",)):
            return f"git {sub} changes things unless it is 'list'" + (" or 'show'" if sub == "stash" else "")
        rest = rest[1:]
    if sub == "reflog" and first is not None and not first.startswith("-"):
        if first != "show":
            return f"git reflog {first} rewrites the reflog"
        rest = rest[1:]
    found = scan(rest, SUBCOMMANDS[sub])
    if found.problem:
        return f"git {sub}: {found.problem}"
    if sub == "grep":
        explicit = any(opt == "-e" for opt, _ in found.options)
        return _grep_problem(found.positionals, found.after_dashes, explicit, env)
    shows_blobs = sub in BLOB_PRINTERS
    for word in found.positionals:
        problem = _operand_problem(word, env, shows_blobs)
        if problem:
            return f"git {sub}: {problem}"
    return None
