"""Without the sandbox, ask: the guard for machines where bubblewrap cannot run.

The sandbox is what makes a "yes" (or an allow rule, acceptEdits' redirections,
bypassPermissions) safe to give to a shell command. With ``sandbox.mode: auto`` and
no working bubblewrap, `SandboxAwareGuard` turns every such allow of a command that
is not proven safe into a question that says why. ``sandbox.mode: off`` is the
user's explicit choice and changes nothing.
"""

from __future__ import annotations

from claude_proxy.tools.base import Decision, Tool, ToolContext
from claude_proxy.tools.guard.commands import judge_command
from claude_proxy.tools.guard.permissions import Guard
from claude_proxy.tools.guard.sandbox import sandbox_status


class SandboxAwareGuard(Guard):
    """`Guard`, except that unsandboxed shell commands run unasked only when proven safe."""

    def decide(self, tool: Tool, tool_input: object, context: ToolContext) -> Decision:
        decision = super().decide(tool, tool_input, context)
        if decision.behavior != "allow" or tool.name != "Bash" or not isinstance(tool_input, dict):
            return decision
        status = sandbox_status(self.settings)
        if status.active or status.mode != "auto":
            return decision
        verdict = judge_command(str(tool_input.get("command", "")), context)
        if verdict.behavior == "allow":
            return decision
        return Decision("ask", f"no OS sandbox here ({status.message}), so a command that is not proven "
                               f"safe is asked about: {verdict.reason}")
