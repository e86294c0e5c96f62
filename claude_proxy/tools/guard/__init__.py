"""The guard: paths, commands, permission rules and the OS sandbox.

Contract: `Guard(settings, mode).decide(tool, tool_input, context) -> Decision`;
`check_path(path, context, write=...)` resolves a path or raises `PathDenied`;
`judge_command(command, context)` returns a `CommandVerdict`; `sandbox_argv(argv,
context)` wraps a shell command for the OS sandbox. Stubs until the guard lands.
"""

from claude_proxy.tools.guard.commands import CommandVerdict, judge_command
from claude_proxy.tools.guard.paths import PathDenied, check_path
from claude_proxy.tools.guard.permissions import Guard
from claude_proxy.tools.guard.sandbox import sandbox_argv

__all__ = ["CommandVerdict", "Guard", "PathDenied", "check_path", "judge_command", "sandbox_argv"]
