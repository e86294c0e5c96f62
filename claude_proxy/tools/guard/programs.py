"""What each known program may do: the per-command half of the command validator.

`judge_program(name, args, env)` returns a `Judgement`. Only programs listed here can
be ``allow``, and only with options that keep them read-only and paths that stay in
the workspace; wrappers, shells, ``eval``, ``xargs`` and ``find -exec`` hand back the
command (or script) they would run so the caller judges it too. The deny list covers
privilege escalation, disk formatting, power control, removal outside the workspace
and writes to devices.
"""

from __future__ import annotations

from claude_proxy.tools.guard.gitcheck import judge_git
from claude_proxy.tools.guard.judgement import Env, Judgement, Spec, long_matches, scan
from claude_proxy.tools.guard.judgement import ask as _ask
from claude_proxy.tools.guard.judgement import deny as _deny
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
    "du": _spec("-d --max-depth -B --block-size -t --threshold --time-style --exclude", "-X --exclude-from --files0-from"),
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
    "whereis", "lsb_release", "getconf", "jobs", "wait", "logname", "users", "who", "w", "dircolors",
)}
QUIET["date"] = _spec("-d --date -I --iso-8601 --rfc-3339 -r --reference", "-f --file", "-s --set", paths=False)
QUIET["hostname"] = _spec(bad="-F --file -b --boot", paths=False, max_positionals=0)
QUIET["type"] = _spec("-t", paths=False)

ESCALATION = frozenset({"sudo", "su", "doas", "pkexec", "run0", "sudoedit", "calife", "ksu"})
DISK = frozenset({"mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "cfdisk", "parted", "gdisk", "sgdisk",
                  "blkdiscard", "mkdosfs", "mkntfs"})
POWER = frozenset({"shutdown", "reboot", "halt", "poweroff", "kexec"})
SYSTEMCTL_POWER = frozenset({"poweroff", "reboot", "halt", "kexec", "suspend", "hibernate", "hybrid-sleep",
                             "rescue", "emergency", "soft-reboot"})
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "lwp-request", "lwp-download"})
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "ash", "busybox"})
INTERPRETERS = SHELLS | frozenset({"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua",
                                   "pwsh", "deno", "bun", "source", ".", "eval", "osascript"})
REMOVERS = {"rm": _spec("--interactive --preserve-root"), "rmdir": _spec(), "unlink": _spec(),
            "shred": _spec("-n -s --iterations --size --random-source"), "truncate": _spec("-s --size -r --reference")}
OWNERS = {"chmod": _spec("--reference"), "chown": _spec("--reference --from"), "chgrp": _spec("--reference")}
COPIERS = {"cp": _spec("-S --suffix --backup --sparse --reflink --preserve --no-preserve", "-t --target-directory"),
           "mv": _spec("-S --suffix --backup", "-t --target-directory"),
           "ln": _spec("-S --suffix --backup", "-t --target-directory"),
           "install": _spec("-m --mode -o --owner -g --group -S --suffix --backup", "-t --target-directory")}

# Wrappers: options that take a value, flags, and how many positionals precede the command.
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "nohup": (frozenset(), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "setsid": (frozenset(), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "--pid"}), 0),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset(), 1),
    "unbuffer": (frozenset(), 0),
    "command": (frozenset(), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
}


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
    return _ok(f"{name} is read-only")


def judge_program(name: str, args: list[Word], env: Env) -> Judgement:
    """The verdict on one program invocation (``name`` is the bare command name)."""
    if name in ESCALATION:
        return _deny(f"{name} runs commands as another user")
    if name.startswith("mkfs") or name in DISK:
        return _deny(f"{name} formats or repartitions disks")
    if name in POWER:
        return _deny(f"{name} shuts down or reboots the machine")
    if name in READERS:
        return _check_reader(name, args, READERS[name], env)
    if name in QUIET:
        if name == "date" and any(w.value and not w.value.startswith(("+", "-")) for w in scan(args, QUIET[name]).positionals):
            return _ask("date with an operand sets the clock")
        return _check_reader(name, args, QUIET[name], env)
    checker = _SPECIAL.get(name)
    if checker is not None:
        return checker(name, args, env)
    if name in WRAPPERS:
        return _wrapper(name, args, env)
    if name in SHELLS:
        return _shell(name, args)
    if name in REMOVERS or name in OWNERS:
        return _remover(name, args, env)
    if name in COPIERS:
        return _copier(name, args, env)
    return _ask(f"{name} is not a known read-only command")


def _wrapper(name: str, args: list[Word], env: Env) -> Judgement:
    values, leading = WRAPPERS[name]
    if name == "command" and any(w.value in ("-v", "-V") for w in args[:1]):
        return _ok("command -v only looks a command up")
    i = 0
    while i < len(args) and args[i].value is not None and args[i].value.startswith("-") and args[i].value != "-":
        option = args[i].value
        i += 1
        if option == "--":
            break
        if name == "env" and (option.startswith("-S") or long_matches(option, frozenset({"--split-string"}))):
            return _ask("env -S splits a string into a command, which is not analysed")
        if option in values:
            i += 1
    if name == "env":
        while i < len(args) and args[i].value is not None and "=" in args[i].value:
            i += 1
    i += leading
    inner = args[i:]
    if not inner:
        if name == "env":
            return _ask("env prints the environment, which may hold secrets")
        return _ask(f"{name} without a command to run")
    return _ask(f"{name} runs another command", [inner])


def _shell(name: str, args: list[Word]) -> Judgement:
    for index, word in enumerate(args):
        value = word.value
        if value is None:
            return _ask(f"{name} gets an argument from a variable or substitution")
        if value.startswith("-") and not value.startswith("--") and "c" in value[1:]:
            script = args[index + 1] if index + 1 < len(args) else None
            if script is None or script.value is None:
                return _ask(f"{name} -c runs a script that is not static")
            return _ask(f"{name} -c runs a shell script", script=script.value)
        if not value.startswith("-") and not value.startswith("+"):
            return _ask(f"{name} runs the script file {value}")
    return _ask(f"{name} reads commands from its input")


def _eval(name: str, args: list[Word], env: Env) -> Judgement:
    if any(w.value is None for w in args):
        return _ask(f"{name} runs text built from variables or substitutions")
    return _ask(f"{name} runs its arguments as shell code", script=" ".join(w.value or "" for w in args))


def _source(name: str, args: list[Word], env: Env) -> Judgement:
    return _ask(f"{name} runs a shell file in the current shell")


def _printenv(name: str, args: list[Word], env: Env) -> Judgement:
    return _ask(f"{name} prints environment variables, which may hold secrets")


def _xargs(name: str, args: list[Word], env: Env) -> Judgement:
    values = frozenset({"-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "--max-lines", "-n", "--max-args",
                        "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var"})
    found = scan(args, _spec(" ".join(values)), stop_at_positional=True)
    inner = found.positionals or [Word("echo", "echo")]
    return _ask("xargs runs a command with arguments from its input", [inner + [Word("<input>", None)]])


FIND_RUNNERS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
FIND_WRITERS = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"})


def _find(name: str, args: list[Word], env: Env) -> Judgement:
    i = 0
    while i < len(args) and args[i].value in ("-H", "-L", "-P"):
        i += 1
    roots: list[Word] = []
    while i < len(args) and (args[i].value is None or not args[i].value.startswith(("-", "(", "!", ")", ","))):
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
    scripts = [w for opt, w in found.options if opt in ("-e", "--expression")]
    files = found.positionals
    if not scripts:
        if not files:
            return _ask("sed without a script")
        scripts, files = files[:1], files[1:]
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


def _cd(name: str, args: list[Word], env: Env) -> Judgement:
    if name == "popd" or len(args) > 1:
        env.change_dir(Word("-", None))
        return _ask(f"{name} changes to a directory that is not known here")
    problem = env.change_dir(args[0] if args else None)
    if problem:
        return _ask(f"{name}: {problem}")
    return _ok(f"{name} stays inside the workspace")


def _remover(name: str, args: list[Word], env: Env) -> Judgement:
    spec = REMOVERS.get(name) or OWNERS[name]
    found = scan(args, spec)
    targets = found.positionals
    if name in OWNERS and not any(opt == "--reference" for opt, _ in found.options):
        targets = targets[1:]
    if not targets:
        return _ask(f"{name} without operands")
    asks: list[str] = []
    for word in targets:
        verdict = env.removal_problem(word)
        if verdict and verdict.behavior == "deny":
            return _deny(f"{name}: {verdict.reason}")
        if verdict:
            asks.append(verdict.reason)
    action = "removes files" if name in REMOVERS else "changes permissions or owners"
    return _ask(f"{name} {action}" + (f" ({asks[0]})" if asks else ""))


def _copier(name: str, args: list[Word], env: Env) -> Judgement:
    found = scan(args, COPIERS[name])
    targets = [w for opt, w in found.options if opt in ("-t", "--target-directory") and w is not None]
    if name == "mv":
        targets += found.positionals
    elif not targets and found.positionals:
        targets.append(found.positionals[-1])
    for word in targets:
        verdict = env.write_problem(word)
        if verdict and verdict.behavior == "deny":
            return _deny(f"{name}: {verdict.reason}")
    return _ask(f"{name} creates or changes files")


def _tee(name: str, args: list[Word], env: Env) -> Judgement:
    found = scan(args, _spec("--output-error"))
    for word in found.positionals:
        verdict = env.write_problem(word)
        if verdict and verdict.behavior == "deny":
            return _deny(f"tee: {verdict.reason}")
    if not found.positionals:
        return _ok("tee without files only copies its input")
    return _ask("tee writes files")


def _dd(name: str, args: list[Word], env: Env) -> Judgement:
    for word in args:
        if word.value is not None and word.value.startswith("of="):
            target = word.value[3:]
            if target.startswith("/dev/") and target not in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                return _deny(f"dd writes to the device {target}")
            verdict = env.write_problem(Word(target, target))
            if verdict and verdict.behavior == "deny":
                return _deny(f"dd: {verdict.reason}")
        elif word.value is None:
            return _ask("dd with an operand from a variable or substitution")
    return _ask("dd copies raw data")


def _systemctl(name: str, args: list[Word], env: Env) -> Judgement:
    if any(w.value in SYSTEMCTL_POWER for w in args):
        return _deny(f"{name} powers off, reboots or suspends the machine")
    if name in ("init", "telinit") and any(w.value in ("0", "6") for w in args):
        return _deny(f"{name} 0/6 halts or reboots the machine")
    return _ask(f"{name} controls system services")


def _kill(name: str, args: list[Word], env: Env) -> Judgement:
    if name == "kill" and any(w.value == "-1" for w in args[1:]) or [w.value for w in args] == ["-1"]:
        return _deny("kill -1 signals every process the user owns")
    return _ask(f"{name} signals processes")


def _jq(name: str, args: list[Word], env: Env) -> Judgement:
    if any(w.value is None or "env" in w.value or "input_filename" in w.value for w in args):
        return _ask("jq program reads the environment or is not static")
    found = scan(args, _spec("--indent --arg --argjson --slurpfile --rawfile --args --jsonargs"))
    for word in found.positionals[1:]:
        problem = env.read_problem(word)
        if problem:
            return _ask(f"jq: {problem}")
    return _ok("jq is read-only")


_SPECIAL = {
    "git": lambda name, args, env: judge_git(args, env), "sed": _sed, "find": _find, "xargs": _xargs,
    "eval": _eval, "source": _source, ".": _source, "printenv": _printenv,
    "cd": _cd, "pushd": _cd, "popd": _cd, "tee": _tee, "dd": _dd,
    "systemctl": _systemctl, "init": _systemctl, "telinit": _systemctl, "loginctl": _systemctl,
    "kill": _kill, "pkill": _kill, "killall": _kill, "jq": _jq,
}

