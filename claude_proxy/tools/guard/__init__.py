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
files); `judge_command(command, context)`
returns a `CommandVerdict` with one `PartVerdict` per part; `sandbox_argv(argv,
context)` wraps a shell command for the OS sandbox (raising `SandboxUnavailable` when
``sandbox.mode: bwrap`` cannot be honoured) and `sandbox_status(settings)` says what
it will do.
"""

from claude_proxy.tools.guard.commands import CommandVerdict, PartVerdict, judge_command
from claude_proxy.tools.guard.paths import PathDenied, check_path, workspace_roots
from claude_proxy.tools.guard.permissions import Guard
from claude_proxy.tools.guard.protected import protected_reason
from claude_proxy.tools.guard.sandbox import SandboxStatus, SandboxUnavailable, sandbox_argv, sandbox_status

__all__ = [
    "CommandVerdict", "Guard", "PartVerdict", "PathDenied", "SandboxStatus", "SandboxUnavailable",
    "check_path", "judge_command", "protected_reason", "sandbox_argv", "sandbox_status", "workspace_roots",
]
