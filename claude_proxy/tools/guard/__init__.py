"""The guard: paths, commands, permission rules and the OS sandbox.

Contract: `Guard(settings, mode).decide(tool, tool_input, context) -> Decision` (or
``await guard.decide_async(...)`` from async code, since the validators touch the file
system); ``guard.suggest_rule(tool, input, context)`` is the rule an "always" answer
should pass to ``guard.remember(rule, context)``. `check_path(path, context,
write=...)` resolves a path or raises `PathDenied`; ``paths.located`` does the same
and holds the result open (``beneath``: the walk with ``O_NOFOLLOW`` from a root's
directory fd) so the file tools do their I/O through what was checked;
`protected_reason(path, root)` says why a write could change what runs later
(``protected``: settings files, git hooks and config, editor tasks, shell start-up
files); `judge_command(command, context)` returns a `CommandVerdict` with one
`PartVerdict` per part; `prepare_command(argv, context)` wraps a shell command for the
OS sandbox with the environment it gets (raising `SandboxUnavailable` when
``sandbox.mode: bwrap`` cannot be honoured) and `sandbox_status(settings)` says what it
will do. `SandboxAwareGuard` is the `Guard` callers use: without a working sandbox it
asks for every command not proven safe.

The command validator, lowest first: `words` (a shell word's fixed value) and `shell`
(tree-sitter-bash to simple commands); `judgement` (verdicts, option allow-lists,
getopt-style scanning); the tables `options` and `gitoptions`; the checkers
`sedscript`, `awkscript`, `toolchain` (version queries) and `reach` (what a
symlink-following or glob-limited recursive read can reach); `readers` (read-only
programs), `gitcheck` (git; `gitshown` lists the files a patch would show) and
`programs` (every other program, wrappers, denials);
`view` (the workspace as the judge sees it: cd, paths, globs, redirections); and
`commands` (`judge_command`, which walks a parsed command and folds the verdicts).
`permissions` applies the rules to a verdict; `bashrules` is how they see a command: as it
runs (`run_forms`) and the closed paths its words name (`closed_word`).
"""

from claude_proxy.tools.guard.commands import CommandVerdict, PartVerdict, judge_command
from claude_proxy.tools.guard.paths import PathDenied, check_path, workspace_roots
from claude_proxy.tools.guard.permissions import Guard
from claude_proxy.tools.guard.protected import protected_reason
from claude_proxy.tools.guard.sandbox import (
    SandboxCommand,
    SandboxStatus,
    SandboxUnavailable,
    prepare_command,
    sandbox_status,
)
from claude_proxy.tools.guard.sandbox.fallback import SandboxAwareGuard

__all__ = [
    "CommandVerdict", "Guard", "PartVerdict", "PathDenied", "SandboxAwareGuard", "SandboxCommand",
    "SandboxStatus", "SandboxUnavailable", "check_path", "judge_command", "prepare_command", "protected_reason",
    "sandbox_status", "workspace_roots",
]
