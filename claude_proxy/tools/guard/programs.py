"""What each known program may do: the per-command half of the command validator.

`judge_program(name, args, env)` returns a `Judgement`. Only the read-only programs
of `readers` (with the option tables of `options`), git (`gitcheck`), version queries
(`toolchain`) and ``cd`` inside the workspace can be ``allow``; wrappers, shells,
``eval``, ``xargs`` and ``find -exec`` hand back the command (or script) they would
run so the caller judges it too. The deny list covers
privilege escalation, disk formatting, power control, removal outside the workspace
and writes to devices.
"""

from __future__ import annotations

from claude_proxy.tools.guard.gitcheck import judge_git
from claude_proxy.tools.guard.judgement import Env, Judgement, long_matches, scan
from claude_proxy.tools.guard.judgement import ask as _ask
from claude_proxy.tools.guard.judgement import deny as _deny
from claude_proxy.tools.guard.judgement import ok as _ok
from claude_proxy.tools.guard.judgement import spec as _spec
from claude_proxy.tools.guard.readers import judge_reader
from claude_proxy.tools.guard.shell import Word
from claude_proxy.tools.guard.toolchain import VERSION_FLAGS, version_query_problem

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


def judge_program(name: str, args: list[Word], env: Env) -> Judgement:
    """The verdict on one program invocation (``name`` is the bare command name)."""
    if name in ESCALATION:
        return _deny(f"{name} runs commands as another user")
    if name.startswith("mkfs") or name in DISK:
        return _deny(f"{name} formats or repartitions disks")
    if name in POWER:
        return _deny(f"{name} shuts down or reboots the machine")
    if len(args) == 1 and args[0].value in VERSION_FLAGS.get(name, ()):
        problem = version_query_problem(name, [args[0].value], env.cwd, env.roots)
        return _ask(problem) if problem else _ok(f"{name} {args[0].text} only prints its version")
    judged = judge_reader(name, args, env)
    if judged is not None:
        return judged
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
    while i < len(args):
        option = args[i].value
        if option is None or not option.startswith("-") or option == "-":
            break
        i += 1
        if option == "--":
            break
        if name == "env" and (option.startswith("-S") or long_matches(option, frozenset({"--split-string"}))):
            return _ask("env -S splits a string into a command, which is not analysed")
        if option in values:
            i += 1
    if name == "env":
        while i < len(args) and "=" in (args[i].value or ""):
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


def _xargs(name: str, args: list[Word], env: Env) -> Judgement:
    values = frozenset({"-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "--max-lines", "-n", "--max-args",
                        "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var"})
    found = scan(args, _spec(" ".join(values)), stop_at_positional=True)
    inner = found.positionals or [Word("echo", "echo")]
    return _ask("xargs runs a command with arguments from its input", [inner + [Word("<input>", None)]])


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


_SPECIAL = {
    "git": lambda name, args, env: judge_git(args, env), "xargs": _xargs,
    "eval": _eval, "source": _source, ".": _source,
    "cd": _cd, "pushd": _cd, "popd": _cd, "tee": _tee, "dd": _dd,
    "systemctl": _systemctl, "init": _systemctl, "telinit": _systemctl, "loginctl": _systemctl,
    "kill": _kill, "pkill": _kill, "killall": _kill,
}

