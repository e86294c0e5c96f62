"""Read-only programs: which options keep them read-only and which paths they may read.

Each program in `READERS` (reads files) or `QUIET` (reads none) has a `Spec`: the
options that take a value, the ones whose value is a file it reads, and the ones
that make it write or run something (``sort -o``, ``rg --pre``, ``tree -o``). Every
file operand must pass the path validator, and a recursive read (``grep -r``, ``rg``,
``diff -r``) must not sweep up a secret. ``find`` and ``sed`` get their own checks.
"""

from __future__ import annotations

from claude_proxy.tools.guard.judgement import Env, Judgement, Scan, Spec, scan
from claude_proxy.tools.guard.judgement import ask as _ask
from claude_proxy.tools.guard.judgement import ok as _ok
from claude_proxy.tools.guard.judgement import spec as _spec
from claude_proxy.tools.guard.sedscript import sed_problem
from claude_proxy.tools.guard.shell import Word

_GREP = _spec("-e --regexp -m --max-count -A -B -C --after-context --before-context --context --include "
              "--exclude --exclude-dir --label --color --colour -d --directories -D --devices --binary-files "
              "--group-separator", "-f --file --exclude-from", pattern_first=True)
READERS: dict[str, Spec] = {
    "cat": _spec(), "tac": _spec(), "rev": _spec(), "nl": _spec("-b -d -f -h -i -l -n -s -v -w"),
    "head": _spec("-n -c --lines --bytes"), "tail": _spec("-n -c --lines --bytes -s --sleep-interval --pid"),
    "wc": _spec(path_values="--files0-from"),
    "ls": _spec("-I --ignore -w --width --hide --format --sort --time --time-style --block-size -T --tabsize "
                "--quoting-style --indicator-style"),
    "tree": _spec("-L -P -I --charset --filelimit --timefmt --sort -H -T", bad="-o -R --fromfile"),
    "file": _spec("-m --magic-file -e --exclude -F --separator -P --parameter", "-f --files-from", "-C --compile"),
    "stat": _spec("-c --format --printf"),
    "du": _spec("-d --max-depth -B --block-size -t --threshold --time-style --exclude",
                "-X --exclude-from --files0-from"),
    "sort": _spec("-k --key -t --field-separator -S --buffer-size --parallel --batch-size", "--files0-from",
                  "-o --output -T --temporary-directory --compress-program"),
    "uniq": _spec("-f --skip-fields -s --skip-chars -w --check-chars --group --all-repeated", max_positionals=1),
    "cut": _spec("-b -c -d -f --bytes --characters --delimiter --fields --output-delimiter"),
    "diff": _spec("-U -C --unified --context -I --ignore-matching-lines -x --exclude --label -W --width -F "
                  "--show-function-line --horizon-lines --tabsize --color --palette --line-format",
                  "-X --exclude-from --from-file --to-file", "--no-dereference-x"),
    "cmp": _spec("-i --ignore-initial -n --bytes"), "comm": _spec("--output-delimiter"),
    "od": _spec("-A -j -N -t -w -S --address-radix --skip-bytes --read-bytes --format --width --strings"),
    "hexdump": _spec("-e -n -s", "-f"), "strings": _spec("-n -t -e --bytes --radix --encoding"),
    "xxd": _spec("-c -g -l -o -s -n --cols --groupsize --len --offset --seek --name", bad="-r --revert",
                 max_positionals=1),
    "md5sum": _spec(), "sha1sum": _spec(), "sha224sum": _spec(), "sha256sum": _spec(), "sha384sum": _spec(),
    "sha512sum": _spec(), "b2sum": _spec("-l --length"), "cksum": _spec("-a --algorithm -l --length"),
    "paste": _spec("-d --delimiters"), "join": _spec("-t -1 -2 -j -o -e -a -v"), "fold": _spec("-w --width"),
    "fmt": _spec("-w -g -p --width --goal --prefix"), "column": _spec("-s -c -o -N -R -H -W -E -d -t --table-columns"),
    "expand": _spec("-t --tabs"), "unexpand": _spec("-t --tabs"),
    "grep": _GREP, "egrep": _GREP, "fgrep": _GREP,
    "rg": _spec("-e --regexp -g --glob --iglob -t --type -T --type-not -m --max-count -A -B -C --context "
                "--after-context --before-context -j --threads -M --max-columns --max-depth -d --max-filesize "
                "-r --replace --colors --color --type-add --sort --sortr -E --encoding --engine "
                "--field-match-separator --field-context-separator --path-separator --context-separator",
                "-f --file --ignore-file", "--pre --pre-glob --hostname-bin", pattern_first=True),
    "realpath": _spec(paths=False), "readlink": _spec(paths=False), "basename": _spec(paths=False),
    "dirname": _spec(paths=False), "df": _spec(paths=False),
}
QUIET = {name: _spec(paths=False) for name in (
    "echo", "printf", "pwd", "true", "false", ":", "whoami", "id", "uname", "tr", "seq", "sleep", "yes", "nproc",
    "which", "type", "uptime", "free", "groups", "arch", "tty", "locale", "expr", "test", "[", "ps", "cal",
    "whereis", "lsb_release", "getconf", "logname", "users", "who", "w", "dircolors",
)}
QUIET["date"] = _spec("-d --date -I --iso-8601 --rfc-3339 -r --reference", "-f --file", "-s --set", paths=False)
QUIET["hostname"] = _spec(bad="-F --file -b --boot", paths=False, max_positionals=0)
QUIET["type"] = _spec("-t", paths=False)

def _check_reader(name: str, args: list[Word], spec: Spec, env: Env) -> Judgement:
    found = scan(args, spec)
    if found.bad:
        return _ask(f"{name} {found.bad} can write files or run programs")
    if spec.max_positionals is not None and len(found.positionals) > spec.max_positionals:
        return _ask(f"{name} with more than {spec.max_positionals} operand(s) writes or changes things")
    explicit = any(opt in ("-e", "--regexp", "-f", "--file") for opt, _ in found.options)
    paths = found.positionals
    if spec.pattern_first and not explicit and not any(w.value in ("--files", "--type-list") for w in args):
        paths = paths[1:]
    checked = [w for opt, w in found.options if opt in spec.path_values and w is not None]
    if spec.paths:
        checked += paths
    for word in checked:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"{name}: {problem}")
    recursion = _recursion(name, found)
    if recursion is not None:
        hidden, gitignore = recursion
        for word in paths or [Word(".", ".")]:
            problem = env.secret_problem(word, hidden, gitignore)
            if problem:
                return _ask(f"{name}: {problem}")
    return _ok(f"{name} is read-only")


def _recursion(name: str, found: Scan) -> tuple[bool, bool] | None:
    """(sees hidden files, honours .gitignore) when ``name`` reads directories recursively."""
    flags = set(found.flags)
    recurse_values = {(w.value or "") for opt, w in found.options if opt in ("-d", "--directories") and w}
    if name in ("grep", "egrep", "fgrep", "diff"):
        recursive = bool(flags & {"-r", "-R", "--recursive", "--dereference-recursive"}) or "recurse" in recurse_values
        return (True, False) if recursive else None
    if name == "rg":
        unrestricted = found.flags.count("-u")
        hidden = "--hidden" in flags or "-." in flags or unrestricted >= 2
        ignore = not ("--no-ignore" in flags or unrestricted >= 1)
        return hidden, ignore
    return None


FIND_RUNNERS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
FIND_WRITERS = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"})


def _find(name: str, args: list[Word], env: Env) -> Judgement:
    i = 0
    while i < len(args) and args[i].value in ("-H", "-L", "-P"):
        i += 1
    roots: list[Word] = []
    while i < len(args) and not (args[i].value or "").startswith(("-", "(", "!", ")", ",")):
        roots.append(args[i])
        i += 1
    inner: list[list[Word]] = []
    while i < len(args):
        word = args[i]
        i += 1
        if word.value is None:
            return _ask("find's expression depends on a variable or substitution")
        if word.value in FIND_RUNNERS:
            command: list[Word] = []
            while i < len(args) and args[i].value not in (";", "+"):
                command.append(Word("{}", None) if args[i].value == "{}" else args[i])
                i += 1
            i += 1
            inner.append(command)
        elif word.value in FIND_WRITERS or word.value.startswith("-fprint"):
            return _ask(f"find {word.value} writes or deletes files")
    if inner:
        return _ask("find -exec runs a command for each file", inner)
    for root in roots or [Word(".", ".")]:
        problem = env.read_problem(root)
        if problem:
            return _ask(f"find: {problem}")
    return _ok("find is read-only without -exec/-delete/-fprint")


def _sed(name: str, args: list[Word], env: Env) -> Judgement:
    spec = _spec("-e --expression -l --line-length", "", "-i --in-place -f --file")
    found = scan(args, spec)
    if found.bad:
        return _ask(f"sed {found.bad} edits files in place or runs a script file")
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


def _jq(name: str, args: list[Word], env: Env) -> Judgement:
    if any(w.value is None or "env" in w.value or "input_filename" in w.value for w in args):
        return _ask("jq program reads the environment or is not static")
    positionals: list[Word] = []
    files: list[Word] = []
    i = 0
    while i < len(args):
        value = args[i].value or ""
        if value in ("--arg", "--argjson", "--slurpfile", "--rawfile"):
            if value in ("--slurpfile", "--rawfile") and i + 2 < len(args):
                files.append(args[i + 2])
            i += 3
            continue
        if value in ("--args", "--jsonargs"):
            break
        if value in ("--indent", "-L") and i + 1 < len(args):
            i += 2
            continue
        if not value.startswith("-") or value == "-":
            positionals.append(args[i])
        i += 1
    for word in files + positionals[1:]:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"jq: {problem}")
    return _ok("jq is read-only")


def _quiet_problem(name: str, args: list[Word]) -> str | None:
    """Options of otherwise harmless builtins that evaluate array subscripts or show secrets."""
    values = [w.value for w in args]
    if name in ("test", "[") and any(v in ("-v", "-R") for v in values):
        return f"{name} -v evaluates array subscripts, which can run commands"
    if name == "printf" and any(v is not None and v.startswith("-v") for v in values):
        return "printf -v assigns a variable, whose subscript can run commands"
    if name == "ps" and any(v is not None and not v.startswith("-") and "e" in v for v in values):
        return "ps e shows other processes' environment, which may hold secrets"
    return None


def judge_reader(name: str, args: list[Word], env: Env) -> Judgement | None:
    """The verdict for a known read-only program, or None when ``name`` is not one."""
    if name in READERS:
        return _check_reader(name, args, READERS[name], env)
    if name in QUIET:
        problem = _quiet_problem(name, args)
        if problem:
            return _ask(problem)
        operands = scan(args, QUIET[name]).positionals
        if name == "date" and any(w.value and not w.value.startswith(("+", "-")) for w in operands):
            return _ask("date with an operand sets the clock")
        return _check_reader(name, args, QUIET[name], env)
    checker = {"find": _find, "sed": _sed, "jq": _jq}.get(name)
    return checker(name, args, env) if checker else None
