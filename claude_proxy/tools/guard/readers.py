"""Read-only programs: which invocations stay read-only and which files they may read.

Each program in `options.READERS` (reads files) or `options.QUIET` (reads none) is
judged against its option allow-list: an option outside it, an abbreviated long
option, or a word only known at run time where an option could be, asks. Every file
operand must pass the path validator, and a recursive read (``grep -r``, ``rg``,
``diff -r``, ``du``, ``tree``) is judged on what it can reach: secrets it would sweep
up, and, when it follows symlinks, every link under it. ``find``, ``sed``, ``jq``,
``awk``, ``printenv`` and the echo-like builtins get their own checks.
"""

from __future__ import annotations

import re

from claude_proxy.tools.guard.awkscript import awk_problem
from claude_proxy.tools.guard.judgement import Env, Judgement, Scan, Spec, scan
from claude_proxy.tools.guard.judgement import ask as _ask
from claude_proxy.tools.guard.judgement import deny as _deny
from claude_proxy.tools.guard.judgement import ok as _ok
from claude_proxy.tools.guard.judgement import spec as _spec
from claude_proxy.tools.guard.options import ANY_VALUE, FOLLOW, FREE, QUIET, READERS
from claude_proxy.tools.guard.paths import DeniedReach
from claude_proxy.tools.guard.sedscript import sed_problem
from claude_proxy.tools.guard.shell import Word

# Variables whose values are not secrets; printing them (echo $HOME, printenv PATH) is safe.
SAFE_VARIABLES = frozenset({
    "HOME", "PWD", "OLDPWD", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TERM",
    "HOSTNAME", "TMPDIR", "EDITOR", "VISUAL", "SHLVL", "UID", "EUID", "PPID", "BASH_VERSION", "OSTYPE", "HOSTTYPE",
    "MACHTYPE", "RANDOM", "LINENO", "SECONDS", "COLUMNS", "LINES", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "GOPATH",
    "GOROOT", "JAVA_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
    "?", "#", "$", "!", "0", "-",
})


def variables_problem(name: str, args: list[Word]) -> str | None:
    """Why the run-time words of an echo-like command could print a secret, or None."""
    for word in args:
        if word.value is not None:
            continue
        if word.variables is None:
            return f"{name} {word.text} is built at run time in a way that is not checked"
        unsafe = [v for v in word.variables if v not in SAFE_VARIABLES]
        if unsafe:
            return f"{name} prints ${unsafe[0]}, which may hold a secret"
    return None


def _problem(name: str, found: Scan, spec: Spec) -> str | None:
    if found.problem:
        return f"{name}: {found.problem}"
    if spec.max_positionals is not None and (len(found.positionals) > spec.max_positionals
                                              or any(w.glob or w.brace for w in found.positionals)):
        return f"{name} with more than {spec.max_positionals} operand(s) writes or changes things"
    return None


def _check_reader(name: str, args: list[Word], spec: Spec, env: Env) -> Judgement:
    found = scan(args, spec)
    problem = _problem(name, found, spec)
    if problem:
        return _ask(problem)
    explicit = any(opt in ("-e", "--regexp") for opt, _ in found.options)
    paths = found.positionals
    listing = "--files" in found.flags or "--type-list" in found.flags
    if spec.pattern_first and not explicit and not listing:
        paths = paths[1:]
    checked = [w for opt, w in found.options if opt in spec.path_values and w is not None]
    if spec.paths:
        checked += paths
    for word in checked:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"{name}: {problem}")
    return _reach(name, found, paths, env) or _ok(f"{name} is read-only")


def _reach(name: str, found: Scan, paths: list[Word], env: Env) -> Judgement | None:
    """A recursive read is judged on what it can reach: secrets, and links out when it follows them.

    ``du``, ``tree`` and ``ls -R`` show names and sizes, not contents, so only the links
    they follow matter; readers of contents are also checked for secrets they would sweep up.
    """
    follows = any(flag in FOLLOW.get(name, ()) for flag in found.flags)
    if name == "diff":
        follows = "--no-dereference" not in found.flags and bool(_recursion(name, found))
    if name == "ls":
        follows = follows and bool(set(found.flags) & {"-R", "--recursive"})
    recursion = _recursion(name, found)
    if recursion is None and not follows:
        return None
    only = _only_globs(name, found)
    for word in paths or [Word(".", ".")]:
        problem = None
        if recursion is not None:
            hidden, gitignore = recursion
            problem = (env.matching_secret_problem(word, only) if only
                       else env.secret_problem(word, hidden, gitignore))
        if problem is None and follows:
            problem = env.link_problem(word)
        if isinstance(problem, DeniedReach):  # a deny rule closes what it would read: in every mode
            return _deny(f"{name}: {problem}")
        if problem:
            return _ask(f"{name}: {problem}")
    return None


def _only_globs(name: str, found: Scan) -> list[str]:
    """The globs a recursive read is limited to (grep --include, rg -g), when nothing else widens it."""
    values = [w.value or "" for opt, w in found.options if w is not None and opt in ("--include", "-g", "--glob")]
    if name == "rg":
        rg_flags = set(found.flags)
        if {"--iglob", "--type-add"} & {opt for opt, _ in found.options} \
                or rg_flags & {"--hidden", "-.", "-u", "--no-ignore"}:
            return []
    positive = [v for v in values if not v.startswith("!")]
    return positive if positive and len(positive) == len(values) else []


def _recursion(name: str, found: Scan) -> tuple[bool, bool] | None:
    """(sees hidden files, honours .gitignore) when ``name`` reads directories recursively."""
    flags = set(found.flags)
    values = {opt: (w.value or "") for opt, w in found.options if w is not None}
    if name in ("grep", "egrep", "fgrep", "diff"):
        recursive = bool(flags & {"-r", "-R", "--recursive", "--dereference-recursive"})
        recursive = recursive or "recurse" in (values.get("-d"), values.get("--directories"))
        return (True, False) if recursive else None
    if name == "rg":
        unrestricted = found.flags.count("-u")
        globs = [w.value or "" for opt, w in found.options if opt in ("-g", "--glob", "--iglob") and w]
        # A type defined here is globs too: --type-add 'env:.env' -t env selects a hidden file.
        widened = any(not glob.startswith("!") for glob in globs) or "--type-add" in values
        hidden = "--hidden" in flags or "-." in flags or unrestricted >= 2 or widened
        ignore = not ({"--no-ignore", "--no-ignore-vcs", "--no-ignore-dot", "--no-ignore-parent",
                       "--no-ignore-global", "--no-ignore-exclude"} & flags or unrestricted >= 1 or widened)
        return hidden, ignore
    return None


FIND = _spec(
    "-depth -d -prune -print -print0 -ls -quit -true -false -not -a -and -o -or ! ( ) , -empty -readable "
    "-writable -executable -mount -xdev -noleaf -daystart -nouser -nogroup -ignore_readdir_race "
    "-noignore_readdir_race -follow",
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -lname -ilname -type -xtype -size -mtime "
    "-mmin -atime -amin -ctime -cmin -used -user -group -uid -gid -perm -links -inum -maxdepth -mindepth "
    "-regextype -printf -fstype",
    path_values="-newer -anewer -cnewer -samefile", whole_words=True)
FIND_RUNNERS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
FIND_WRITERS = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"})
_NEWER_XY = re.compile(r"-newer[aBcm][aBcmt]")


def _find(name: str, args: list[Word], env: Env) -> Judgement:
    i = 0
    follows = False
    while i < len(args) and args[i].value in ("-H", "-L", "-P"):
        follows = follows or args[i].value == "-L"
        i += 1
    roots: list[Word] = []
    while i < len(args) and not (args[i].value or "").startswith(("-", "(", "!", ")", ",")):
        roots.append(args[i])
        i += 1
    expression: list[Word] = []
    inner: list[list[Word]] = []
    while i < len(args):
        word = args[i]
        i += 1
        if word.value in FIND_RUNNERS:
            command: list[Word] = []
            while i < len(args) and args[i].value not in (";", "+"):
                command.append(Word("{}", None) if args[i].value == "{}" else args[i])
                i += 1
            i += 1
            inner.append(command)
        elif word.value in FIND_WRITERS:
            return _ask(f"find {word.value} writes or deletes files")
        else:
            expression.append(Word("-newer", "-newer") if _NEWER_XY.fullmatch(word.value or "") else word)
    if inner:
        return _ask("find -exec runs a command for each file", inner)
    found = scan(expression, FIND)
    if found.problem:
        return _ask(f"find: {found.problem}")
    if found.positionals:
        return _ask(f"find: {found.positionals[0].text} is not a known find expression word")
    follows = follows or "-follow" in found.flags
    for word in roots or [Word(".", ".")]:
        problem = env.read_problem(word) or (env.link_problem(word) if follows else None)
        if problem:
            return _ask(f"find: {problem}")
    for option, value in found.options:
        if option in FIND.path_values and value is not None:
            problem = env.read_problem(value)
            if problem:
                return _ask(f"find {option}: {problem}")
    return _ok("find only lists files (no -exec, -delete or -fprint)")


SED = _spec("-n --quiet --silent -E -r --regexp-extended -s --separate -z --null-data -u --unbuffered --posix "
            "--sandbox", "-e --expression -l --line-length")


def _sed(name: str, args: list[Word], env: Env) -> Judgement:
    found = scan(args, SED)
    if found.problem:
        return _ask(f"sed: {found.problem}")
    scripts: list[Word | None] = [w for opt, w in found.options if opt in ("-e", "--expression")]
    files = found.positionals
    if not scripts:
        if not files:
            return _ask("sed without a script")
        scripts, files = [files[0]], files[1:]
    for script in scripts:
        if script is None or script.value is None:
            return _ask("sed script depends on a variable or substitution")
        problem = sed_problem(script.value)
        if problem:
            return _ask(f"sed script {problem}")
    for word in files:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"sed: {problem}")
    return _ok("sed without -i and without w/W/e/r commands is read-only")


JQ = _spec("-r -j -a -c -n -e -s -S -C -M -R --raw-output --join-output --ascii-output --compact-output "
           "--null-input --exit-status --slurp --sort-keys --color-output --monochrome-output --raw-input --tab "
           "--seq --stream --raw-output0 --unbuffered", "--indent")
# jq lets whitespace and comments stand between ``$`` and a name (``$ ENV``, ``$#...`` then a newline).
_JQ_READS = re.compile(r"\benv\b|\$(?:\s|#[^\n]*)*(?:ENV|__prog)|input_filename|\bimport\b|\binclude\b"
                       r"|\bmodulemeta\b|\bget_search_list\b|getpath\(\[\"env")


def _jq(name: str, args: list[Word], env: Env) -> Judgement:
    plain: list[Word] = []
    i = 0
    while i < len(args):
        if args[i].value in ("--arg", "--argjson"):
            if any(w.value is None for w in args[i + 1:i + 3]):
                return _ask("jq --arg value is only known at run time")
            i += 3
            continue
        plain.append(args[i])
        i += 1
    found = scan(plain, JQ)
    if found.problem:
        return _ask(f"jq: {found.problem}")
    program, files = (found.positionals[0], found.positionals[1:]) if found.positionals else (None, [])
    if program is not None and (program.value is None or _JQ_READS.search(program.value)):
        return _ask("jq program reads the environment, other files or is not static")
    for word in files:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"jq: {problem}")
    return _ok("jq is read-only")


AWK = _spec("--posix --traditional --lint", "-F --field-separator -v --assign")


def _awk(name: str, args: list[Word], env: Env) -> Judgement:
    found = scan(args, AWK)
    if found.problem:
        return _ask(f"{name}: {found.problem}")
    if not found.positionals or found.positionals[0].value is None:
        return _ask(f"{name} without a fixed program")
    problem = awk_problem(found.positionals[0].value)
    if problem:
        return _ask(f"{name} program {problem}")
    for word in found.positionals[1:]:
        if "=" in (word.value or "") and not (word.value or "").startswith(("/", ".")):
            continue
        problem = env.read_problem(word)
        if problem:
            return _ask(f"{name}: {problem}")
    return _ok(f"{name} program only reads its input and prints")


def _printenv(name: str, args: list[Word], env: Env) -> Judgement:
    names = [w.value for w in args]
    if names and all(value is not None and value in SAFE_VARIABLES for value in names):
        return _ok(f"printenv {' '.join(v for v in names if v)} prints variables that are not secrets")
    return _ask("printenv prints environment variables, which may hold secrets")


def _free(name: str, args: list[Word]) -> Judgement:
    """echo, printf, test and friends: operands, not options; judged on what they could print or run."""
    values = [w.value for w in args]
    if name in ("test", "[") and any(v in ("-v", "-R") or v is None for v in values):
        return _ask(f"{name} -v evaluates array subscripts, which can run commands")
    if name == "printf" and (not args or args[0].value is None or args[0].value.startswith("-")):
        return _ask("printf -v assigns a variable, whose subscript can run commands")
    if name == "expr" and None in values:
        return _ask("expr with operands only known at run time")
    problem = variables_problem(name, args)
    if problem:
        return _ask(problem)
    return _ok(f"{name} is read-only")


def judge_reader(name: str, args: list[Word], env: Env) -> Judgement | None:
    """The verdict for a known read-only program, or None when ``name`` is not one."""
    if name in READERS:
        return _check_reader(name, args, READERS[name], env)
    if name in FREE:
        return _free(name, args)
    if name in QUIET:
        if name in ANY_VALUE:
            problem = variables_problem(name, args)
            if problem:
                return _ask(problem)
            args = [w for w in args if w.value is not None]
        found = scan(args, QUIET[name])
        problem = _problem(name, found, QUIET[name])
        if problem:
            return _ask(problem)
        if name == "date" and any(w.value and not w.value.startswith("+") for w in found.positionals):
            return _ask("date with an operand sets the clock")
        for option, word in found.options:
            if option in QUIET[name].path_values and word is not None:
                problem = env.read_problem(word)
                if problem:
                    return _ask(f"{name}: {problem}")
        return _ok(f"{name} is read-only")
    checker = {"find": _find, "sed": _sed, "jq": _jq, "printenv": _printenv, "awk": _awk, "gawk": _awk,
               "mawk": _awk, "nawk": _awk}.get(name)
    return checker(name, args, env) if checker else None
