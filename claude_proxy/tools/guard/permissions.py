"""The permission decision for one tool call: rules, modes, and the validators.

Order of evaluation (the first that applies wins):

1. ``deny`` rules, the path validator's refusals and the command validator's
   ``deny`` verdicts: deny, in every mode. An error inside the guard is a deny too.
   Then writes to files that run code later (`protected.runs_code_reason`:
   ``.gitmodules``, editor tasks, MCP lists, ...): ask, in every mode but ``plan``
   (which denies them), whatever the allow rules or earlier answers say.
2. ``plan`` mode: anything but read-only tools and proven-safe commands is denied
   with a reason that says so (network tools fall through to the rules).
3. ``bypassPermissions`` mode: allow.
4. ``ask`` rules: ask.
5. ``allow`` rules from settings and from this session's "always" answers; for a
   compound shell command every part must be allowed, by a rule or by being safe.
6. The mode's defaults: read-only tools and safe commands run; in ``acceptEdits``
   file edits inside the workspace (and shell redirections into it) run too; the
   rest asks.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from pathlib import Path
from typing import Any

from claude_proxy.permission_rules import (
    EDIT_TOOLS,
    READ_TOOLS,
    Rule,
    covers_tool,
    match_bash,
    match_domain,
    match_path,
    parse_rule,
    path_specifier,
    session_rules,
    settings_rules,
)
from claude_proxy.settings import Settings
from claude_proxy.tools.base import Decision, Tool, ToolContext
from claude_proxy.tools.guard.bashrules import closed_word, run_forms
from claude_proxy.tools.guard.commands import CommandVerdict, PartVerdict, judge_command
from claude_proxy.tools.guard.paths import PathDenied, check_path
from claude_proxy.tools.guard.protected import runs_code_reason

MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
SESSION_TOOLS = frozenset({"TodoWrite", "TodoRead", "Task", "Agent"})
NETWORK_TOOLS = frozenset({"WebFetch", "WebSearch"})
PATH_KEYS = {"Read": "file_path", "Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path",
             "NotebookRead": "notebook_path", "NotebookEdit": "notebook_path", "LS": "path", "Glob": "path",
             "Grep": "path"}
OPTIONAL_PATH = frozenset({"Glob", "Grep"})
INTERPRETERS = frozenset({"python", "python3", "node", "bash", "sh", "zsh", "ruby", "perl", "php", "deno", "bun"})


class _Denied(Exception):
    """Internal: a validator refused; carries the reason."""


def _path_inputs(name: str, tool_input: dict[str, Any], context: ToolContext) -> list[tuple[str, bool]]:
    """The (path, write) pairs a file tool will touch, as the model gave them."""
    key = PATH_KEYS[name]
    value = tool_input.get(key)
    write = name in EDIT_TOOLS
    if value is None and name in OPTIONAL_PATH:
        value = str(context.cwd)
    if not isinstance(value, str):
        raise _Denied(f"{name} needs '{key}' as a string")
    paths = [(value, write)]
    if name == "Glob" or (name == "Grep" and isinstance(tool_input.get("glob"), str)):
        pattern = tool_input.get("pattern" if name == "Glob" else "glob")
        if isinstance(pattern, str):
            if ".." in Path(pattern).parts:
                raise _Denied(f"{name} patterns may not climb out with '..': {pattern}")
            if os.path.isabs(pattern) or pattern.startswith("~"):
                static = pattern.split("*")[0].split("?")[0].split("[")[0].split("{")[0]
                paths.append((os.path.dirname(static) or "/", False))
    return paths


class Guard:
    """Decides allow / ask / deny for one tool call from settings, mode and session rules."""

    def __init__(self, settings: Settings | None = None, mode: str | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        permissions = self.settings.permissions
        self.mode = "default"
        self.set_mode(mode or permissions.default_mode)
        self.deny_rules = settings_rules(permissions, "deny")
        self.ask_rules = settings_rules(permissions, "ask")
        self.allow_rules = settings_rules(permissions, "allow")

    def set_mode(self, mode: str) -> None:
        """Switch modes mid-session (e.g. the chat loop's mode toggle); unknown names raise ValueError."""
        if mode not in MODES:
            raise ValueError(f"unknown permission mode {mode!r}; use one of: {', '.join(MODES)}")
        self.mode = mode

    # -- rules -------------------------------------------------------------

    def _allow_rules(self, context: ToolContext) -> list[Rule]:
        return self.allow_rules + session_rules(context.session.session_allow)

    def _matches(self, rule: Rule, name: str, tool_input: dict[str, Any], context: ToolContext,
                 paths: list[Path], command: str | None = None) -> bool:
        """Whether ``rule`` covers this call (for Bash: the one part ``command``)."""
        if not covers_tool(rule, name):
            return False
        if rule.specifier is None:
            return True
        if name == "Bash":
            return command is not None and match_bash(rule.specifier, command)
        if name in READ_TOOLS or name in EDIT_TOOLS:
            cwd = Path(os.path.realpath(str(context.cwd)))
            return bool(paths) and all(match_path(rule.specifier, p, cwd) for p in paths)
        if name == "WebFetch":
            return any(match_domain(rule.specifier, host) for host in fetched_hosts(str(tool_input.get("url", ""))))
        return False

    def _first(self, rules: list[Rule], name: str, tool_input: dict[str, Any], context: ToolContext,
               paths: list[Path], commands: list[str]) -> Rule | None:
        for rule in rules:
            if name == "Bash" and rule.specifier is not None:
                if any(self._matches(rule, name, tool_input, context, paths, c) for c in commands):
                    return rule
            elif self._matches(rule, name, tool_input, context, paths):
                return rule
        return None

    # -- the decision ------------------------------------------------------

    def decide(self, tool: Tool, tool_input: object, context: ToolContext) -> Decision:
        """allow / ask / deny for one call, with a reason the user and the model can read.

        Never raises: a failure inside a validator is a deny that names it.
        """
        try:
            return self._decide(tool, tool_input, context)
        except Exception as exc:  # the guard's edge: an error is a refusal, never a crash or an allow
            return Decision("deny", f"the guard could not judge this call ({type(exc).__name__}: {exc}); refused")

    def _decide(self, tool: Tool, tool_input: object, context: ToolContext) -> Decision:
        name = tool.name
        if not isinstance(tool_input, dict):
            return Decision("deny", f"{name} input must be a JSON object")
        try:
            paths = self._check_paths(name, tool_input, context)
        except _Denied as exc:
            return Decision("deny", str(exc))
        verdict: CommandVerdict | None = None
        commands: list[str] = []
        if name == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                return Decision("deny", "Bash needs 'command' as a string")
            verdict = judge_command(command, context)
            parts = [p for p in verdict.parts if p.kind == "command"]
            # Deny and ask rules see each part as written and as run: quotes removed, the program by
            # its name ('/bin/rm', r""m), and without the options before its subcommand (git -C . push).
            commands = list(dict.fromkeys([command, *(p.command for p in parts),
                                           *(form for p in parts for form in run_forms(p.words))]))
            if verdict.behavior == "deny":
                return Decision("deny", f"blocked: {verdict.reason}")
        rule = self._first(self.deny_rules, name, tool_input, context, paths, commands)
        if rule:
            return Decision("deny", f"denied by the permission rule {rule}")
        if verdict is not None:
            closed = closed_word(verdict.parts, context)
            if closed:
                return Decision("deny", f"blocked: {closed}")
        runs_code = next((r for r in map(runs_code_reason, paths) if r), None) if name in EDIT_TOOLS else None
        if runs_code and self.mode != "plan":
            return Decision("ask", f"{runs_code}; changing it is always asked about, in every mode")
        return self._by_mode(tool, tool_input, context, paths, verdict, commands)

    def _check_paths(self, name: str, tool_input: dict[str, Any], context: ToolContext) -> list[Path]:
        if name not in PATH_KEYS:
            return []
        resolved = []
        for path, write in _path_inputs(name, tool_input, context):
            try:
                resolved.append(check_path(path, context, write=write))
            except PathDenied as exc:
                raise _Denied(str(exc)) from None
        return resolved

    def _by_mode(self, tool: Tool, tool_input: dict[str, Any], context: ToolContext, paths: list[Path],
                 verdict: CommandVerdict | None, commands: list[str]) -> Decision:
        name = tool.name
        read_only = name in READ_TOOLS or name in SESSION_TOOLS
        safe = read_only or (verdict is not None and verdict.behavior == "allow")
        if self.mode == "plan" and not safe and name not in NETWORK_TOOLS:
            return Decision("deny", f"plan mode: only read-only tools run, so {tool.summary(tool_input)} "
                                    "is not allowed; present the plan instead")
        if self.mode == "bypassPermissions":
            return Decision("allow", "bypassPermissions mode")
        rule = self._first(self.ask_rules, name, tool_input, context, paths, commands)
        if rule:
            return Decision("ask", f"the permission rule {rule} asks for confirmation")
        if self.mode == "plan" and safe:
            return Decision("allow", "read-only" if verdict is None else verdict.reason)
        allow = self._allow_rules(context)
        if verdict is not None:
            return self._bash(verdict, allow)
        rule = self._first(allow, name, tool_input, context, paths, [])
        if rule:
            return Decision("allow", f"allowed by the permission rule {rule}")
        if read_only:
            return Decision("allow", "read-only tool")
        if self.mode == "acceptEdits" and name in EDIT_TOOLS:
            return Decision("allow", "acceptEdits mode: file edits inside the workspace run")
        if name in NETWORK_TOOLS:
            return Decision("ask", f"{tool.summary(tool_input)} reaches the network")
        if name in EDIT_TOOLS:
            return Decision("ask", f"{tool.summary(tool_input)} changes files")
        if name.startswith("mcp__"):
            server = name[5:].split("__")[0]
            return Decision("ask", f"{name} is a tool of the MCP server {server}; allow it with the rule {name} "
                                   f"or mcp__{server}")
        return Decision("ask", f"{name} is not a tool the guard knows to be safe")

    def _bash(self, verdict: CommandVerdict, allow: list[Rule]) -> Decision:
        if verdict.behavior != "allow" and all(part.behavior == "allow" for part in verdict.parts):
            return Decision("ask", verdict.reason)  # not proven safe, and no part says why: never an allow
        if any(part.kind == "failure" for part in verdict.parts):
            return Decision("ask", verdict.reason)  # never judged: no rule, not even Bash, approves it
        for blanket in allow:
            if blanket.tool == "Bash" and blanket.specifier is None:
                return Decision("allow", f"allowed by the permission rule {blanket}")
        pending: list[PartVerdict] = []
        used: list[str] = []
        for part in verdict.parts:
            if part.behavior == "allow":
                continue
            if part.kind == "redirect" and self.mode == "acceptEdits":
                continue
            rule: Rule | None = None
            if part.kind == "command":
                rule = next((r for r in allow if r.tool == "Bash" and r.specifier
                             and (match_bash(r.specifier, part.command))), None)
            if rule is not None:
                used.append(str(rule))
                continue
            pending.append(part)
        if not pending:
            if used:
                return Decision("allow", "allowed by " + ", ".join(dict.fromkeys(used)))
            return Decision("allow", verdict.reason)
        reasons = list(dict.fromkeys(p.reason for p in pending))
        return Decision("ask", "; ".join(reasons[:3]))

    async def decide_async(self, tool: Tool, tool_input: object, context: ToolContext) -> Decision:
        """`decide` in a worker thread: the validators stat files and expand globs."""
        return await asyncio.to_thread(self.decide, tool, tool_input, context)

    # -- "always" answers ----------------------------------------------------

    def remember(self, rule: str, context: ToolContext) -> None:
        """Allow ``rule`` (e.g. ``Bash(npm test:*)``) for the rest of the session."""
        parse_rule(rule)
        if rule not in context.session.session_allow:
            context.session.session_allow.append(rule)

    def suggest_rules(self, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> list[str]:
        """The rules an "always allow" answer should remember so this call runs next time."""
        name = tool.name
        if name == "Bash":
            command = str(tool_input.get("command", ""))
            verdict = judge_command(command, context)
            rules = [_bash_rule(p.command) for p in verdict.parts
                     if p.kind == "command" and p.behavior == "ask"]
            return list(dict.fromkeys(r for r in rules if r)) or [f"Bash({command.strip()})"]
        if name in PATH_KEYS:
            try:
                paths = self._check_paths(name, tool_input, context)
            except _Denied:
                return []
            cwd = Path(os.path.realpath(str(context.cwd)))
            family = "Edit" if name in EDIT_TOOLS else "Read"
            specs = []
            for path in paths[:1]:
                directory = path if path.is_dir() else path.parent
                spec = path_specifier(directory, cwd)
                specs.append(f"{family}({spec.rstrip('/')}/**)" if spec != "./**" else f"{family}(./**)")
            return specs
        if name == "WebFetch":
            hosts = fetched_hosts(str(tool_input.get("url", "")))
            return [f"WebFetch(domain:{hosts[0]})"] if hosts else []
        return [name]

    def suggest_rule(self, tool: Tool, tool_input: dict[str, Any], context: ToolContext | None = None) -> str:
        """One rule string for an "always" answer (the first of `suggest_rules`)."""
        context = context or ToolContext(cwd=Path.cwd())
        rules = self.suggest_rules(tool, tool_input, context)
        return rules[0] if rules else tool.name


def fetched_hosts(url: str) -> list[str]:
    """The host WebFetch would reach, read as its client reads it (yarl: look-alike dots and letters
    folded, ``evil。com`` is evil.com), in Unicode and in IDNA form; none for a URL it cannot read."""
    from yarl import URL

    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return []
    hosts = [host.rstrip(".").lower() for host in (parsed.host, parsed.raw_host) if host]
    return list(dict.fromkeys(hosts))


def _bash_rule(command: str) -> str | None:
    """``npm run test -- -x`` becomes ``Bash(npm run test:*)``; interpreters stay exact."""
    try:
        words = shlex.split(command)
    except ValueError:
        return f"Bash({command.strip()})"
    if not words:
        return None
    if os.path.basename(words[0]) in INTERPRETERS or "/" in words[0]:
        return f"Bash({' '.join(words)})"
    prefix = [words[0]]
    for word in words[1:3]:
        if not re.fullmatch(r"[A-Za-z][\w:-]*", word) or (len(prefix) == 2 and prefix[1] != "run"):
            break
        prefix.append(word)
    return f"Bash({' '.join(prefix)}:*)"
